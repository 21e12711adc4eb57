"""CSV exports of requests and of the audit log: content, filters, and bounded memory."""
from __future__ import annotations

import csv
import datetime
import io
import json
import sys
import tracemalloc
import uuid

import pytest
import sqlalchemy as sa

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories

from ckanext.dgaaccounts import exports, workflow
from ckanext.dgaaccounts.model import Request

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db", "with_request_context"),
]

SITE = {"ignore_auth": True}


def read(export: exports.Export) -> list[dict[str, str]]:
    text = "".join(export.chunks)
    assert text.startswith(exports.BOM)
    return list(csv.DictReader(io.StringIO(text[1:])))


def make(state: str, *, kind: str = "agency_registration", created: datetime.datetime,
         decided_after: float | None = None, user: dict | None = None,
         note: str | None = None) -> Request:
    submitted = created + datetime.timedelta(hours=1)
    decided = submitted + datetime.timedelta(hours=decided_after) if decided_after else None
    req = Request(
        reference=f"T-{uuid.uuid4().hex[:10]}", kind=kind, state=state,
        user_id=(user or factories.User())["id"], email=f"{uuid.uuid4().hex[:8]}@dga.or.th",
        details={"agency_name": "กรมตัวอย่าง"}, locale="th", created=created, updated=created,
        submitted=submitted, due=submitted + datetime.timedelta(hours=24), decided=decided,
        decision_note=note,
    )
    model.Session.add(req)
    model.Session.commit()
    return req


class TestRequests:
    def test_columns_values_and_thai_text(self):
        user = factories.User(name="somchai", fullname="สมชาย ใจดี")
        req = make("approved", created=datetime.datetime(2026, 2, 2, 8), decided_after=3.5,
                   user=user, note="ครบถ้วน")
        [row] = read(exports.requests_csv(SITE, {}))
        assert list(row) == list(exports.REQUEST_COLUMNS)
        assert row["reference"] == req.reference
        assert (row["kind"], row["state"]) == ("agency_registration", "approved")
        assert (row["username"], row["fullname"]) == ("somchai", "สมชาย ใจดี")
        assert row["agency_name"] == "กรมตัวอย่าง"
        assert row["created_utc"] == "2026-02-02 08:00:00"
        assert row["submitted_utc"] == "2026-02-02 09:00:00"
        assert row["due_utc"] == "2026-02-03 09:00:00"
        assert row["decided_utc"] == "2026-02-02 12:30:00"
        assert (row["hours_to_decision"], row["within_target"]) == ("3.50", "true")
        assert row["decision_note"] == "ครบถ้วน"

    def test_late_open_and_returned_requests(self):
        make("approved", created=datetime.datetime(2026, 2, 2, 8), decided_after=30)
        make("submitted", created=datetime.datetime(2026, 2, 3, 8))
        make("returned", created=datetime.datetime(2026, 2, 4, 8), decided_after=2)
        rows = read(exports.requests_csv(SITE, {}))
        assert [(r["state"], r["hours_to_decision"], r["within_target"]) for r in rows] == [
            ("approved", "30.00", "false"), ("submitted", "", ""), ("returned", "", "")]

    def test_range_by_created_submitted_or_decided_and_kind(self):
        make("approved", created=datetime.datetime(2026, 1, 31, 23), decided_after=48)
        make("approved", created=datetime.datetime(2026, 2, 1, 0), decided_after=1,
             kind="cancellation")
        make("approved", created=datetime.datetime(2026, 2, 28, 23, 59), decided_after=1)

        def created(**params):
            return [r["created_utc"] for r in read(exports.requests_csv(SITE, params))]

        feb = {"since": "2026-02-01", "until": "2026-02-28"}
        assert created(**feb) == ["2026-02-01 00:00:00", "2026-02-28 23:59:00"]
        # Decided Feb 1, 02:00 and Feb 2, 00:00 (in that order); the third on Mar 1.
        assert created(**feb, by="decided") == ["2026-02-01 00:00:00", "2026-01-31 23:00:00"]
        assert created(**feb, by="submitted") == ["2026-01-31 23:00:00", "2026-02-01 00:00:00"]
        assert created(**feb, kind="cancellation") == ["2026-02-01 00:00:00"]
        assert created(since="2026-02-01T00:00:01") == ["2026-02-28 23:59:00"]
        assert len(created()) == 3

    def test_spreadsheet_formulas_are_defused(self):
        user = factories.User(fullname="=HYPERLINK(\"http://evil\")")
        make("approved", created=datetime.datetime(2026, 2, 2), decided_after=1, user=user,
             note="+cmd|' /C calc'!A0")
        [row] = read(exports.requests_csv(SITE, {}))
        assert row["fullname"] == "'=HYPERLINK(\"http://evil\")"
        assert row["decision_note"].startswith("'+cmd")

    @pytest.mark.parametrize(("params", "field"), [
        ({"since": "last week"}, "since"),
        ({"since": "2026-03-01", "until": "2026-02-01"}, "until"),
        ({"by": "updated"}, "by"),
        ({"kind": "x"}, "kind"),
    ])
    def test_bad_filters_are_refused_before_any_output(self, params, field):
        with pytest.raises(tk.ValidationError) as e:
            exports.requests_csv(SITE, params)
        assert field in e.value.error_dict

    def test_sysadmins_only(self):
        user = factories.User()
        with pytest.raises(tk.NotAuthorized):
            exports.requests_csv({"user": user["name"]}, {})
        with pytest.raises(tk.NotAuthorized):
            exports.audit_csv({"user": ""}, {})
        admin = factories.Sysadmin()
        assert read(exports.requests_csv({"user": admin["name"]}, {})) == []

    def test_filename_names_the_range(self):
        export = exports.requests_csv(SITE, {"since": "2026-01-01", "until": "2026-12-31"})
        assert export.filename == "dgaaccounts-requests-2026-01-01-2026-12-31.csv"
        assert exports.audit_csv(SITE, {}).filename == "dgaaccounts-audit.csv"


class TestAudit:
    def test_events_with_names_references_and_filters(self):
        admin = factories.Sysadmin(name="admin_a")
        other = factories.User(name="officer_b")
        req = make("submitted", created=datetime.datetime(2026, 2, 2, 8), user=other)
        workflow.transition(req, "approve", admin["id"], note="=ok")
        workflow.audit("reactivate", admin["id"], target_user_id=other["id"])
        model.Session.commit()
        rows = read(exports.audit_csv(SITE, {}))
        assert list(rows[0]) == list(exports.AUDIT_COLUMNS)
        assert [r["action"] for r in rows] == ["approve", "reactivate"]  # oldest first
        approve = rows[0]
        assert (approve["actor"], approve["target_user"]) == ("admin_a", "officer_b")
        assert (approve["request_reference"], approve["request_id"]) == (req.reference, req.id)
        assert (approve["from_state"], approve["to_state"]) == ("submitted", "approved")
        assert json.loads(approve["details"]) == {"note": "=ok"}
        assert rows[1]["request_reference"] == ""
        assert [r["action"] for r in read(exports.audit_csv(SITE, {"request_id": req.reference}))
                ] == ["approve"]
        assert len(read(exports.audit_csv(SITE, {"actor": "admin_a"}))) == 2
        assert len(read(exports.audit_csv(SITE, {"user_id": "officer_b"}))) == 2
        assert len(read(exports.audit_csv(SITE, {"action": "reactivate"}))) == 1
        today = datetime.date.today()
        assert len(read(exports.audit_csv(SITE, {"since": today.isoformat(),
                                                 "until": today.isoformat()}))) == 2
        yesterday = (today - datetime.timedelta(days=1)).isoformat()
        assert read(exports.audit_csv(SITE, {"until": yesterday})) == []


# -- a year of requests in bounded memory ----------------------------------------------------

ROWS = 100_000


def _generate_requests(user_id: str) -> None:
    """A year of decided requests (one every five minutes), written by PostgreSQL itself."""
    model.Session.execute(sa.text("""
        INSERT INTO dgaaccounts_request (id, reference, kind, state, user_id, email, details,
            locale, created, updated, submitted, due, decided, decision_note)
        SELECT md5(i::text), 'DGA-2025-' || lpad(i::text, 6, '0'), 'agency_registration',
            'approved', :user_id, 'officer' || i || '@dga.or.th',
            '{"agency_name": "สำนักงานพัฒนารัฐบาลดิจิทัล"}', 'th', ts, ts,
            ts + interval '1 hour', ts + interval '25 hours', ts + interval '3 hours',
            'อนุมัติตามแบบฟอร์มที่ลงนามแล้ว'
        FROM generate_series(0, :n - 1) i,
             LATERAL (SELECT timestamp '2025-01-01' + i * interval '5 minutes' AS ts) t
    """), {"user_id": user_id, "n": ROWS})
    model.Session.commit()


def _status(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    try:  # Linux: "5" resets VmHWM, the peak resident set size, to the current size.
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


def test_a_year_of_requests_streams_in_bounded_memory(capsys):
    _generate_requests(factories.User()["id"])
    model.Session.remove()
    export = exports.requests_csv(SITE, {"since": "2025-01-01", "until": "2025-12-31"})
    measure_rss = _reset_peak_rss()
    rss_before = _status("VmRSS")
    tracemalloc.start()
    size = lines = largest = 0
    try:
        for chunk in export.chunks:
            size += len(chunk.encode("utf-8"))
            lines += chunk.count("\r\n")
            largest = max(largest, len(chunk))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_peak = _status("VmHWM") if measure_rss else None

    assert lines == ROWS + 1  # and the header
    assert size > 20_000_000  # the CSV is large...
    assert peak < 16_000_000  # ...the Python heap stays small: rows are never all held,
    assert largest < 1_000_000  # and it goes out in batches.
    if rss_peak is not None and rss_before is not None:
        # Without a server-side cursor libpq would hold every row (about 400 MB measured).
        assert rss_peak - rss_before < 64_000_000
    with capsys.disabled():
        rss = f"{(rss_peak - rss_before) / 1e6:.1f} MB" if rss_peak and rss_before else "n/a"
        print(f"\n[export] {ROWS} rows, {size / 1e6:.1f} MB of CSV: tracemalloc peak "
              f"{peak / 1e6:.2f} MB, peak RSS growth {rss}", file=sys.stderr)


BAD_TEXT = ["a\x00b", "\udcff", "x" * 201, ["a"], {"a": 1}, 12]


@pytest.mark.parametrize("field", ["request_id", "user_id", "actor", "action"])
@pytest.mark.parametrize("value", BAD_TEXT, ids=["nul", "surrogate", "long", "list", "dict",
                                                 "int"])
def test_bad_filters_are_validation_errors_never_500(field, value):
    """The audit list, its export and the report answer a 409 on anything a JSON body carries."""
    from ckan.tests import helpers

    # Not text (a list, a dict, a number) is refused too, before CKAN's unicode_safe could
    # make text of it (issue 11, class 8).
    with pytest.raises(tk.ValidationError) as e:
        helpers.call_action("dgaaccounts_audit_list", **{field: value})
    assert field in e.value.error_dict
    with pytest.raises(tk.ValidationError):
        exports.audit_csv(SITE, {field: value})


@pytest.mark.parametrize("value", ["2026-02-0\x00", "\udcff", ["2026-01-01"], {"d": 1}, 2026],
                         ids=["nul", "surrogate", "list", "dict", "int"])
@pytest.mark.parametrize("field", ["since", "until"])
def test_bad_dates_are_validation_errors_never_500(field, value):
    from ckan.tests import helpers

    for action in ("dgaaccounts_audit_list", "dgaaccounts_sla_report"):
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action(action, **{field: value})
        assert field in e.value.error_dict
    with pytest.raises(tk.ValidationError):
        exports.requests_csv(SITE, {field: value})


@pytest.mark.parametrize("value", [["week"], {"p": 1}, "\x00", 7])
def test_bad_report_period_or_kind_is_a_validation_error(value):
    from ckan.tests import helpers

    for field in ("period", "kind"):
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_sla_report", **{field: value})
        assert field in e.value.error_dict
