"""`ckan dgaaccounts ...` for operators: requests, decisions, report, reminders, retention, exports.

Every command runs here as `ckan` hands it over (the extension's group, in the test's app; test_cli
runs one through `ckan` itself), against real PostgreSQL and Redis.
"""
from __future__ import annotations

import csv
import datetime
import io
import json
import re
import uuid

import pytest

import ckan.model as model
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import maintenance, storage, tokens
from ckanext.dgaaccounts.model import AuditEvent, Document, OutboxMessage, Request, utcnow
from ckanext.dgaaccounts.tests.conftest import PDF, Upload, dga_cli, registration, stored_files

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db", "with_request_context"),
]

DAY = datetime.timedelta(days=1)


def run(cli, *args: str, status: int = 0) -> str:
    result = dga_cli(cli, *args)
    assert result.exit_code == status, (result.output, result.exception)
    return result.output


def submitted(name: str = "somchai", organization: str | None = None) -> Request:
    """An agency registration through the actions, submitted with its signed form."""
    extra = {"organization": organization, "agency_name": ""} if organization else {}
    result = helpers.call_action("dgaaccounts_agency_register", **registration(
        name=name, email=f"{name}@dga.or.th", **extra))
    req = model.Session.get(Request, result["request_id"])
    token = tokens.mint(req, tokens.VERIFY)
    model.Session.commit()
    verified = helpers.call_action("dgaaccounts_email_verify", token=token)
    helpers.call_action("dgaaccounts_request_document_upload", id=req.id,
                        token=verified["applicant_token"], signed_form=Upload(PDF, "form.pdf"))
    model.Session.expire_all()
    return model.Session.get(Request, req.id)


@pytest.fixture
def admin():
    return factories.Sysadmin(name="admin_ops", email="ops@dga.or.th")


@pytest.fixture
def org():
    return factories.Organization(name="dga", title="DGA")


HELP = [
    ([], ["Operate the account workflows", "requests", "report", "remind", "purge", "export",
          "expire", "scrub", "outbox"]),
    (["requests"], ["list", "show", "approve", "reject", "return"]),
    (["requests", "list"], ["--kind", "--state", "--overdue", "--search", "--limit"]),
    (["requests", "show"], ["by id or reference"]),
    (["requests", "approve"], ["--as", "--note", "--organization", "--role"]),
    (["requests", "reject"], ["--as", "--reason", "sent to the applicant"]),
    (["requests", "return"], ["--as", "--reason", "Return a submitted request"]),
    (["report"], ["--since", "--until", "--period", "--kind", "--json"]),
    (["remind"], ["--dry-run", "Email the sysadmins"]),
    (["purge"], ["--dry-run", "retention period"]),
    (["expire"], ["Expire registrations"]),
    (["scrub"], ["Erase personal details"]),
    (["export"], ["requests", "audit"]),
    (["export", "requests"], ["--since", "--until", "--by", "--kind", "--output"]),
    (["export", "audit"], ["--since", "--until", "--request", "--user", "--actor",
                           "--action", "--output"]),
    (["outbox", "show"], ["Count messages"]),
    (["outbox", "flush"], ["Deliver every message"]),
]


@pytest.mark.parametrize(("args", "expected"), HELP, ids=[" ".join(a) or "dgaaccounts"
                                                          for a, _e in HELP])
def test_help(cli, args, expected):
    output = run(cli, *args, "--help")
    assert output.startswith("Usage: ")
    for text in expected:
        assert text in output


class TestRequests:
    def test_list_and_show(self, cli):
        req = submitted()
        helpers.call_action("dgaaccounts_agency_register", **registration(
            name="fresh", email="fresh@dga.or.th"))
        lines = run(cli, "requests", "list").splitlines()
        assert lines[0].startswith(
            f"{req.reference}  agency_registration  submitted  somchai  due=")
        assert lines[-1] == "2 requests"
        assert run(cli, "requests", "list", "--state", "submitted").splitlines()[-1] == (
            "1 requests")
        assert run(cli, "requests", "list", "--limit", "1").splitlines()[-1] == (
            "2 requests (first 1 shown)")
        assert run(cli, "requests", "list", "--overdue") == "0 requests\n"
        assert "fresh" in run(cli, "requests", "list", "-q", "fresh")

        for key in (req.reference, req.id):
            shown = run(cli, "requests", "show", key)
            assert f"reference: {req.reference}" in shown
            assert "state: submitted" in shown
            assert "details.position: " in shown
            assert re.search(r"^document: \S+ application/pdf \d+ bytes sha256=\w+ .* kept$",
                             shown, re.M)
            assert " upload_document awaiting_document -> submitted" in shown

    def test_show_unknown_request_fails(self, cli):
        output = run(cli, "requests", "show", "DGA-0000-000000", status=1)
        assert "Error: Request not found." in output

    def test_approve_as_a_named_sysadmin_is_audited(self, cli, admin, org):
        req = submitted(organization="dga")
        output = run(cli, "requests", "approve", req.reference, "--as", "admin_ops",
                     "--role", "admin", "--note", "checked by phone")
        assert output == f"{req.reference}: approved\n"
        model.Session.expire_all()
        req = model.Session.get(Request, req.id)
        assert (req.state, req.decided_by, req.decision_note) == (
            "approved", admin["id"], "checked by phone")
        event = model.Session.query(AuditEvent).filter_by(action="approve").one()
        assert event.actor_id == admin["id"]
        assert event.details["role"] == "admin"
        assert model.User.by_name("somchai").state == "active"
        # The applicant is emailed as from the web page.
        assert model.Session.query(OutboxMessage).filter_by(
            request_id=req.id, template="approved").count() == 1
        again = run(cli, "requests", "approve", req.id, "--as", "admin_ops", status=1)
        assert "state: This cannot be done while the request is approved." in again

    @pytest.mark.parametrize(("command", "state"), [("reject", "rejected"),
                                                    ("return", "returned")])
    def test_reject_and_return_need_a_reason(self, cli, admin, command, state):
        req = submitted()
        assert "Missing option '--reason'" in run(cli, "requests", command, req.id, "--as",
                                                  "admin_ops", status=2)
        output = run(cli, "requests", command, req.id, "--as", "admin_ops", "--reason",
                     "ลายมือชื่อผู้บังคับบัญชาไม่ครบ")
        assert output == f"{req.reference}: {state}\n"
        event = model.Session.query(AuditEvent).filter_by(action=command).one()
        assert (event.actor_id, event.details["note"]) == (admin["id"],
                                                            "ลายมือชื่อผู้บังคับบัญชาไม่ครบ")

    def test_only_an_active_sysadmin_may_decide(self, cli, admin):
        req = submitted()
        factories.User(name="plain")
        for name in ("plain", "nobody"):
            output = run(cli, "requests", "approve", req.id, "--as", name, status=1)
            assert f"Error: {name} is not an active sysadmin" in output
        assert "Missing option '--as'" in run(cli, "requests", "approve", req.id, status=2)
        model.Session.expire_all()
        assert model.Session.get(Request, req.id).state == "submitted"

    def test_approve_without_an_organization_reports_the_field(self, cli, admin):
        req = submitted()  # named a new agency, not an organization on the portal
        output = run(cli, "requests", "approve", req.id, "--as", "admin_ops", status=1)
        assert "organization: Choose the organization" in output


class TestReport:
    def test_text_and_json(self, cli, admin, org):
        req = submitted(organization="dga")
        helpers.call_action("dgaaccounts_request_approve", id=req.id,
                            context={"user": "admin_ops", "ignore_auth": False})
        output = run(cli, "report")
        assert re.match(r"^\d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d per week \(UTC\)$",
                        output.splitlines()[0])
        line = next(x for x in output.splitlines() if x.startswith("agency_registration:"))
        assert "target=24.0h open=0 awaiting_decision=0 overdue=0 decided=1" in line
        assert "within_target=1 (100.0%)" in line
        assert re.search(r"^  \d{4}-\d\d-\d\d: decided=1 within_target=1 \(100\.0%\)",
                         output, re.M)
        assert "developer_registration: target=5.0m" in output
        data = json.loads(run(cli, "report", "--json", "--period", "month",
                              "--kind", "agency_registration"))
        assert data["period"] == "month"
        [kind] = data["kinds"]
        assert (kind["kind"], kind["decided"], kind["within_target_share"]) == (
            "agency_registration", 1, 1.0)

    def test_bad_dates_are_refused(self, cli):
        assert "Error: until: The end of the range comes before its start." in run(
            cli, "report", "--since", "2026-03-01", "--until", "2026-02-01", status=1)
        assert "since: Enter a date as YYYY-MM-DD." in run(cli, "report", "--since", "soon",
                                                           status=1)


class TestRemind:
    def test_reminds_once(self, cli, admin):
        req = submitted()
        model.Session.query(Request).filter(Request.id == req.id).update(
            {"due": utcnow() - datetime.timedelta(minutes=1)})
        model.Session.commit()
        dry = run(cli, "remind", "--dry-run")
        assert dry.startswith(f"overdue: {req.reference} agency_registration due ")
        assert dry.endswith("would remind: overdue=1 due_soon=0 emails=0\n")
        output = run(cli, "remind")
        assert output.endswith("reminded: overdue=1 due_soon=0 emails=1\n")
        assert output.startswith(f"overdue: {req.reference} agency_registration due ")
        assert run(cli, "remind") == "reminded: overdue=0 due_soon=0 emails=0\n"
        assert model.Session.query(OutboxMessage).filter_by(
            template="reminder", recipient="ops@dga.or.th").count() == 1


# -- retention -------------------------------------------------------------------------------

def _with_scan(state: str, closed_days_ago: float | None, kind: str = "agency_registration",
               decided_days_ago: float | None = None) -> tuple[Request, Document]:
    """A request in ``state`` with one stored scan; closed (decided, or last changed)
    ``closed_days_ago``."""
    now = utcnow()
    closed = now - datetime.timedelta(days=closed_days_ago) if closed_days_ago is not None \
        else now
    decided = now - datetime.timedelta(days=decided_days_ago) if decided_days_ago is not None \
        else (closed if state in ("approved", "rejected", "returned") else None)
    req = Request(
        reference=f"DGA-2025-{uuid.uuid4().hex[:6]}", kind=kind, state=state,
        user_id=factories.User()["id"], email=f"{uuid.uuid4().hex[:8]}@dga.or.th", details={},
        locale="th", created=closed - 2 * DAY, updated=closed, submitted=closed - DAY,
        due=closed, decided=decided,
    )
    model.Session.add(req)
    model.Session.flush()
    stored = storage.get_store().save(io.BytesIO(PDF), "แบบฟอร์ม.pdf", max_size=10**6)
    doc = Document(request_id=req.id, original_name=stored.original_name,
                   mimetype=stored.mimetype, size=stored.size, sha256=stored.sha256,
                   storage_key=stored.key, uploaded=closed - DAY)
    model.Session.add(doc)
    model.Session.commit()
    return req, doc


@pytest.fixture
def scans(storage_root):
    """Scans past the 180-day retention (approved, rejected, withdrawn) and scans kept: a recent
    decision, an open request, a request returned long ago, a withdrawal after an old return."""
    gone = [_with_scan("approved", 200), _with_scan("rejected", 181, kind="cancellation"),
            _with_scan("withdrawn", 190)]
    kept = [_with_scan("approved", 100), _with_scan("submitted", 300),
            _with_scan("returned", 300), _with_scan("withdrawn", 10, decided_days_ago=300)]
    return gone, kept


class TestPurge:
    def test_dry_run_lists_and_changes_nothing(self, cli, scans, storage_root):
        gone, _kept = scans
        before = sorted(stored_files(storage_root))
        output = run(cli, "purge", "--dry-run")
        lines = output.splitlines()
        assert lines[-1] == "would purge: 3"
        assert [line.split()[0] for line in lines[:-1]] == [
            req.reference for req, _doc in sorted(gone, key=lambda x: x[0].updated)]
        assert f"document {gone[0][1].id} application/pdf {len(PDF)} bytes, closed " in output
        assert sorted(stored_files(storage_root)) == before
        assert model.Session.query(Document).filter(Document.purged.isnot(None)).count() == 0
        assert model.Session.query(AuditEvent).filter_by(action="purge_document").count() == 0

    def test_purge_deletes_those_files_only_and_keeps_the_metadata(self, cli, scans,
                                                                    storage_root):
        gone, kept = scans
        store = storage.get_store()
        assert run(cli, "purge").splitlines()[-1] == "purged: 3"
        model.Session.expire_all()
        for _req, doc in gone:
            row = model.Session.get(Document, doc.id)
            assert row.purged is not None
            assert (row.sha256, row.size, row.original_name) == (doc.sha256, doc.size,
                                                                 "แบบฟอร์ม.pdf")
            assert not store.exists(doc.storage_key)
        for _req, doc in kept:
            assert model.Session.get(Document, doc.id).purged is None
            assert store.exists(doc.storage_key)
        assert sorted(stored_files(storage_root)) == sorted(
            store.path(doc.storage_key) for _r, doc in kept)
        events = model.Session.query(AuditEvent).filter_by(action="purge_document").all()
        assert sorted(e.details["document_id"] for e in events) == sorted(
            doc.id for _r, doc in gone)
        assert {e.request_id for e in events} == {req.id for req, _d in gone}
        assert all(e.actor_id is None and e.details["retention_days"] == 180 for e in events)
        assert run(cli, "purge") == "purged: 0\n"

    def test_retention_is_configurable(self, scans, ckan_config, monkeypatch):
        monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.document_retention_days", 50)
        assert len(maintenance.purge_documents(dry_run=True)) == 4  # with the 100-day one
        monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.document_retention_days", 5)
        assert len(maintenance.purge_documents()) == 5  # and the withdrawal of 10 days ago


# -- housekeeping that existed before: expire and scrub -------------------------------------

def test_expire_and_scrub_run(cli):
    helpers.call_action("dgaaccounts_agency_register", **registration())
    assert run(cli, "expire") == "expired: 0\n"
    model.Session.query(Request).update({"created": utcnow() - 3 * DAY})
    model.Session.commit()
    assert run(cli, "expire") == "expired: 1\n"
    assert run(cli, "scrub") == "scrubbed: 0\n"


def test_expire_removes_a_registration_sent_with_its_signed_form(cli, storage_root):
    """The form sent with a registration that was never verified goes with it: the file, its
    row and its signature check, and the pending account; the audit trail keeps both events."""
    result = helpers.call_action("dgaaccounts_agency_register", **registration(
        signed_form=Upload(PDF, "form.pdf")))
    assert len(stored_files(storage_root)) == 1
    model.Session.query(Request).update({"created": utcnow() - 3 * DAY})
    model.Session.commit()
    assert run(cli, "expire") == "expired: 1\n"
    model.Session.remove()
    assert stored_files(storage_root) == []
    assert model.Session.get(Request, result["request_id"]) is None
    assert model.Session.query(Document).count() == 0
    assert model.User.by_name("somchai") is None
    events = model.Session.query(AuditEvent).filter(
        AuditEvent.request_id == result["request_id"]).order_by(AuditEvent.id)
    assert [(e.action, e.details.get("reference")) for e in events] == [
        ("register", None), ("expire", result["reference"])]


# -- exports ---------------------------------------------------------------------------------

class TestExport:
    def test_requests_to_a_file_and_audit_to_stdout(self, cli, admin, tmp_path):
        req = submitted()
        target = tmp_path / "requests.csv"
        assert run(cli, "export", "requests", "--by", "submitted", "-o", str(target)) == ""
        with open(target, encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        assert [r["reference"] for r in rows] == [req.reference]
        today = datetime.date.today().isoformat()
        output = run(cli, "export", "audit", "--request", req.reference, "--since", today)
        rows = list(csv.DictReader(io.StringIO(output.lstrip("\ufeff"))))
        assert [r["action"] for r in rows] == ["register", "verify_email", "upload_document"]
        assert run(cli, "export", "audit", "--action", "approve").count("\n") == 1

    def test_bad_range_is_refused(self, cli):
        output = run(cli, "export", "requests", "--since", "2026-13-01", status=1)
        assert "since: " in output

