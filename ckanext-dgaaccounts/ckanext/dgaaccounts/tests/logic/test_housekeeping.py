"""The housekeeping actions (logic/housekeeping.py): what cron and the CLI run, through the
action layer and its auth functions (the auth matrix in test_auth.py covers who may call them);
the CLI's output is tested in tests/test_operations_cli.py."""
from __future__ import annotations

import csv
import datetime
import io
import json

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts.logic import housekeeping
from ckanext.dgaaccounts.model import Request, utcnow
from ckanext.dgaaccounts.tests.conftest import registration

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db"),
]
in_request = pytest.mark.usefixtures("with_request_context")


def as_sysadmin() -> dict[str, object]:
    return {"user": factories.Sysadmin()["name"], "ignore_auth": False}


@in_request
def test_expire_counts_and_removes_the_stale_registration():
    helpers.call_action("dgaaccounts_agency_register", **registration())
    context = as_sysadmin()
    assert helpers.call_action("dgaaccounts_registrations_expire", context=dict(context)) == {
        "expired": 0}
    model.Session.query(Request).update({"created": utcnow() - datetime.timedelta(days=3)})
    model.Session.commit()
    assert helpers.call_action("dgaaccounts_registrations_expire", context=dict(context)) == {
        "expired": 1}
    assert model.User.by_name("somchai") is None
    assert helpers.call_action("dgaaccounts_accounts_scrub", context=dict(context)) == {
        "scrubbed": 0}


@in_request
def test_purge_and_remind_results_are_json_and_dry_run_is_checked():
    context = as_sysadmin()
    for action in ("dgaaccounts_documents_purge", "dgaaccounts_reminders_send"):
        result = helpers.call_action(action, context=dict(context), dry_run=True)
        json.dumps(result)  # the API answers with it
        for bad in (["yes"], 2, "maybe"):
            with pytest.raises(tk.ValidationError) as e:
                helpers.call_action(action, context=dict(context), dry_run=bad)
            assert list(e.value.error_dict) == ["dry_run"]
    assert helpers.call_action("dgaaccounts_documents_purge", context=dict(context)) == {
        "documents": []}
    assert helpers.call_action("dgaaccounts_reminders_send", context=dict(context)) == {
        "overdue": [], "due_soon": [], "emails": 0}


class TestExports:
    @in_request
    def test_the_api_gets_the_text_the_pages_stream(self):
        result = helpers.call_action("dgaaccounts_agency_register", **registration())
        reference = model.Session.get(Request, result["request_id"]).reference
        context = as_sysadmin()
        whole = helpers.call_action("dgaaccounts_requests_export", context=dict(context),
                                    kind="agency_registration")
        streamed = helpers.call_action("dgaaccounts_requests_export",
                                       context={**context, housekeeping.STREAM: True},
                                       kind="agency_registration")
        assert whole["filename"] == streamed["filename"] == "dgaaccounts-requests.csv"
        assert whole["csv"] == "".join(streamed["chunks"])
        rows = list(csv.DictReader(io.StringIO(whole["csv"].lstrip("\ufeff"))))
        assert [r["reference"] for r in rows] == [reference]
        audit = helpers.call_action("dgaaccounts_audit_export", context=dict(context),
                                    request_id=reference)
        rows = list(csv.DictReader(io.StringIO(audit["csv"].lstrip("\ufeff"))))
        assert [r["action"] for r in rows] == ["register"]

    @in_request
    def test_bad_filters_are_field_errors(self):
        with pytest.raises(tk.ValidationError) as e:
            helpers.call_action("dgaaccounts_requests_export", context=as_sysadmin(),
                                since="2026-13-01")
        assert "since" in e.value.error_dict

    def test_over_http_a_sysadmin_gets_json_and_others_403(self, app):
        # No request context here: the HTTP calls must read the token (test_token_policy.py).
        admin = factories.Sysadmin()
        token = factories.APIToken(user=admin["name"])["token"]
        res = app.post("/api/3/action/dgaaccounts_audit_export", json={},
                       headers={"Authorization": token})
        assert res.status_code == 200
        assert res.json["result"]["csv"].startswith("\ufeffid,created_utc,action")
        plain = factories.APIToken(user=factories.User()["name"])["token"]
        for action in housekeeping.__all__:
            res = app.post(f"/api/3/action/{action}", json={}, headers={"Authorization": plain})
            assert res.status_code == 403, action
