"""The service report on a generated history (real PostgreSQL; times injected).

Every expected figure below is computed by hand from the history, with the definitions of
``reports`` (linear interpolation between closest ranks: the ``p`` percentile of ``n`` sorted
values sits at position ``p * (n - 1)``).
"""
from __future__ import annotations

import datetime
import uuid

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import config, reports
from ckanext.dgaaccounts.model import Request

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db", "with_request_context"),
]

H = 3600.0
AGENCY, DEVELOPER = "agency_registration", "developer_registration"
CANCELLATION, SUSPENSION = "cancellation", "suspension"
NOW = datetime.datetime(2026, 3, 4, 12, 0)  # a Wednesday
FEB_SINCE, FEB_UNTIL = datetime.date(2026, 2, 2), datetime.date(2026, 3, 1)  # Monday..Sunday


def at(day: int, hour: float = 9, month: int = 2) -> datetime.datetime:
    return datetime.datetime(2026, month, day) + datetime.timedelta(hours=hour)


def make(kind: str, state: str, *, created: datetime.datetime | None = None,
         submitted: datetime.datetime | None = None, decided_after: float | None = None,
         user_id: str | None = None) -> Request:
    """A request row as the workflow leaves it: due from the kind's target, decided after
    ``decided_after`` hours from the start of its clock."""
    created = created or (submitted - datetime.timedelta(hours=1))
    due = submitted + config.service_time(kind) if submitted else None
    start = created if kind == DEVELOPER else submitted
    decided = start + datetime.timedelta(hours=decided_after) if decided_after is not None \
        else None
    req = Request(
        reference=f"T-{uuid.uuid4().hex[:12]}", kind=kind, state=state,
        user_id=user_id or factories.User()["id"], email=f"{uuid.uuid4().hex}@dga.or.th",
        details={}, locale="en", created=created, updated=decided or submitted or created,
        submitted=submitted, due=due, decided=decided,
    )
    model.Session.add(req)
    model.Session.commit()
    return req


@pytest.fixture
def history():
    """Agency: 1h, 2h, 3h, 4h (rejected) and 30h in February; one in January and one in March.
    Cancellation: 10h, 20h (approved) and 25h (rejected). Developers, from sign-up to verified:
    30 s, 60 s, 90 s and 600 s. No suspension decided. Plus open and closed requests that are
    not decisions."""
    make(AGENCY, "approved", submitted=at(2), decided_after=1)
    make(AGENCY, "approved", submitted=at(3), decided_after=2)
    make(AGENCY, "approved", submitted=at(10), decided_after=3)
    make(AGENCY, "rejected", submitted=at(11), decided_after=4)
    make(AGENCY, "approved", submitted=at(16), decided_after=30)  # late: due after 24 h
    make(AGENCY, "approved", submitted=at(29, month=1), decided_after=5)  # January 29
    make(AGENCY, "approved", submitted=at(2, month=3), decided_after=6)  # March 2

    make(CANCELLATION, "approved", submitted=at(4), decided_after=10)
    make(CANCELLATION, "approved", submitted=at(5), decided_after=20)
    make(CANCELLATION, "rejected", submitted=at(12), decided_after=25)  # late

    for seconds, day in ((30, 6), (60, 13), (90, 13), (600, 20)):  # the last one is late
        make(DEVELOPER, "approved", created=at(day), decided_after=seconds / H)

    # Not decisions: a return (it sets "decided") and a withdrawal; both closed or waiting.
    make(AGENCY, "returned", submitted=at(18), decided_after=2)
    make(AGENCY, "withdrawn", submitted=at(19))

    # Open now (NOW = March 4, 12:00).
    make(AGENCY, "submitted", submitted=NOW - datetime.timedelta(hours=30))  # overdue
    make(AGENCY, "submitted", submitted=NOW - datetime.timedelta(hours=2))  # due later today
    make(AGENCY, "awaiting_document", created=NOW - datetime.timedelta(days=1))
    make(SUSPENSION, "submitted", submitted=NOW - datetime.timedelta(hours=25))  # overdue
    make(DEVELOPER, "awaiting_verification", created=NOW - datetime.timedelta(minutes=10))
    make(DEVELOPER, "awaiting_verification", created=NOW - datetime.timedelta(minutes=1))


def by_kind(result: dict) -> dict[str, dict]:
    return {k["kind"]: k for k in result["kinds"]}


class TestDefinitions:
    def test_percentiles_interpolate_between_closest_ranks(self, history):
        kinds = by_kind(reports.sla_report(FEB_SINCE, FEB_UNTIL, "week", now=NOW))
        agency = kinds[AGENCY]
        # 1, 2, 3, 4, 30 h: median x[2]; p90 at 0.9 * 4 = 3.6 -> 4 + 0.6 * (30 - 4) = 19.6 h.
        assert agency["decided"] == 5
        assert agency["median_seconds"] == pytest.approx(3 * H)
        assert agency["p90_seconds"] == pytest.approx(19.6 * H)
        # 10, 20, 25 h: median 20 h; p90 at 1.8 -> 20 + 0.8 * 5 = 24 h.
        assert kinds[CANCELLATION]["median_seconds"] == pytest.approx(20 * H)
        assert kinds[CANCELLATION]["p90_seconds"] == pytest.approx(24 * H)
        # 30, 60, 90, 600 s: median (60 + 90) / 2; p90 at 2.7 -> 90 + 0.7 * 510 = 447 s.
        assert kinds[DEVELOPER]["median_seconds"] == pytest.approx(75)
        assert kinds[DEVELOPER]["p90_seconds"] == pytest.approx(447)

    def test_within_target_is_decided_by_the_due_time(self, history):
        kinds = by_kind(reports.sla_report(FEB_SINCE, FEB_UNTIL, "week", now=NOW))
        assert (kinds[AGENCY]["within_target"], kinds[AGENCY]["within_target_share"]) == (4, 0.8)
        assert kinds[CANCELLATION]["decided"] == 3
        assert kinds[CANCELLATION]["within_target"] == 2
        assert kinds[CANCELLATION]["within_target_share"] == pytest.approx(2 / 3)
        # Developers: 5 minutes from sign-up (no stored due time).
        assert (kinds[DEVELOPER]["decided"], kinds[DEVELOPER]["within_target"]) == (4, 3)
        assert kinds[DEVELOPER]["target_seconds"] == 300
        assert kinds[AGENCY]["target_seconds"] == 24 * H

    def test_a_decision_exactly_at_the_due_time_is_within_target(self):
        make(AGENCY, "approved", submitted=at(2), decided_after=24)
        make(DEVELOPER, "approved", created=at(2), decided_after=5 / 60)
        kinds = by_kind(reports.sla_report(FEB_SINCE, FEB_UNTIL, now=NOW))
        assert kinds[AGENCY]["within_target"] == 1
        assert kinds[DEVELOPER]["within_target"] == 1

    def test_no_decision_means_no_share_and_no_percentile(self, history):
        suspension = by_kind(reports.sla_report(FEB_SINCE, FEB_UNTIL, now=NOW))[SUSPENSION]
        assert suspension["decided"] == suspension["within_target"] == 0
        assert suspension["within_target_share"] is None
        assert suspension["median_seconds"] is None
        assert suspension["p90_seconds"] is None

    def test_open_awaiting_and_overdue_are_a_snapshot_at_now(self, history):
        kinds = by_kind(reports.sla_report(FEB_SINCE, FEB_UNTIL, now=NOW))
        # Agency: two submitted (one overdue), one awaiting its document, one returned.
        assert (kinds[AGENCY]["open"], kinds[AGENCY]["awaiting_decision"],
                kinds[AGENCY]["overdue"]) == (4, 2, 1)
        assert (kinds[SUSPENSION]["open"], kinds[SUSPENSION]["overdue"]) == (1, 1)
        # Developers: the clock runs until verification; 10 minutes is past 5.
        assert (kinds[DEVELOPER]["open"], kinds[DEVELOPER]["awaiting_decision"],
                kinds[DEVELOPER]["overdue"]) == (2, 2, 1)
        assert kinds[CANCELLATION]["open"] == 0
        later = by_kind(reports.sla_report(FEB_SINCE, FEB_UNTIL,
                                           now=NOW + datetime.timedelta(hours=23)))
        assert later[AGENCY]["overdue"] == 2
        assert later[DEVELOPER]["overdue"] == 2

    def test_returns_and_withdrawals_are_not_decisions_and_the_range_is_inclusive(self, history):
        kinds = by_kind(reports.sla_report(FEB_SINCE, FEB_UNTIL, now=NOW))
        assert kinds[AGENCY]["decided"] == 5  # not the return of Feb 18 nor Jan 29 / Mar 2
        wider = by_kind(reports.sla_report(datetime.date(2026, 1, 30), datetime.date(2026, 3, 2),
                                           now=NOW))
        # Jan 29 09:00 + 5 h is Jan 29: still out; Mar 2 09:00 + 6 h is on the last day: in.
        assert wider[AGENCY]["decided"] == 6


class TestPeriods:
    def test_weeks_start_on_monday_and_empty_weeks_are_listed(self, history):
        agency = by_kind(reports.sla_report(FEB_SINCE, FEB_UNTIL, "week", now=NOW))[AGENCY]
        weeks = {p["start"]: p for p in agency["periods"]}
        assert list(weeks) == ["2026-02-02", "2026-02-09", "2026-02-16", "2026-02-23"]
        # Week of Feb 2: 1 h, 2 h. Feb 9: 3 h, 4 h. Feb 16: 30 h (late). Feb 23: none.
        assert (weeks["2026-02-02"]["decided"], weeks["2026-02-02"]["within_target"]) == (2, 2)
        assert weeks["2026-02-02"]["median_seconds"] == pytest.approx(1.5 * H)
        assert weeks["2026-02-02"]["p90_seconds"] == pytest.approx(1.9 * H)
        assert weeks["2026-02-09"]["median_seconds"] == pytest.approx(3.5 * H)
        assert weeks["2026-02-09"]["p90_seconds"] == pytest.approx(3.9 * H)
        assert weeks["2026-02-16"] == {
            "start": "2026-02-16", "decided": 1, "within_target": 0, "within_target_share": 0.0,
            "median_seconds": pytest.approx(30 * H), "p90_seconds": pytest.approx(30 * H)}
        assert weeks["2026-02-23"] == {
            "start": "2026-02-23", "decided": 0, "within_target": 0,
            "within_target_share": None, "median_seconds": None, "p90_seconds": None}
        assert sum(p["decided"] for p in agency["periods"]) == agency["decided"]

    def test_months(self, history):
        result = reports.sla_report(datetime.date(2026, 1, 1), datetime.date(2026, 3, 31),
                                    "month", now=NOW)
        agency = by_kind(result)[AGENCY]
        months = {p["start"]: p for p in agency["periods"]}
        assert list(months) == ["2026-01-01", "2026-02-01", "2026-03-01"]
        assert [months[m]["decided"] for m in months] == [1, 5, 1]
        assert months["2026-01-01"]["median_seconds"] == pytest.approx(5 * H)
        assert months["2026-02-01"]["within_target_share"] == pytest.approx(0.8)
        # Developers in February: 30, 60, 90, 600 s.
        developer = {p["start"]: p for p in by_kind(result)[DEVELOPER]["periods"]}
        assert developer["2026-02-01"]["median_seconds"] == pytest.approx(75)

    def test_weeks_and_days_follow_the_portal_time_zone(self, ckan_config, monkeypatch):
        # Sunday Feb 8, 20:00 UTC is Monday Feb 9, 03:00 in Bangkok (UTC+7).
        make(AGENCY, "approved", submitted=at(8, 18), decided_after=2)
        utc = by_kind(reports.sla_report(FEB_SINCE, FEB_UNTIL, now=NOW))[AGENCY]
        assert [p["decided"] for p in utc["periods"]] == [1, 0, 0, 0]
        monkeypatch.setitem(ckan_config, "ckan.display_timezone", "Asia/Bangkok")
        result = reports.sla_report(FEB_SINCE, FEB_UNTIL, now=NOW)
        assert result["timezone"] == "Asia/Bangkok"
        assert [p["decided"] for p in by_kind(result)[AGENCY]["periods"]] == [0, 1, 0, 0]
        # The last day ends at midnight in Bangkok: a decision at Mar 1, 18:00 UTC is Mar 2.
        make(AGENCY, "approved", submitted=at(1, 16, month=3), decided_after=2)
        assert by_kind(reports.sla_report(FEB_SINCE, FEB_UNTIL, now=NOW))[AGENCY][
            "decided"] == 1

    def test_period_starts(self):
        assert reports.period_starts(datetime.date(2026, 2, 4), datetime.date(2026, 2, 16),
                                     "week") == [datetime.date(2026, 2, 2),
                                                 datetime.date(2026, 2, 9),
                                                 datetime.date(2026, 2, 16)]
        assert reports.period_starts(datetime.date(2025, 11, 30), datetime.date(2026, 2, 1),
                                     "month") == [datetime.date(2025, 11, 1),
                                                  datetime.date(2025, 12, 1),
                                                  datetime.date(2026, 1, 1),
                                                  datetime.date(2026, 2, 1)]

    def test_default_range_is_twelve_periods_up_to_today(self):
        today = datetime.date(2026, 3, 4)
        assert reports.default_range("week", today) == (datetime.date(2025, 12, 15), today)
        assert reports.default_range("month", today) == (datetime.date(2025, 4, 1), today)


class TestAction:
    def test_the_action_returns_the_same_figures(self, history):
        admin = factories.Sysadmin()
        result = helpers.call_action(
            "dgaaccounts_sla_report", context={"user": admin["name"], "ignore_auth": False},
            since="2026-02-02", until="2026-03-01", period="week")
        direct = reports.sla_report(FEB_SINCE, FEB_UNTIL, "week")
        for got, expected in zip(result["kinds"], direct["kinds"], strict=True):
            assert got["periods"] == expected["periods"]
            for key in ("decided", "within_target", "median_seconds", "p90_seconds", "open"):
                assert got[key] == expected[key]
        assert (result["since"], result["until"], result["period"]) == (
            "2026-02-02", "2026-03-01", "week")
        assert by_kind(result)[AGENCY]["p90_seconds"] == pytest.approx(19.6 * H)

    def test_one_kind(self, history):
        result = helpers.call_action("dgaaccounts_sla_report", since="2026-02-02",
                                     until="2026-03-01", kind=CANCELLATION)
        assert [k["kind"] for k in result["kinds"]] == [CANCELLATION]

    def test_defaults_are_twelve_weeks_up_to_today(self):
        result = helpers.call_action("dgaaccounts_sla_report")
        assert result["period"] == "week"
        assert result["until"] == datetime.date.today().isoformat()
        assert len(result["kinds"][0]["periods"]) == 12
        months = helpers.call_action("dgaaccounts_sla_report", period="month",
                                     until="2026-03-04")
        assert months["since"] == "2025-04-01"

    @pytest.mark.parametrize(("data", "field"), [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-02-30"}, "until"),
        ({"since": "2026-03-01", "until": "2026-02-01"}, "until"),
        ({"since": "2099-01-01"}, "until"),
        ({"since": "2000-01-01", "until": "2026-01-01"}, "until"),
        ({"period": "day"}, "period"),
        ({"kind": "everything"}, "kind"),
    ])
    def test_bad_input(self, data, field):
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_sla_report", **data)
        assert field in e.value.error_dict

    def test_sysadmins_only(self):
        user = factories.User()
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_sla_report",
                                context={"user": user["name"], "ignore_auth": False})
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_sla_report",
                                context={"user": "", "ignore_auth": False})


class TestServiceTargets:
    def test_one_place_per_kind(self, ckan_config, monkeypatch):
        assert config.service_time(AGENCY) == datetime.timedelta(hours=24)
        assert config.service_time(CANCELLATION) == datetime.timedelta(hours=24)
        assert config.service_time(SUSPENSION) == datetime.timedelta(hours=24)
        assert config.service_time(DEVELOPER) == datetime.timedelta(minutes=5)
        monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.developer_service_minutes", 15)
        assert config.service_time(DEVELOPER) == datetime.timedelta(minutes=15)
        assert config.service_time() == datetime.timedelta(hours=24)

    def test_figures_through_the_workflow_with_time_injected(self, freezer, make_upload):
        """Register, verify, upload and decide through the actions at chosen times."""
        from ckanext.dgaaccounts import tokens
        from ckanext.dgaaccounts.tests.conftest import PDF, registration

        admin = factories.Sysadmin()
        org = factories.Organization()
        decided_after = (2, 26)  # hours: one within 24 h, one late
        for i, hours in enumerate(decided_after):
            freezer.move_to(at(9 + i, 8))
            result = helpers.call_action("dgaaccounts_agency_register", **registration(
                name=f"officer{i}", email=f"officer{i}@dga.or.th"))
            req = model.Session.get(Request, result["request_id"])
            token = tokens.mint(req, tokens.VERIFY)
            model.Session.commit()
            helpers.call_action("dgaaccounts_email_verify", token=token)
            freezer.move_to(at(9 + i, 9))
            helpers.call_action("dgaaccounts_request_document_upload", id=req.id,
                                signed_form=make_upload(PDF, "form.pdf"),
                                context={"user": f"officer{i}", "ignore_auth": True})
            freezer.move_to(at(9 + i, 9 + hours))
            helpers.call_action("dgaaccounts_request_approve", id=req.id,
                                organization=org["id"],
                                context={"user": admin["name"], "ignore_auth": False})
        freezer.move_to(NOW)
        agency = by_kind(helpers.call_action("dgaaccounts_sla_report", since="2026-02-09",
                                             until="2026-02-15"))[AGENCY]
        assert (agency["decided"], agency["within_target"]) == (2, 1)
        assert agency["median_seconds"] == pytest.approx(14 * H)
        assert agency["p90_seconds"] == pytest.approx((2 + 0.9 * 24) * H)
