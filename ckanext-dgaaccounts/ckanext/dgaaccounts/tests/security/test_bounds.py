"""Numbers and dates out of range are input errors, never a 500 (issue 11, class 7).

A table of extreme numbers and dates swept over every action that takes a number or a date
(``ValidationError`` on that field: 409 over the API) and over every page and export with a query
argument (400, or the page with the error explained), each followed by an anonymous request that
must still answer 200: an error never leaves the worker's database session in a failed
transaction. The last test causes a real database error inside a page (a row-level security
policy whose function raises) and checks the session is rolled back for the next request.
"""
from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import exports
from ckanext.dgaaccounts.tests.security.conftest import (
    Baseline, as_user, developer_request, reuse,
)

pytestmark = pytest.mark.usefixtures("plugin_loaded", "_no_rate_limit")

NUMBERS: list[Any] = [2**63, 2**63 - 1, 2**64, 2**31, -(2**63), -1, 10**30, 1e23, "1e23",
                      "9" * 30, "9" * 5000, 1.5, float("inf"), float("nan"), True, "", " 7 ",
                      "٣", "0x10", [1], {"n": 1}, None]
NUMBERS_OK = [" 7 ", "", None]  # digits with spaces, and nothing: taken (7, the default)
DATES: list[Any] = ["9999-12-31", "0001-01-01", "0001-01-01T00:00+05:00",
                    "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00Z", "2026-02-30",
                    "2026-13-01", "+20260-01-01", "99999-01-01", "1899-12-31", "3000-01-01",
                    "2026-01-01T25:00", "2026", 20260101, 1.5e9, True, ["2026-01-01"],
                    {"y": 2026}, "2026-01-01\x00", "ก" * 300]


class World(Baseline):
    def __init__(self) -> None:
        self.sysadmin = factories.Sysadmin(name="bounds_root")["name"]
        self.token = factories.APIToken(user=self.sysadmin)["token"]
        developer_request("bounds_dev", "bounds.dev@example.com")  # a request, audit events
        self.remember()


@pytest.fixture
def world(request, world_cache) -> World:
    return reuse(request, world_cache, "world", World)


# -- actions ------------------------------------------------------------------------------------

NUMBER_FIELDS = [("dgaaccounts_request_list", "limit"), ("dgaaccounts_request_list", "offset"),
                 ("dgaaccounts_audit_list", "limit"), ("dgaaccounts_audit_list", "offset")]
DATE_FIELDS = [("dgaaccounts_audit_list", "since"), ("dgaaccounts_audit_list", "until"),
               ("dgaaccounts_sla_report", "since"), ("dgaaccounts_sla_report", "until"),
               ("requests_csv", "since"), ("requests_csv", "until"),
               ("audit_csv", "since"), ("audit_csv", "until")]


def _call(world: World, action: str, data: dict[str, Any]) -> Any:
    context = as_user(world.sysadmin)
    if action.endswith("_csv"):
        export = getattr(exports, action)(context, data)
        return b"".join(c if isinstance(c, bytes) else c.encode() for c in export.chunks)
    return helpers.call_action(action, context=context, **data)


def _anonymous_still_works(app: Any) -> None:
    assert app.get("/dataset/").status_code == 200
    assert app.get("/api/3/action/status_show").status_code == 200


@pytest.mark.parametrize(("action", "field"), NUMBER_FIELDS)
def test_extreme_numbers_are_field_errors(world, module_app, action, field):
    for value in NUMBERS:
        if any(value is ok or value == ok for ok in NUMBERS_OK if isinstance(value, str)
               or value is None):
            _call(world, action, {field: value})
            continue
        with pytest.raises(tk.ValidationError) as error:
            _call(world, action, {field: value})
        assert set(error.value.error_dict) == {field}, (value, error.value.error_dict)
    for value in (0, 2**31 - 1, "2147483647"):  # the largest is allowed, and answers
        result = _call(world, action, {field: value})
        assert result["count"] >= len(result["results"]) >= 0
    _anonymous_still_works(module_app)


@pytest.mark.parametrize(("action", "field"), DATE_FIELDS)
def test_extreme_dates_are_field_errors(world, module_app, action, field):
    for value in DATES:
        with pytest.raises(tk.ValidationError) as error:
            _call(world, action, {field: value})
        assert set(error.value.error_dict) == {field}, (value, error.value.error_dict)
    # The edges of the range answer (a year: the report takes ten years at most).
    for first, last in (("1900-01-01", "1900-12-31"), ("2999-01-01", "2999-12-31")):
        _call(world, action, {"since": first, "until": last})
    _anonymous_still_works(module_app)


def test_the_widest_ranges_answer(world):
    assert _call(world, "dgaaccounts_audit_list", {
        "since": "1900-01-01T00:00+14:00", "until": "2999-12-31T23:59:59-12:00"})["count"] >= 0
    _call(world, "requests_csv", {"since": "1900-01-01", "until": "2999-12-31"})
    with pytest.raises(tk.ValidationError) as error:  # the report's own limit: ten years
        _call(world, "dgaaccounts_sla_report", {"since": "1900-01-01", "until": "2999-12-31"})
    assert set(error.value.error_dict) == {"until"}


def test_over_the_api_an_extreme_number_is_a_409(world, module_app):
    headers = {"Authorization": world.token}
    for action, field in NUMBER_FIELDS:
        for value in (2**63, 10**30, 1e23, -1):
            resp = module_app.post(f"/api/3/action/{action}", json={field: value},
                                   headers=headers)
            assert resp.status_code == 409, (action, field, value, resp.body)
            assert field in resp.json["error"]
    for action, field in (("dgaaccounts_audit_list", "since"),
                          ("dgaaccounts_sla_report", "until")):
        for value in ("9999-12-31", "0001-01-01T00:00+05:00", 20260101):
            resp = module_app.post(f"/api/3/action/{action}", json={field: value},
                                   headers=headers)
            assert resp.status_code == 409, (action, field, value, resp.body)
            assert field in resp.json["error"]
    _anonymous_still_works(module_app)


# -- pages and exports ------------------------------------------------------------------------

PAGES = {  # page -> its query arguments
    "/ckan-admin/dgaaccounts/": ["page", "kind", "state", "q", "overdue"],
    "/ckan-admin/dgaaccounts/audit": ["page", "since", "until", "request_id", "actor"],
    "/ckan-admin/dgaaccounts/report": ["since", "until", "period"],
    "/ckan-admin/dgaaccounts/export/requests.csv": ["since", "until", "by", "kind"],
    "/ckan-admin/dgaaccounts/export/audit.csv": ["since", "until", "action"],
    "/ckan-admin/dgaaccounts/export/organizations.csv": ["since", "until"],
}
PAGE_VALUES = ["1e23", str(2**63), "9" * 5000, "-1", "0", "abc", "٣", "9999-12-31",
               "0001-01-01T00:00+05:00", "9999-12-31T23:59:59-05:00", "2026-02-30"]


@pytest.mark.parametrize("page", list(PAGES))
def test_pages_answer_extreme_arguments_with_an_error_never_a_500(world, module_app, page):
    headers = {"Authorization": world.token}
    for arg in PAGES[page]:
        for value in PAGE_VALUES:
            resp = module_app.get(page, query_string={arg: value}, headers=headers)
            assert resp.status_code in (200, 400), (page, arg, value, resp.status_code)
            if resp.status_code == 400:
                assert "The page number must be a whole number" in resp.body
        assert module_app.get("/dataset/").status_code == 200


@pytest.mark.parametrize("value", ["1e23", str(2**63), "0", "-1", "abc", "9" * 5000, "٣"])
@pytest.mark.parametrize("page", ["/ckan-admin/dgaaccounts/", "/ckan-admin/dgaaccounts/audit"])
def test_a_page_number_out_of_range_is_a_400(world, module_app, page, value):
    resp = module_app.get(page, query_string={"page": value},
                          headers={"Authorization": world.token})
    assert resp.status_code == 400
    assert "The page number must be a whole number from 1 to 1000000." in resp.body
    assert module_app.get(page, query_string={"page": "1000000"},
                          headers={"Authorization": world.token}).status_code == 200


def test_out_of_range_dates_on_the_pages_are_explained(world, module_app):
    headers = {"Authorization": world.token}
    for page in ("audit", "report", "export/audit.csv", "export/requests.csv",
                 "export/organizations.csv"):
        resp = module_app.get(f"/ckan-admin/dgaaccounts/{page}?until=9999-12-31",
                              headers=headers)
        assert resp.status_code == 200, page
        assert "Enter a date from 1900-01-01 to 2999-12-31." in resp.body, page


# -- a database error inside a page ------------------------------------------------------------

def _failing_reads(table: str, on: bool) -> None:
    """PostgreSQL fails every read of ``table``: a row-level security policy whose function
    raises (a real database error, as a broken index or a lost connection would give)."""
    model.Session.rollback()
    with model.meta.engine.begin() as conn:
        if on:
            conn.execute(sa.text(
                "CREATE OR REPLACE FUNCTION dgaaccounts_test_fail_read() RETURNS boolean AS $$ "
                "BEGIN RAISE EXCEPTION 'injected read failure'; END $$ LANGUAGE plpgsql"))
            conn.execute(sa.text(
                f"CREATE POLICY dgaaccounts_test_fail ON {table} USING "
                "(dgaaccounts_test_fail_read())"))
            conn.execute(sa.text(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
            conn.execute(sa.text(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY"))
        else:
            conn.execute(sa.text(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY"))
            conn.execute(sa.text(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"))
            conn.execute(sa.text(f"DROP POLICY IF EXISTS dgaaccounts_test_fail ON {table}"))


@pytest.mark.parametrize("page", ["/ckan-admin/dgaaccounts/", "/ckan-admin/dgaaccounts/audit",
                                  "/ckan-admin/dgaaccounts/report"])
def test_after_a_database_error_in_a_page_the_next_request_works(world, module_app, page):
    headers = {"Authorization": world.token}
    table = "dgaaccounts_audit" if page.endswith("audit") else "dgaaccounts_request"
    _failing_reads(table, True)
    try:
        try:
            status = module_app.get(page, headers=headers).status_code
        except Exception:  # noqa: BLE001 - without a handler, the test app raises it
            status = 500
        assert status == 500
        # The same worker (this thread, its scoped session) answers the next requests.
        _anonymous_still_works(module_app)
    finally:
        _failing_reads(table, False)
    assert module_app.get(page, headers=headers).status_code == 200
    _anonymous_still_works(module_app)
