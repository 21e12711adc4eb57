"""The sysadmins' service report, audit log and CSV export pages, through CKAN's test app."""
from __future__ import annotations

import csv
import datetime
import io
import re
import uuid

import polib
import pytest

import ckan.model as model
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import maintenance, storage, workflow
from ckanext.dgaaccounts.model import Document, Request, utcnow
from ckanext.dgaaccounts.tests.conftest import PDF
from ckanext.dgaaccounts.tests.test_i18n import PO

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db"),
]

PAGES = ("/ckan-admin/dgaaccounts/report", "/ckan-admin/dgaaccounts/audit",
         "/ckan-admin/dgaaccounts/export/requests.csv", "/ckan-admin/dgaaccounts/export/audit.csv")


@pytest.fixture
def sysadmin():
    admin = factories.Sysadmin(name="admin_pages")
    return {"Authorization": factories.APIToken(user=admin["name"])["token"]}


def decided(submitted: datetime.datetime, hours: float, kind: str = "agency_registration",
            state: str = "approved") -> Request:
    user = factories.User()
    req = Request(
        reference=f"DGA-2026-{uuid.uuid4().hex[:6]}", kind=kind, state=state,
        user_id=user["id"], email=f"{uuid.uuid4().hex[:8]}@dga.or.th", details={}, locale="th",
        created=submitted - datetime.timedelta(hours=1), updated=submitted, submitted=submitted,
        due=submitted + datetime.timedelta(hours=24),
        decided=submitted + datetime.timedelta(hours=hours),
    )
    model.Session.add(req)
    model.Session.commit()
    return req


@pytest.fixture
def february():
    """Week of Feb 2: 1 h, 2 h; week of Feb 9: 3 h, 4 h; week of Feb 16: 30 h (late)."""
    return [decided(datetime.datetime(2026, 2, day, 9), hours)
            for day, hours in ((2, 1), (3, 2), (10, 3), (11, 4), (16, 30))]


FEB = "?since=2026-02-02&until=2026-03-01"


@pytest.mark.parametrize("url", PAGES)
def test_pages_are_for_sysadmins_only(app, url):
    user = factories.User()
    token = factories.APIToken(user=user["name"])["token"]
    signed_out = app.get(url, follow_redirects=False)  # the login page first, then back
    assert signed_out.status_code == 302
    assert "/user/login?came_from=" in signed_out.headers["Location"]
    assert app.get(url, headers={"Authorization": token}).status_code == 403


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "–"), (44.6, "45 s"), (300, "5 min"), (3 * 3600, "3 h"), (19.6 * 3600, "19 h 36 min"),
    (48 * 3600, "2 d"), (50 * 3600 + 59, "2 d 2 h"),
])
@pytest.mark.usefixtures("with_request_context")
def test_durations_read_naturally(seconds, text):
    from ckanext.dgaaccounts.helpers import dgaaccounts_duration

    assert dgaaccounts_duration(seconds) == text


def test_admin_pages_have_distinct_titles_without_empty_parts(app, sysadmin):
    req = decided(datetime.datetime(2026, 2, 2, 9), 1, state="submitted")
    titles = {}
    for path in ("/", f"/request/{req.id}", "/report", "/audit", "/approval-modes", "/tokens"):
        body = app.get("/ckan-admin/dgaaccounts" + path, headers=sysadmin).body
        title = re.search(r"<title>\s*(.*?)\s*</title>", body, re.S).group(1)
        assert " -  - " not in title
        assert "- -" not in title
        titles[path] = title
    assert len(set(titles.values())) == len(titles), titles
    assert req.reference in titles[f"/request/{req.id}"]


def test_admin_navigation_links_the_pages(app, sysadmin):
    body = app.get("/ckan-admin/dgaaccounts/", headers=sysadmin).body
    assert 'href="/ckan-admin/dgaaccounts/report"' in body
    assert 'href="/ckan-admin/dgaaccounts/audit"' in body


class TestReport:
    def test_summary_per_kind(self, app, sysadmin, february):
        body = app.get("/ckan-admin/dgaaccounts/report" + FEB, headers=sysadmin).body
        row = re.search(r'<tr data-kind="agency_registration">(.*?)</tr>', body, re.S).group(1)
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(
            r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
        # kind, target, open, awaiting, overdue, decided, within, median, p90 (19.6 h)
        assert cells[1:] == ["24 h", "0", "0", "0", "5", "4 (80.0%)", "3 h", "19 h 36 min"]
        assert 'value="2026-02-02"' in body
        assert 'value="2026-03-01"' in body

    def test_chart_is_inline_svg_with_one_bar_per_week(self, app, sysadmin, february):
        body = app.get("/ckan-admin/dgaaccounts/report" + FEB, headers=sysadmin).body
        svg = re.search(r'<svg [^>]*data-kind="agency_registration".*?</svg>', body, re.S).group(0)
        assert svg.count('class="dgaaccounts-bar"') == 4
        assert svg.count('class="within"') == 2  # weeks of Feb 2 and Feb 9
        assert svg.count('class="late"') == 1  # week of Feb 16
        assert "2 of 2 decided within target" in svg
        heights = [float(h) for h in re.findall(r'class="within"[^>]*height="([\d.]+)"', svg)]
        assert heights[0] == heights[1] > 0  # two decisions each: the same height
        # Nothing fetched from elsewhere: no script, no external reference in the chart.
        assert "<script" not in svg
        assert "href" not in svg
        # Kinds without decisions show no chart, only their table.
        assert 'data-kind="cancellation"' in body
        assert not re.search(r'<svg [^>]*data-kind="cancellation"', body)

    def test_per_month(self, app, sysadmin, february):
        body = app.get("/ckan-admin/dgaaccounts/report?since=2026-01-01&until=2026-03-31"
                       "&period=month", headers=sysadmin).body
        assert '<tr data-start="2026-02-01">' in body
        assert "<td>2026-02</td><td>5</td>" in body

    def test_bad_dates_show_an_error_and_the_default_report(self, app, sysadmin):
        resp = app.get("/ckan-admin/dgaaccounts/report?since=2026-03-01&until=2026-02-01",
                       headers=sysadmin)
        assert resp.status_code == 200
        assert "The end of the range comes before its start." in resp.body
        assert 'id="dgaaccounts-sla-summary"' in resp.body

    def test_export_links_carry_the_range(self, app, sysadmin):
        body = app.get("/ckan-admin/dgaaccounts/report" + FEB, headers=sysadmin).body
        assert ("/ckan-admin/dgaaccounts/export/requests.csv?since=2026-02-02&amp;"
                "until=2026-03-01&amp;by=decided") in body

    def test_in_thai(self, app, sysadmin):
        po = polib.pofile(PO)
        body = app.get("/th/ckan-admin/dgaaccounts/report", headers=sysadmin).body
        assert po.find("Service report").msgstr in body
        assert po.find("Median time to decision").msgstr in body
        assert "Median time to decision" not in body


class TestQueueSearch:
    """A sysadmin who searches the queue finds a request whatever its state (issue 12)."""

    def test_says_how_many_match_in_other_states_and_shows_them(self, app, sysadmin):
        waiting = decided(datetime.datetime(2026, 2, 2, 9), 1, state="submitted")
        approved = decided(datetime.datetime(2026, 2, 3, 9), 1, state="approved")
        body = app.get("/ckan-admin/dgaaccounts/?q=DGA-2026-", headers=sysadmin).body
        assert waiting.reference in body
        assert approved.reference not in body
        assert "1 more request matches the search in other states." in body
        assert "/ckan-admin/dgaaccounts/?q=DGA-2026-&amp;state=all" in body
        every = app.get("/ckan-admin/dgaaccounts/?q=DGA-2026-&state=all", headers=sysadmin).body
        assert waiting.reference in every
        assert approved.reference in every
        assert "in other states" not in every
        assert '<option value="all" selected>' in every
        # Without a search the queue stays the open requests, with no count of the others.
        queue = app.get("/ckan-admin/dgaaccounts/", headers=sysadmin).body
        assert approved.reference not in queue
        assert "in other states" not in queue


class TestReviewPage:
    def test_roles_are_labelled_and_the_site_user_is_the_system(self, app, sysadmin):
        req = decided(datetime.datetime(2026, 2, 2, 9), 1, kind="cancellation",
                      state="submitted")
        req.details = {"reason": "ย้ายงาน", "memberships": [["กรมทดสอบ", "editor"]]}
        model.Session.commit()
        site_user = model.User.by_name(helpers.call_action("get_site_user")["name"])
        workflow.audit("escalate", site_user.id, req, details={"reason": "no_admin"})
        workflow.transition(req, "return", model.User.by_name("admin_pages").id,
                            note="แก้ไขตาม https://data.go.th/" + "x" * 120)
        model.Session.commit()
        body = app.get(f"/en/ckan-admin/dgaaccounts/request/{req.id}", headers=sysadmin).body
        assert "กรมทดสอบ (Editor)" in body
        assert "(editor)" not in body
        history = body.split('id="dgaaccounts-history"')[1].split("</table>")[0]
        assert "<td>system</td>" in history
        assert site_user.name not in history
        assert "<td>admin_pages</td>" in history
        assert 'role="region"' in body.split('id="dgaaccounts-history"')[0].rsplit("<div", 1)[1]
        po = polib.pofile(PO)
        thai = app.get(f"/th/ckan-admin/dgaaccounts/request/{req.id}", headers=sysadmin).body
        assert f"กรมทดสอบ ({po.find('Editor').msgstr})" in thai


class TestAuditLog:
    @pytest.fixture
    def events(self, sysadmin):
        admin = model.User.by_name("admin_pages")
        applicant = factories.User(name="somsri")
        req = decided(datetime.datetime(2026, 2, 2, 9), 1, state="submitted")
        req.user_id = applicant["id"]
        model.Session.commit()
        workflow.transition(req, "approve", admin.id, note="เอกสารครบ")
        workflow.audit("reactivate", admin.id, target_user_id=applicant["id"])
        model.Session.commit()
        return req

    def test_lists_and_filters(self, app, sysadmin, events):
        body = app.get("/ckan-admin/dgaaccounts/audit", headers=sysadmin).body
        assert "3 events" in body  # and the creation of the fixture's API token (issue 17)
        assert body.index('data-action="reactivate"') < body.index('data-action="approve"')
        assert "Account reactivated" in body
        assert f">{events.reference}</a>" in body
        assert "admin_pages" in body
        assert "เอกสารครบ" in body

        def count(query: str) -> int:
            page = app.get("/ckan-admin/dgaaccounts/audit?" + query, headers=sysadmin).body
            return len(re.findall(r'<tr data-action="', page))

        assert count(f"request_id={events.reference}") == 1
        assert count(f"request_id={events.id}") == 1
        assert count("user_id=somsri") == 2
        assert count("actor=admin_pages") == 2
        assert count("actor=somsri") == 0
        assert count("action=reactivate") == 1
        today = datetime.date.today().isoformat()
        assert count(f"since={today}&until={today}") == 3  # with the API token's creation
        assert count("until=2020-01-01") == 0

    def test_events_states_and_details_read_for_people(self, app, sysadmin):
        workflow.audit("reactivate", None, from_state=workflow.SUSPENDED,
                       to_state=workflow.ACTIVE)
        workflow.audit("api_token_revoke_all", None, details={
            "revoked": 2, "via": "signed_in", "with_document": False, "kind": "suspension",
            "by": "organization_admin", "reason": "no_admin", "zz_new": "kept", "token": "s3cr"})
        model.Session.commit()
        body = app.get("/en/ckan-admin/dgaaccounts/audit", headers=sysadmin).body
        assert ">All API tokens revoked<" in body
        assert ">api_token_revoke_all<" not in body
        assert "API token created" in body  # the fixture's token
        assert "suspended &rarr; active" in body
        for shown in ("Signed form sent with the sign-up: no", "Kind: Account suspension",
                      "Decided as: organization admin", "Via: signed in", "zz_new: kept",
                      "Reason: the organization has no active admin to decide"):
            assert shown in body
        for raw in ("with_document", "organization_admin", "no_admin", "s3cr", "False"):
            assert raw not in body.split('id="dgaaccounts-audit"')[1]
        po = polib.pofile(PO)
        thai = app.get("/th/ckan-admin/dgaaccounts/audit", headers=sysadmin).body
        assert f"{po.find('suspended').msgstr} &rarr; {po.find('active').msgstr}" in thai

    def test_bad_date_is_explained(self, app, sysadmin):
        body = app.get("/ckan-admin/dgaaccounts/audit?since=soon", headers=sysadmin).body
        assert "Enter a date as YYYY-MM-DD" in body
        assert "0 events" in body

    def test_pages(self, app, sysadmin):
        # 51 events: the creation of the fixture's API token (issue 17) and these 50.
        for i in range(50):
            workflow.audit("reactivate", None, target_user_id=f"user-{i}")
        model.Session.commit()
        first = app.get("/ckan-admin/dgaaccounts/audit", headers=sysadmin).body
        assert "Page 1 of 2" in first
        second = app.get("/ckan-admin/dgaaccounts/audit?page=2", headers=sysadmin).body
        assert len(re.findall(r'<tr data-action="', second)) == 1

    def test_csv_download_has_the_page_filters(self, app, sysadmin, events):
        body = app.get("/ckan-admin/dgaaccounts/audit?actor=admin_pages&action=approve",
                       headers=sysadmin).body
        link = re.search(r'href="([^"]+)" id="dgaaccounts-audit-export"', body).group(1)
        resp = app.get(link.replace("&amp;", "&"), headers=sysadmin)
        rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
        assert [(r["action"], r["actor"]) for r in rows] == [("approve", "admin_pages")]


class TestExports:
    def test_requests_csv_is_streamed_as_an_attachment(self, app, sysadmin, february):
        client = app.test_client()
        resp = client.get("/ckan-admin/dgaaccounts/export/requests.csv" + FEB + "&by=decided",
                          headers=sysadmin, buffered=False)
        assert resp.status_code == 200
        assert resp.is_streamed
        assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert resp.headers["Content-Disposition"] == (
            'attachment; filename="dgaaccounts-requests-2026-02-02-2026-03-01.csv"')
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in resp.headers["Cache-Control"]
        text = b"".join(resp.response).decode("utf-8")
        resp.close()
        assert text.startswith("\ufeffreference,kind,state,")
        rows = list(csv.DictReader(io.StringIO(text[1:])))
        assert [r["hours_to_decision"] for r in rows] == ["1.00", "2.00", "3.00", "4.00",
                                                          "30.00"]
        assert [r["within_target"] for r in rows] == ["true"] * 4 + ["false"]

    def test_bad_range_goes_back_with_an_error(self, app, sysadmin):
        resp = app.get("/ckan-admin/dgaaccounts/export/requests.csv?since=nope",
                       headers=sysadmin)
        assert resp.status_code == 200
        assert "Enter a date as YYYY-MM-DD" in resp.body
        assert 'id="dgaaccounts-sla-summary"' in resp.body


def test_a_purged_scan_is_no_longer_served_but_listed(app, sysadmin, ckan_config,
                                                      monkeypatch):
    closed = utcnow() - datetime.timedelta(days=200)
    req = decided(closed - datetime.timedelta(hours=3), 3)
    stored = storage.get_store().save(io.BytesIO(PDF), "scan.pdf", max_size=10**6)
    doc = Document(request_id=req.id, original_name="scan.pdf", mimetype=stored.mimetype,
                   size=stored.size, sha256=stored.sha256, storage_key=stored.key)
    model.Session.add(doc)
    model.Session.commit()
    url = f"/dgaaccounts/request/{req.id}/document/{doc.id}"
    assert app.get(url, headers=sysadmin).status_code == 200
    assert [d["document_id"] for d in maintenance.purge_documents()] == [doc.id]
    assert app.get(url, headers=sysadmin).status_code == 404
    body = app.get(f"/ckan-admin/dgaaccounts/request/{req.id}", headers=sysadmin).body
    assert "at the end of its retention period" in body
    assert "Scan deleted at the end of its retention period" in body  # the history
    assert f"{url}?download=1" not in body


@pytest.mark.parametrize("query", ["request_id=a%00b", "actor=a%01b", "since=2026-01-0%00",
                                   "until=2026-02-31", "action=" + "x" * 300])
def test_bad_filters_on_the_pages_are_explained_never_a_500(app, sysadmin, query):
    for page in ("audit", "export/audit.csv"):
        resp = app.get(f"/ckan-admin/dgaaccounts/{page}?{query}", headers=sysadmin)
        assert resp.status_code == 200, (page, resp.status_code)
        assert "alert" in resp.body
    resp = app.get(f"/ckan-admin/dgaaccounts/report?{query.replace('action', 'period')}",
                   headers=sysadmin)
    assert resp.status_code == 200
