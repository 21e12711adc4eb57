"""Reminders to sysadmins: due soon and overdue, each once per request and threshold."""
from __future__ import annotations

import datetime
import uuid

import pytest

import ckan.model as model
from ckan.tests import factories

from ckanext.dgaaccounts import reminders, workflow
from ckanext.dgaaccounts.model import AuditEvent, OutboxMessage, Request, utcnow

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db", "with_request_context"),
]

HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def admins():
    return [factories.Sysadmin(name="admin_th", email="admin.th@dga.or.th",
                               plugin_extras={"dgaaccounts": {"locale": "th"}}),
            factories.Sysadmin(name="admin_en", email="admin.en@dga.or.th",
                               plugin_extras={"dgaaccounts": {"locale": "en"}})]


def submitted(due_in: datetime.timedelta, kind: str = "agency_registration",
              state: str = "submitted") -> Request:
    """A request submitted a day before its due time, which is ``due_in`` from now."""
    due = utcnow() + due_in
    user = factories.User()
    req = Request(
        reference=f"DGA-2026-{uuid.uuid4().hex[:6]}", kind=kind, state=state, user_id=user["id"],
        email=f"{uuid.uuid4().hex[:8]}@dga.or.th", details={}, locale="th",
        created=due - 25 * HOUR, updated=due - 24 * HOUR, submitted=due - 24 * HOUR, due=due,
    )
    model.Session.add(req)
    model.Session.commit()
    return req


def reminded(action: str) -> list[str]:
    model.Session.expire_all()
    return sorted(e.request_id for e in model.Session.query(AuditEvent).filter(
        AuditEvent.action == action))


def outbox() -> list[OutboxMessage]:
    model.Session.expire_all()
    return model.Session.query(OutboxMessage).filter(
        OutboxMessage.template == "reminder").order_by(OutboxMessage.id).all()


class TestThresholds:
    def test_due_soon_and_overdue_are_found_and_the_rest_left(self, admins):
        overdue = submitted(-HOUR)
        soon = submitted(3 * HOUR)  # within the default 4 hours
        submitted(5 * HOUR)  # not yet
        submitted(-HOUR, state="returned")  # waiting for the applicant, not for a sysadmin
        submitted(-HOUR, kind="developer_registration", state="awaiting_verification")
        overdue_cancellation = submitted(-2 * HOUR, kind="cancellation")

        result = reminders.send()

        assert [i["reference"] for i in result["overdue"]] == [
            overdue_cancellation.reference, overdue.reference]  # the longest overdue first
        assert [i["reference"] for i in result["due_soon"]] == [soon.reference]
        assert result["emails"] == 2
        assert reminded("reminder_overdue") == sorted([overdue.id, overdue_cancellation.id])
        assert reminded("reminder_due_soon") == [soon.id]

    def test_the_window_is_configurable(self, admins, ckan_config, monkeypatch):
        req = submitted(5 * HOUR)
        assert reminders.send()["due_soon"] == []
        monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.reminder_due_soon_hours", 6)
        assert [i["id"] for i in reminders.send()["due_soon"]] == [req.id]


class TestOnce:
    def test_a_second_run_sends_nothing(self, admins):
        submitted(-HOUR)
        submitted(HOUR)
        first = reminders.send()
        assert (len(first["overdue"]), len(first["due_soon"]), first["emails"]) == (1, 1, 2)
        second = reminders.send()
        assert (second["overdue"], second["due_soon"], second["emails"]) == ([], [], 0)
        assert len(outbox()) == 2

    def test_due_soon_then_overdue_once_each(self, admins):
        req = submitted(2 * HOUR)
        now = utcnow()
        assert [i["id"] for i in reminders.send(now=now)["due_soon"]] == [req.id]
        assert reminders.send(now=now + HOUR)["due_soon"] == []
        later = reminders.send(now=now + 3 * HOUR)
        assert ([i["id"] for i in later["overdue"]], later["due_soon"]) == ([req.id], [])
        assert reminders.send(now=now + 30 * HOUR)["overdue"] == []
        assert reminded("reminder_due_soon") == reminded("reminder_overdue") == [req.id]
        assert len(outbox()) == 4  # two runs with something to say, two sysadmins

    def test_a_corrected_resubmission_gets_its_own_reminders(self, admins):
        req = submitted(-HOUR)
        assert len(reminders.send()["overdue"]) == 1
        admin = model.User.by_name("admin_en")
        workflow.transition(req, "return", admin.id, note="scan unreadable")
        workflow.transition(model.Session.get(Request, req.id), "upload_document", req.user_id)
        model.Session.commit()
        later = utcnow() + 25 * HOUR
        assert [i["id"] for i in reminders.send(now=later)["overdue"]] == [req.id]
        assert len(reminded("reminder_overdue")) == 2

    def test_dry_run_records_and_sends_nothing(self, admins):
        req = submitted(-HOUR)
        result = reminders.send(dry_run=True)
        assert ([i["id"] for i in result["overdue"]], result["emails"]) == ([req.id], 0)
        assert outbox() == []
        assert reminded("reminder_overdue") == []
        assert len(reminders.send()["overdue"]) == 1

    def test_without_a_sysadmin_to_tell_nothing_is_recorded(self):
        submitted(-HOUR)
        assert reminders.send()["emails"] == 0
        assert reminded("reminder_overdue") == []


class TestEmail:
    def test_one_email_per_sysadmin_in_their_language_with_links(self, admins, smtp, deliver):
        overdue = submitted(-HOUR)
        soon = submitted(HOUR, kind="suspension")
        reminders.send()
        assert deliver() == 2
        [english] = smtp.to("admin.en@dga.or.th")
        assert english["Subject"] == "Account requests to decide: 1 overdue, 1 due soon"
        body = smtp.body(english)
        assert f"/ckan-admin/dgaaccounts/request/{overdue.id}" in body
        assert f"/ckan-admin/dgaaccounts/request/{soon.id}" in body
        assert "Account suspension" in body
        assert body.index(overdue.reference) < body.index("Due soon") < body.index(
            soon.reference)
        [thai] = smtp.to("admin.th@dga.or.th")
        assert "Account requests" not in thai["Subject"]
        assert overdue.reference in smtp.body(thai)
