"""Escalation: a request without a decision for 80% of its service time goes to the sysadmins,
once per request and submission, however many runs race."""
from __future__ import annotations

import datetime
import threading
import uuid
import zoneinfo

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import approval, escalation, officehours, workflow
from ckanext.dgaaccounts.logic import validators
from ckanext.dgaaccounts.model import AuditEvent, Escalation, OutboxMessage, Request, utcnow
from ckanext.dgaaccounts.tests.conftest import dga_cli

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db"),
]

HOUR = datetime.timedelta(hours=1)
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def admins():
    return [factories.Sysadmin(name="admin_th", email="admin.th@dga.or.th",
                               plugin_extras={"dgaaccounts": {"locale": "th"}}),
            factories.Sysadmin(name="admin_en", email="admin.en@dga.or.th",
                               plugin_extras={"dgaaccounts": {"locale": "en"}})]


def submitted(ago: datetime.timedelta, kind: str = workflow.AGENCY,
              state: str = workflow.SUBMITTED, organization_id: str | None = None) -> Request:
    """A request submitted ``ago`` before now, due 24 hours after its submission."""
    at = utcnow() - ago
    user = factories.User()
    req = Request(
        reference=f"DGA-2026-{uuid.uuid4().hex[:6]}", kind=kind, state=state, user_id=user["id"],
        email=f"{uuid.uuid4().hex[:8]}@dga.or.th", details={}, locale="th",
        organization_id=organization_id, created=at - HOUR, updated=at, submitted=at,
        due=at + 24 * HOUR,
    )
    model.Session.add(req)
    model.Session.commit()
    return req


def audited() -> list[AuditEvent]:
    model.Session.expire_all()
    return model.Session.query(AuditEvent).filter(
        AuditEvent.action == "escalate").order_by(AuditEvent.id).all()


def escalation_mails() -> list[OutboxMessage]:
    model.Session.expire_all()
    return model.Session.query(OutboxMessage).filter(
        OutboxMessage.template == "escalated").order_by(OutboxMessage.id).all()


@pytest.mark.usefixtures("with_request_context")
class TestThreshold:
    def test_at_80_percent_of_the_service_time_and_not_before(self, admins):
        late = submitted(19 * HOUR + 13 * MINUTE)  # 80% of 24 h is 19 h 12 min
        early = submitted(19 * HOUR + 11 * MINUTE)
        escalated = escalation.escalate()
        assert [i["id"] for i in escalated] == [late.id]
        assert escalated[0]["reason"] == "threshold"
        assert escalated[0]["threshold"] == late.submitted + 19 * HOUR + 12 * MINUTE
        assert [e.request_id for e in audited()] == [late.id]
        assert escalation.escalated_at([late.id, early.id]).keys() == {late.id}

    def test_the_share_is_configurable(self, admins, ckan_config, monkeypatch):
        req = submitted(13 * HOUR)
        assert escalation.escalate() == []
        monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.escalation_percent", 50)
        assert [i["id"] for i in escalation.escalate()] == [req.id]

    def test_a_fake_clock_gives_the_exact_threshold(self, admins):
        req = submitted(datetime.timedelta(0))
        threshold = escalation.threshold_of(req)
        assert escalation.escalate(now=threshold - datetime.timedelta(seconds=1)) == []
        assert [i["id"] for i in escalation.escalate(now=threshold)] == [req.id]

    def test_only_requests_awaiting_a_decision(self, admins):
        submitted(20 * HOUR, state=workflow.RETURNED)  # waiting for the applicant
        submitted(20 * HOUR, state=workflow.APPROVED)
        submitted(20 * HOUR, kind=workflow.DEVELOPER, state=workflow.AWAITING_VERIFICATION)
        cancellation = submitted(30 * HOUR, kind=workflow.CANCELLATION)
        suspension = submitted(20 * HOUR, kind=workflow.SUSPENSION)
        found = escalation.escalate()
        assert [i["id"] for i in found] == [cancellation.id, suspension.id]  # earliest first


def organization(mode: str, admins: list[str] = ()) -> str:
    org = factories.Organization(users=[{"name": n, "capacity": "admin"} for n in admins])
    approval.set_mode(org["id"], mode, None)
    model.Session.commit()
    return org["id"]


@pytest.mark.usefixtures("with_request_context")
class TestNoAdmin:
    def test_an_organization_that_decides_but_has_no_admin_escalates_at_once(self, admins):
        for mode in ("delegated", "endorse"):
            req = submitted(MINUTE, organization_id=organization(mode))
            [item] = escalation.escalate()
            assert (item["id"], item["reason"]) == (req.id, "no_admin")
            assert item["threshold"] == req.submitted
        assert [e.details["reason"] for e in audited()] == ["no_admin", "no_admin"]

    def test_central_waits_for_the_threshold_whatever_the_admins(self, admins):
        submitted(MINUTE, organization_id=organization("central"))
        assert escalation.escalate() == []

    def test_an_active_admin_is_waited_for(self, admins):
        admin = factories.User(email="org.admin@dga.or.th")
        req = submitted(MINUTE, organization_id=organization("delegated", [admin["name"]]))
        assert escalation.escalate() == []
        assert [i["id"] for i in escalation.escalate(
            now=escalation.threshold_of(req))] == [req.id]

    def test_an_admin_no_longer_active_counts_as_none(self, admins):
        admin = factories.User(email="gone@dga.or.th")
        req = submitted(MINUTE, organization_id=organization("delegated", [admin["name"]]))
        user = model.User.get(admin["id"])
        user.state = "deleted"
        model.Session.commit()
        assert [(i["id"], i["reason"]) for i in escalation.escalate()] == [(req.id, "no_admin")]

    def test_the_email_says_no_one_can_decide_there(self, admins, smtp, deliver):
        req = submitted(MINUTE, organization_id=organization("delegated"))
        escalation.escalate()
        deliver()
        [english] = smtp.to("admin.en@dga.or.th")
        assert "has no active organization admin" in smtp.body(english)
        assert req.reference in english["Subject"]


@pytest.mark.usefixtures("with_request_context")
class TestOnce:
    def test_a_second_run_escalates_nothing(self, admins):
        submitted(20 * HOUR)
        assert len(escalation.escalate()) == 1
        assert escalation.escalate() == []
        assert escalation.escalate(now=utcnow() + 10 * HOUR) == []
        assert len(audited()) == 1
        assert len(escalation_mails()) == 2  # one per sysadmin, once

    def test_a_corrected_resubmission_can_escalate_again(self, admins):
        req = submitted(20 * HOUR)
        escalation.escalate()
        admin = model.User.by_name("admin_en")
        workflow.transition(req, "return", admin.id, note="scan unreadable")
        workflow.transition(model.Session.get(Request, req.id), "upload_document", req.user_id)
        model.Session.commit()
        resubmitted = model.Session.get(Request, req.id)
        assert escalation.escalated_at([req.id]) == {}  # the queue no longer flags it
        later = escalation.threshold_of(resubmitted)
        assert [i["id"] for i in escalation.escalate(now=later)] == [req.id]
        assert len(audited()) == 2
        assert model.Session.query(Escalation).filter_by(request_id=req.id).count() == 2

    def test_dry_run_records_and_sends_nothing(self, admins):
        req = submitted(20 * HOUR)
        assert [i["id"] for i in escalation.escalate(dry_run=True)] == [req.id]
        assert audited() == []
        assert escalation_mails() == []
        assert model.Session.query(Escalation).count() == 0
        assert len(escalation.escalate()) == 1

    def test_runs_racing_escalate_each_request_once(self, admins):
        requests = [submitted(20 * HOUR) for _ in range(5)]
        app_config = dict(tk.config)
        start = threading.Barrier(4)
        results: list[list[dict]] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                tk.config.update(app_config)
                start.wait()
                results.append(escalation.escalate())
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)
            finally:
                model.Session.remove()

        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        done = sorted(i["id"] for result in results for i in result)
        assert done == sorted(r.id for r in requests)  # each by exactly one run
        assert sorted(e.request_id for e in audited()) == done
        assert len(escalation_mails()) == 2 * len(requests)

    def test_a_request_decided_meanwhile_is_not_escalated(self, admins):
        req = submitted(20 * HOUR)
        found = escalation.due()
        admin = model.User.by_name("admin_en")
        workflow.transition(model.Session.get(Request, req.id), "reject", admin.id, note="no")
        model.Session.commit()
        assert [r.id for r, _reason, _t in found] == [req.id]
        item = escalation._item(*found[0], utcnow())
        assert escalation._escalate_one(item, utcnow(), None) is False
        assert audited() == []
        assert escalation_mails() == []


@pytest.mark.usefixtures("with_request_context")
class TestEmail:
    def test_every_sysadmin_in_their_language_with_the_link(self, admins, smtp, deliver):
        req = submitted(20 * HOUR)
        escalation.escalate()
        assert deliver() == 2
        [english] = smtp.to("admin.en@dga.or.th")
        assert english["Subject"] == f"Escalated: request {req.reference} still has no decision"
        body = smtp.body(english)
        assert f"/ckan-admin/dgaaccounts/request/{req.id}" in body
        assert "has had no decision for most of its service time" in body
        [thai] = smtp.to("admin.th@dga.or.th")
        assert req.reference in thai["Subject"]
        assert "Escalated" not in thai["Subject"]
        assert f"/th/ckan-admin/dgaaccounts/request/{req.id}" in smtp.body(thai) or \
            f"/ckan-admin/dgaaccounts/request/{req.id}" in smtp.body(thai)

    def test_audit_event_says_why_and_when(self, admins):
        req = submitted(20 * HOUR)
        escalation.escalate()
        [event] = audited()
        assert event.request_id == req.id
        assert event.target_user_id == req.user_id
        assert event.details["reason"] == "threshold"
        assert event.details["due"] == req.due.isoformat()
        assert workflow.event_label("escalate") == "Escalated to the sysadmins"


@pytest.mark.usefixtures("with_request_context")
class TestAction:
    def test_the_action_escalates_and_reports(self, admins):
        req = submitted(20 * HOUR)
        context = {"user": "admin_en", "ignore_auth": False}
        dry = helpers.call_action("dgaaccounts_requests_escalate", context=dict(context),
                                  dry_run=True)
        assert dry["count"] == 1
        assert audited() == []
        result = helpers.call_action("dgaaccounts_requests_escalate", context=dict(context))
        assert result["count"] == 1
        [item] = result["escalated"]
        assert (item["reference"], item["reason"]) == (req.reference, "threshold")
        assert audited()[0].actor_id == model.User.by_name("admin_en").id
        shown = helpers.call_action("dgaaccounts_request_show", id=req.id)
        assert shown["escalated"] == item["escalated"]
        queue = helpers.call_action("dgaaccounts_request_list")
        assert [r["escalated"] is not None for r in queue["results"]] == [True]

    def test_bad_input_is_a_field_error(self, admins):
        with pytest.raises(tk.ValidationError) as error:
            helpers.call_action("dgaaccounts_requests_escalate", dry_run=[1])
        assert "dry_run" in error.value.error_dict



class TestWeb:
    def test_over_http_only_for_sysadmins(self, admins, app):
        submitted(20 * HOUR)
        user = factories.User()
        denied = app.post("/api/3/action/dgaaccounts_requests_escalate", json={},
                          headers={"Authorization": factories.APIToken(user=user["name"])[
                              "token"]}, status=403)
        assert denied.json["success"] is False
        anonymous = app.post("/api/3/action/dgaaccounts_requests_escalate", json={},
                             status=403)
        assert anonymous.json["success"] is False
        assert audited() == []
        token = factories.APIToken(user="admin_en")["token"]
        done = app.post("/api/3/action/dgaaccounts_requests_escalate", json={},
                        headers={"Authorization": token})
        assert done.json["result"]["count"] == 1

    def test_the_queue_page_flags_it(self, admins, app):
        req = submitted(20 * HOUR)
        other = submitted(HOUR)
        escalation.escalate()
        token = factories.APIToken(user="admin_en")["token"]
        page = app.get("/ckan-admin/dgaaccounts/", headers={"Authorization": token})
        rows = {ref: chunk for ref, chunk in (
            (r.reference, page.body.split(f'data-reference="{r.reference}"')[1].split("</tr>")[0])
            for r in (req, other))}
        assert "dgaaccounts-escalated" in rows[req.reference]
        assert "dgaaccounts-escalated" not in rows[other.reference]
        shown = app.get(f"/ckan-admin/dgaaccounts/request/{req.id}",
                        headers={"Authorization": token})
        assert "dgaaccounts-escalated" in shown.body


@pytest.mark.usefixtures("with_request_context")
class TestCommand:
    def test_cron_command_escalates_once(self, admins, cli):
        req = submitted(20 * HOUR)
        dry = dga_cli(cli, "escalate", "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert f"{req.reference} agency_registration threshold" in dry.output
        assert "would escalate: 1" in dry.output
        assert audited() == []
        first = dga_cli(cli, "escalate")
        assert first.exit_code == 0, first.output
        assert "escalated: 1" in first.output
        second = dga_cli(cli, "escalate")
        assert "escalated: 0" in second.output
        assert len(audited()) == 1


# -- office hours (officehours.py) ------------------------------------------------------------

BANGKOK = datetime.timezone(datetime.timedelta(hours=7))


def ict(text: str) -> datetime.datetime:
    """A Bangkok wall-clock time ("2026-12-04 10:00", a Friday) as naive UTC."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=BANGKOK).astimezone(
        datetime.timezone.utc).replace(tzinfo=None)


def submitted_at(at: datetime.datetime) -> Request:
    user = factories.User()
    req = Request(
        reference=f"DGA-2026-{uuid.uuid4().hex[:6]}", kind=workflow.AGENCY,
        state=workflow.SUBMITTED, user_id=user["id"], email=f"{uuid.uuid4().hex[:8]}@dga.or.th",
        details={}, locale="th", created=at - HOUR, updated=at, submitted=at,
        due=at + 24 * HOUR)
    model.Session.add(req)
    model.Session.commit()
    return req


def office(holidays: tuple[str, ...] = (), lead: int = 60) -> officehours.Office:
    weekdays, opens, closes = officehours.parse("mon-fri 08:30-16:30")
    return officehours.Office(weekdays, opens, closes,
                              frozenset(datetime.date.fromisoformat(d) for d in holidays),
                              zoneinfo.ZoneInfo("Asia/Bangkok"),
                              datetime.timedelta(minutes=lead))


class TestOfficeHours:
    @pytest.mark.parametrize(("spec", "days", "opens", "closes"), [
        ("mon-fri 08:30-16:30", {0, 1, 2, 3, 4}, "08:30", "16:30"),
        ("Sat 09:00-12:00", {5}, "09:00", "12:00"),
        ("fri - mon 7:00 - 19:15", {4, 5, 6, 0}, "07:00", "19:15"),
    ])
    def test_days_and_hours_are_read(self, spec, days, opens, closes):
        weekdays, o, c = officehours.parse(spec)
        assert (weekdays, o.strftime("%H:%M"), c.strftime("%H:%M")) == (days, opens, closes)

    @pytest.mark.parametrize("spec", [
        "", "mon-fri", "monday-friday 08:30-16:30", "mon-fri 8-16", "mon-fri 16:30-08:30",
        "mon-fri 08:30-08:30", "xyz 08:00-09:00", "mon-fri 25:00-26:00", "mon-fri 08:30-16:30 x",
    ])
    def test_anything_else_is_refused_with_a_reason(self, spec):
        with pytest.raises(ValueError, match="office|day|hour|must"):
            officehours.parse(spec)
        if spec:  # the option's validator: CKAN refuses to start with it
            with pytest.raises(tk.Invalid):
                validators.dgaaccounts_office_hours(spec, {})

    def test_bad_holidays_are_refused(self):
        assert validators.dgaaccounts_office_holidays(["2027-04-13"], {}) == ["2027-04-13"]
        with pytest.raises(tk.Invalid):
            validators.dgaaccounts_office_holidays(["13/04/2027"], {})

    @staticmethod
    def moment(since: str, **kw) -> datetime.datetime:
        at = ict(since)
        return officehours.escalation_moment(at + 19 * HOUR + 12 * MINUTE, at, at + 24 * HOUR,
                                             office(**kw))

    def test_a_threshold_with_an_hour_of_opening_time_after_it_stays(self):
        # Tuesday 10:00: the threshold is Wednesday 05:12, but 08:30-10:00 is left before the due.
        assert self.moment("2026-12-01 10:00") == ict("2026-12-02 05:12")
        assert self.moment("2026-12-01 14:00") == ict("2026-12-02 09:12")  # in opening hours

    def test_an_early_due_leaves_too_little_so_the_evening_before(self):
        # Monday 09:00 is due Tuesday 09:00: half an hour of Tuesday, the other half on Monday.
        assert self.moment("2026-12-07 09:00") == ict("2026-12-07 16:00")

    def test_a_threshold_in_the_last_hour_comes_to_the_lead(self):
        # Tuesday 21:00 is due Wednesday 21:00: at 16:12 only 18 minutes would be left.
        assert self.moment("2026-12-01 21:00") == ict("2026-12-02 15:30")
        assert self.moment("2026-12-01 21:00", lead=0) == ict("2026-12-02 16:12")

    def test_friday_morning_escalates_friday_afternoon_not_on_saturday(self):
        assert self.moment("2026-12-04 10:00") == ict("2026-12-04 15:30")

    def test_submitted_within_the_lead_escalates_at_once(self):
        assert self.moment("2026-12-04 16:00") == ict("2026-12-04 16:00")

    def test_no_opening_before_the_due_keeps_the_threshold(self):
        since = ict("2026-12-04 20:00")  # Friday night, due Saturday night: nobody at work
        threshold = since + 19 * HOUR + 12 * MINUTE
        assert self.moment("2026-12-04 20:00") == threshold
        assert officehours.escalation_moment(threshold, since, since + 24 * HOUR,
                                             None) == threshold

    def test_a_holiday_counts_as_closed(self):
        # Monday 14:00, due Tuesday 14:00; with Tuesday a holiday, Monday 15:30.
        assert self.moment("2026-12-07 14:00") == ict("2026-12-08 09:12")
        assert self.moment("2026-12-07 14:00", holidays=("2026-12-08",)) == ict("2026-12-07 15:30")


@pytest.mark.usefixtures("with_request_context")
@pytest.mark.ckan_config("ckan.display_timezone", "Asia/Bangkok")
class TestEscalationInOfficeHours:
    @pytest.mark.ckan_config("ckanext.dgaaccounts.office_hours", "mon-fri 08:30-16:30")
    @pytest.mark.ckan_config("ckanext.dgaaccounts.office_holidays", "2026-12-10")
    def test_a_holiday_from_the_options(self, admins):
        # Wednesday 14:00 is due Thursday 14:00, a holiday: two hours before Wednesday's closing.
        wednesday = submitted_at(ict("2026-12-09 14:00"))
        assert escalation.escalate(now=ict("2026-12-09 14:29")) == []
        assert [i["id"] for i in escalation.escalate(now=ict("2026-12-09 14:30"))] == [
            wednesday.id]

    @pytest.mark.ckan_config("ckanext.dgaaccounts.office_hours", "mon-fri 08:30-16:30")
    def test_the_run_escalates_at_the_moment_brought_forward(self, admins):
        # Plain threshold: Saturday 05:12; two hours (the default lead) before Friday's closing.
        friday = submitted_at(ict("2026-12-04 10:00"))
        assert escalation.escalate(now=ict("2026-12-04 14:29")) == []
        [item] = escalation.escalate(now=ict("2026-12-04 14:30"))
        assert (item["id"], item["reason"]) == (friday.id, "threshold")
        assert item["threshold"] == ict("2026-12-04 14:30")
        [event] = audited()
        assert event.details["threshold"] == ict("2026-12-04 14:30").isoformat()
        assert escalation.escalate(now=ict("2026-12-05 05:12")) == []  # once

    def test_without_office_hours_the_plain_threshold(self, admins):
        friday = submitted_at(ict("2026-12-04 10:00"))
        assert escalation.escalate(now=ict("2026-12-04 14:30")) == []
        assert escalation.escalate(now=ict("2026-12-05 05:11")) == []
        assert [i["id"] for i in escalation.escalate(now=ict("2026-12-05 05:12"))] == [friday.id]
