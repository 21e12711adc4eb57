"""Inputs an independent probe sent that ended in a 500 or in something half-checked, each
fixed as a class:

- a NUL or a lone surrogate reached a database lookup before any schema (auth functions,
  token and user lookups): every action of the extension refuses it first
  (logic/inputs.py), every page refuses an address carrying one (views_common);
- text of only spaces passed ``not_empty`` before the cleaning emptied it: every required
  text field is checked again after the cleaning (schema ``line(..., required=True)``);
- secrets given as any text compared with ``hmac.compare_digest`` on str (non-ASCII: 500):
  one comparison on bytes (``tokens.same_secret``);
- answers that told a stranger more than "not found": the revoke-all link for an unknown
  user, a bulk decision on a request of another organization;
- ``api_token_create`` handed lists to CKAN (a 500, or a token named ``{a}``).
"""
from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import apitokens, tokens
from ckanext.dgaaccounts.logic import inputs, schema
from ckanext.dgaaccounts.tests.conftest import registration, sign_in, snapshot
from ckanext.dgaaccounts.tests.security.conftest import ANONYMOUS, agency_request, as_user

pytestmark = [pytest.mark.usefixtures("clean_db", "_no_rate_limit")]

BAD = ["a\x00b", "\ud800"]
# Every name the actions read an id, a user, an organization or a text from.
KEYS = ("id", "user", "organization", "name", "tier", "request_id", "document_id", "token",
        "signature", "description", "email", "q", "reason", "kind", "ids")


@pytest.mark.parametrize("bad", BAD, ids=["nul", "surrogate"])
def test_every_action_refuses_unstorable_text_before_anything_else(bad):
    names = sorted(inputs.actions())
    assert len(names) >= 40
    assert "api_token_create" in names
    user = factories.User()["name"]
    for name in names:
        for context in (dict(ANONYMOUS), as_user(user)):
            with pytest.raises(tk.ValidationError) as refused:
                helpers.call_action(name, context=context,
                                    **{key: bad if key != "ids" else [bad] for key in KEYS})
            assert set(refused.value.error_dict) == set(KEYS), name
            model.Session.rollback()


def test_a_bad_key_or_a_nested_value_is_refused_too():
    with pytest.raises(tk.ValidationError) as refused:
        helpers.call_action("dgaaccounts_requests_decide", context=dict(ANONYMOUS),
                            ids=["x", {"deep": ["\x00"]}], decision="reject")
    assert list(refused.value.error_dict) == ["ids"]
    with pytest.raises(tk.ValidationError) as refused:
        helpers.call_action("dgaaccounts_request_show", context=dict(ANONYMOUS),
                            **{"i\x00d": "x"})
    assert list(refused.value.error_dict) == ["__field"]


def test_over_http_a_surrogate_is_a_409_on_its_field(app):
    user = factories.User()
    token = helpers.call_action("api_token_create", context={"user": user["name"]},
                                user=user["name"], name="probe")["token"]
    for action in ("dgaaccounts_request_approve", "dgaaccounts_token_show",
                   "dgaaccounts_token_revoke_all"):
        response = app.post(f"/api/3/action/{action}", headers={
            "Authorization": token, "Content-Type": "application/json"},
            data=json.dumps({"id": "\ud800", "user": "a\x00b", "signature": "x"}),
            status=409)
        assert response.json["error"]["__type"] == "Validation Error"
        assert response.json["error"]["id"] == ["Contains characters that are not allowed."]


@pytest.mark.parametrize("path", [
    "/dgaaccounts/request/%00", "/en/dgaaccounts/request/%00",
    "/dgaaccounts/decide/%00/approve", "/organization/requests/%00",
    "/organization/requests/dga/%00", "/dgaaccounts/tokens/%00/renew",
    "/ckan-admin/dgaaccounts/request/%00", "/dgaaccounts/tokens/revoke-all/%00/%00",
    "/dgaaccounts/verify/%00", "/user/oidc/%00/login",
])
def test_pages_refuse_an_address_with_a_nul(app, path):
    factories.Sysadmin(name="probe_root", password="Probe-Root-2026!")
    factories.Organization(name="dga")
    for client in (app.test_client(), sign_in(app, "probe_root", "Probe-Root-2026!")):
        response = client.get(path)
        assert response.status_code == 400, (path, response.status_code)
        assert "characters that are not allowed" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", [
    "/ckan-admin/dgaaccounts/tokens?user=%00", "/ckan-admin/dgaaccounts/?q=%00",
    "/ckan-admin/dgaaccounts/audit?actor=%00",
])
def test_a_filter_with_a_nul_is_explained_on_its_page(app, path):
    factories.Sysadmin(name="probe_root", password="Probe-Root-2026!")
    client = sign_in(app, "probe_root", "Probe-Root-2026!")
    response = client.get(path)
    assert response.status_code in (200, 400), (path, response.status_code)
    html = response.get_data(as_text=True)
    assert "characters that are not allowed" in html or "alert" in html, path


# -- text of only spaces in a required field -------------------------------------------------

def test_every_required_text_field_is_checked_again_after_cleaning():
    not_empty = tk.get_validator("not_empty")
    cleaners = {tk.get_validator("dgaaccounts_single_line"),
                tk.get_validator("dgaaccounts_clean_text")}
    checked = 0
    for name, build in inspect.getmembers(schema, inspect.isfunction):
        if name.startswith("_") or build.__module__ != schema.__name__ or name in {
                "line", "lines", "optional", "raw_text", "validate"}:
            continue
        for field, validators in build().items():
            if not isinstance(validators, list) or not validators or validators[0] is not not_empty:
                continue
            cleaned = [i for i, v in enumerate(validators) if v in cleaners]
            if cleaned:
                assert not_empty in validators[cleaned[0] + 1:], (name, field)
                checked += 1
    assert checked >= 25


def test_a_phone_of_spaces_is_refused_and_nothing_is_made(smtp):
    before = snapshot()
    with pytest.raises(tk.ValidationError) as refused:
        helpers.call_action("dgaaccounts_agency_register", context=dict(ANONYMOUS),
                            **registration(phone="   "))
    assert list(refused.value.error_dict) == ["phone"]
    model.Session.rollback()
    assert snapshot() == before


@pytest.mark.parametrize(("action", "data", "field"), [
    ("dgaaccounts_approval_mode_update", {"organization": "   ", "mode": "central"},
     "organization"),
    ("dgaaccounts_approval_mode_update", {"organization": "dga", "mode": "  "}, "mode"),
    ("dgaaccounts_approval_mode_show", {"organization": "   "}, "organization"),
    ("dgaaccounts_requests_decide", {"ids": ["x"], "decision": "   ", "reason": "r"},
     "decision"),
    ("dgaaccounts_request_reject", {"id": "  ", "reason": "r"}, "id"),
    ("dgaaccounts_request_reject", {"id": "x", "reason": " \t "}, "reason"),
])
def test_blank_required_fields_are_refused_for_a_sysadmin(action, data, field):
    root = factories.Sysadmin()["name"]
    factories.Organization(name="dga")
    with pytest.raises(tk.ValidationError) as refused:
        helpers.call_action(action, context=as_user(root), **data)
    assert field in refused.value.error_dict


# -- secrets given as any text ----------------------------------------------------------------

def test_a_secret_compares_as_bytes():
    assert tokens.same_secret("abc", "abc")
    assert not tokens.same_secret("ก", "abc")
    assert not tokens.same_secret("\ud800", "abc")
    assert not tokens.same_secret(["abc"], "abc")  # type: ignore[arg-type]


def test_revoke_all_answers_alike_for_a_bad_signature_and_an_unknown_user(app):
    user = factories.User()
    answers = []
    for data in ({"user": user["id"], "signature": "ก"},
                 {"user": user["id"], "signature": "0" * 64},
                 {"user": user["name"], "signature": "0" * 64},  # a link names the id
                 {"user": "nobody-at-all", "signature": "0" * 64}):
        response = app.post("/api/3/action/dgaaccounts_token_revoke_all", json=data,
                            status=409)
        answers.append(response.json["error"])
    assert all(a == answers[0] for a in answers), answers
    assert sorted(answers[0]) == ["__type", "signature"]
    for path in (f"/dgaaccounts/tokens/revoke-all/{user['id']}/%E0%B8%95",
                 "/dgaaccounts/tokens/revoke-all/nobody/abc"):
        assert app.get(path).status_code == 400
    link = apitokens.revoke_all_link(model.User.get(user["id"]))
    assert "/revoke-all/" in link  # the real link still works: tests/test_token_policy.py


# -- api_token_create: what CKAN would be handed ----------------------------------------------

@pytest.mark.parametrize(("data", "field"), [
    ({"user": ["{owner}"], "name": "x"}, "user"),
    ({"user": "{owner}", "name": ["a"]}, "name"),
    ({"user": "{owner}", "name": {"a": 1}}, "name"),
    ({"user": "{owner}", "name": "   "[:0]}, "name"),
    ({"user": "{owner}", "name": "a\x00b"}, "name"),
])
def test_api_token_create_refuses_what_is_not_a_name(data, field):
    owner = factories.User()["name"]
    filled: dict[str, Any] = json.loads(json.dumps(data).replace("{owner}", owner))
    before = model.Session.query(model.ApiToken).count()
    with pytest.raises(tk.ValidationError) as refused:
        helpers.call_action("api_token_create", context=as_user(owner), **filled)
    assert field in refused.value.error_dict
    model.Session.rollback()
    assert model.Session.query(model.ApiToken).count() == before


def test_api_token_create_for_an_unknown_user_is_not_found():
    owner = factories.User()["name"]
    with pytest.raises(tk.ObjectNotFound):
        helpers.call_action("api_token_create", context=as_user(owner),
                            user="nobody-at-all", name="x")


# -- a bulk decision on a request the caller may not see -------------------------------------

def test_a_bulk_decision_tells_nothing_of_a_request_the_caller_may_not_see(smtp):
    from ckanext.dgaaccounts.tests.conftest import PDF

    root = factories.Sysadmin()["name"]
    factories.Organization(name="dga")
    other = factories.Organization(name="dopa")
    admin = factories.User(name="dopa_admin")
    helpers.call_action("member_create", id=other["id"], object=admin["id"],
                        object_type="user", capacity="admin")
    helpers.call_action("dgaaccounts_approval_mode_update", context=as_user(root),
                        organization="dopa", mode="delegated")
    hidden = agency_request("hidden_officer", "hidden@dga.or.th", document=PDF)
    result = helpers.call_action(
        "dgaaccounts_requests_decide", context=as_user("dopa_admin"),
        ids=[hidden["id"], "00000000-0000-0000-0000-000000000000"], decision="reject",
        reason="x")
    first, unknown = result["results"]
    assert first["reference"] is None
    assert first["success"] is False
    assert {k: v for k, v in first.items() if k != "id"} == {
        k: v for k, v in unknown.items() if k != "id"}


def test_a_choice_outside_the_list_names_the_choices_in_words():
    root = factories.Sysadmin()["name"]
    factories.Organization(name="dga")
    with pytest.raises(tk.ValidationError) as refused:
        helpers.call_action("dgaaccounts_approval_mode_update", context=as_user(root),
                            organization="dga", mode="DELEGATED")
    assert refused.value.error_dict["mode"] == [
        "Choose one of: central, endorse, delegated, default."]
