"""The service report per organization: time to first action, time to decision, share within
target, escalations; on the report page and as CSV (web and command line)."""
from __future__ import annotations

import csv
import datetime
import io
import uuid

import pytest

import ckan.model as model
from ckan.tests import factories, helpers

from ckanext.dgaaccounts.model import AuditEvent, Escalation, Request
from ckanext.dgaaccounts.tests.conftest import dga_cli

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.ckan_config("ckan.display_timezone", "Asia/Bangkok"),
    pytest.mark.usefixtures("with_plugins", "clean_db"),
]

HOUR = datetime.timedelta(hours=1)
FEB = {"since": "2026-02-01", "until": "2026-02-28"}


def decided(org: dict | None, submitted: datetime.datetime, hours: float,
            kind: str = "agency_registration", first_action: float | None = None,
            decider: str | None = None) -> Request:
    user = factories.User()
    req = Request(
        reference=f"DGA-2026-{uuid.uuid4().hex[:6]}", kind=kind, state="approved",
        user_id=user["id"], email=f"{uuid.uuid4().hex[:8]}@dga.or.th", details={}, locale="th",
        organization_id=org["id"] if org else None, created=submitted - HOUR, updated=submitted,
        submitted=submitted, due=submitted + 24 * HOUR, decided=submitted + hours * HOUR,
        decided_by=decider,
    )
    model.Session.add(req)
    model.Session.flush()
    if first_action is not None:  # an organization admin's endorsement, before the decision
        model.Session.add(AuditEvent(action="endorse", actor_id=decider, request_id=req.id,
                                     target_user_id=req.user_id,
                                     created=submitted + first_action * HOUR, details={}))
    # the applicant's own upload and the clock's escalation are nobody's action on it
    model.Session.add(AuditEvent(action="upload_document", actor_id=req.user_id,
                                 request_id=req.id, created=submitted, details={}))
    model.Session.add(AuditEvent(action="approve", actor_id=decider, request_id=req.id,
                                 target_user_id=req.user_id, created=req.decided, details={}))
    model.Session.commit()
    return req


def escalated(req: Request, at: datetime.datetime) -> None:
    model.Session.add(Escalation(request_id=req.id, clock_start=req.submitted, threshold=at,
                                 escalated=at, reason="threshold",
                                 organization_id=req.organization_id))
    model.Session.commit()


@pytest.fixture
def world():
    admin = factories.Sysadmin(name="report_admin")
    a = factories.Organization(name="dept-a", title="กรม ก")
    b = factories.Organization(name="dept-b", title="กรม ข")
    day = datetime.datetime(2026, 2, 10, 2)  # 09:00 in Bangkok
    slow = decided(a, day, 30, first_action=20, decider=admin["id"])
    decided(a, day, 2, first_action=0.5, decider=admin["id"])
    decided(a, day, 4, decider=admin["id"])  # no endorsement: the decision is the first action
    decided(b, day, 1, decider=admin["id"])
    decided(None, day, 10, kind="cancellation", decider=admin["id"])
    decided(b, datetime.datetime(2026, 3, 10), 1, decider=admin["id"])  # outside the range
    escalated(slow, day + 19.2 * HOUR)
    return {"admin": admin, "a": a, "b": b}


def by_name(report: dict) -> dict:
    return {o["name"]: o for o in report["organizations"]}


@pytest.mark.usefixtures("with_request_context")
def test_figures_per_organization(world):
    report = helpers.call_action("dgaaccounts_sla_report", **FEB)
    orgs = by_name(report)
    a, b, none = orgs["dept-a"], orgs["dept-b"], orgs[None]
    assert [o["name"] for o in report["organizations"]] == ["dept-a", "dept-b", None]
    assert (a["decided"], a["within_target"]) == (3, 2)
    assert a["within_target_share"] == pytest.approx(2 / 3)
    # first actions: 20 h, 0.5 h, and the decision at 4 h -> median 4 h
    assert a["first_action_median_seconds"] == pytest.approx(4 * 3600)
    assert a["median_seconds"] == pytest.approx(4 * 3600)
    assert a["p90_seconds"] == pytest.approx((4 + 0.8 * 26) * 3600)
    assert a["escalations"] == 1
    assert a["title"] == "กรม ก"
    assert (b["decided"], b["within_target_share"], b["escalations"]) == (1, 1.0, 0)
    assert b["first_action_median_seconds"] == pytest.approx(3600)
    assert (none["decided"], none["title"]) == (1, None)


@pytest.mark.usefixtures("with_request_context")
def test_developer_only_report_has_no_organizations(world):
    report = helpers.call_action("dgaaccounts_sla_report", kind="developer_registration", **FEB)
    assert report["organizations"] == []


def test_report_page_shows_the_table_and_links_the_csv(world, app):
    token = factories.APIToken(user="report_admin")["token"]
    page = app.get("/ckan-admin/dgaaccounts/report", query_string=FEB,
                   headers={"Authorization": token})
    assert page.status_code == 200
    table = page.body.split('id="dgaaccounts-sla-organizations"')[1].split("</table>")[0]
    row_a = table.split('data-organization="dept-a"')[1].split("</tr>")[0]
    assert "กรม ก" in row_a
    assert "2 (66.7%)" in row_a.replace("&nbsp;", " ")
    assert "Requests with no organization" in table
    assert "cancellations, suspensions)" not in table
    assert "/ckan-admin/dgaaccounts/export/organizations.csv?since=2026-02-01" in page.body


def test_csv_export_over_the_web(world, app):
    token = factories.APIToken(user="report_admin")["token"]
    resp = app.get("/ckan-admin/dgaaccounts/export/organizations.csv", query_string=FEB,
                   headers={"Authorization": token})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert 'filename="dgaaccounts-organizations-2026-02-01-2026-02-28.csv"' in resp.headers[
        "Content-Disposition"]
    assert resp.body.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(resp.body.lstrip("\ufeff"))))
    a = next(r for r in rows if r["organization"] == "dept-a")
    assert a == {
        "organization": "dept-a", "organization_title": "กรม ก", "approval_mode": "central",
        "since": "2026-02-01",
        "until": "2026-02-28", "timezone": "Asia/Bangkok", "decided": "3",
        "within_target": "2", "within_target_percent": "66.7",
        "hours_to_first_action_median": "4.00", "hours_to_decision_median": "4.00",
        "hours_to_decision_p90": "24.80", "escalations": "1", "awaiting_decision": "0",
        "overdue": "0"}
    assert len(rows) == 3


def test_csv_export_refuses_others(world, app):
    user = factories.User()
    token = factories.APIToken(user=user["name"])["token"]
    resp = app.get("/ckan-admin/dgaaccounts/export/organizations.csv",
                   headers={"Authorization": token}, status=403)
    assert "dept-a" not in resp.body


def test_bad_range_is_explained_not_a_500(world, app):
    token = factories.APIToken(user="report_admin")["token"]
    resp = app.get("/ckan-admin/dgaaccounts/export/organizations.csv",
                   query_string={"since": "2026-03-01", "until": "2026-02-01"},
                   headers={"Authorization": token})
    assert resp.status_code == 200
    assert "The end of the range comes before its start." in resp.body


@pytest.mark.usefixtures("with_request_context")
def test_csv_export_from_the_command_line(world, cli, tmp_path):
    out = tmp_path / "orgs.csv"
    result = dga_cli(cli, "export", "organizations", "--since", "2026-02-01",
                     "--until", "2026-02-28", "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8").lstrip("\ufeff"))))
    assert [r["organization"] for r in rows] == ["dept-a", "dept-b", ""]
    bad = dga_cli(cli, "export", "organizations", "--since", "someday")
    assert bad.exit_code != 0
    assert "since" in bad.output


@pytest.mark.usefixtures("with_request_context")
def test_an_account_change_of_a_member_of_one_organization_counts_there(world):
    """Since the approval modes, a cancellation or a suspension of a member of exactly one
    organization carries it (approval.organization_for_account): it counts in that row, and the
    blank row holds only the requests with no organization."""
    member = factories.User()
    helpers.call_action("member_create", id=world["b"]["id"], object=member["id"],
                        object_type="user", capacity="editor")
    context = {"user": member["name"], "ignore_auth": True}
    made = helpers.call_action("dgaaccounts_cancellation_request_create", context,
                               kind="suspension", reason="ลาศึกษาต่อ")
    assert made["organization_id"] == world["b"]["id"]
    req = model.Session.get(Request, made["id"])
    req.state, req.decided_by = "approved", world["admin"]["id"]
    req.submitted = datetime.datetime(2026, 2, 11, 2)
    req.decided, req.due = req.submitted + 2 * HOUR, req.submitted + 24 * HOUR
    model.Session.commit()
    orgs = by_name(helpers.call_action("dgaaccounts_sla_report", **FEB))
    assert orgs["dept-b"]["decided"] == 2
    assert orgs[None]["decided"] == 1  # the cancellation of world, made with no organization
    only = by_name(helpers.call_action("dgaaccounts_sla_report", kind="suspension", **FEB))
    assert list(only) == ["dept-b"]
