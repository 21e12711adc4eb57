"""Types are checked before they are converted (issue 11, class 8).

CKAN's ``unicode_safe`` turns a number, a list or an uploaded file into text; the stock
``user_create`` refuses a number as a user name ("User names must be strings"). Here every text
field of every action checks the type first (``dgaaccounts_text``, by one schema rule: the test
below walks every schema), so non-text is refused on the field: numbers, booleans, lists, dicts
and uploaded files. Over HTTP: JSON numbers, and multipart with a file part in a text field.
"""
from __future__ import annotations

import inspect
import io
from typing import Any

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts.logic import schema
from ckanext.dgaaccounts.tests.conftest import PDF, Upload, registration
from ckanext.dgaaccounts.tests.security.conftest import (
    ANONYMOUS, Baseline, agency_request, as_user, reuse, snapshot,
)

pytestmark = pytest.mark.usefixtures("plugin_loaded", "_no_rate_limit")

PRESENCE = {"not_empty", "ignore_missing", "ignore_empty", "default"}
TYPE_CHECKS = {"dgaaccounts_text", "dgaaccounts_natural_number", "dgaaccounts_date",
               "dgaaccounts_date_or_time", "dgaaccounts_boolean", "ignore",
               # the applicant token: not text is no token (NotAuthorized, see below)
               "dgaaccounts_optional_credential",
               # several request ids: a list of text lines (or one), checked item by item
               "dgaaccounts_request_ids"}
HELPERS = {"line", "lines", "optional", "raw_text", "validate"}  # not schemas


def _schemas() -> dict[str, dict[str, Any]]:
    """Every input schema of the extension (every public schema function)."""
    return {name: fn() for name, fn in inspect.getmembers(schema, inspect.isfunction)
            if not name.startswith("_") and name not in HELPERS
            and fn.__module__ == schema.__name__}


def _name(validator: Any) -> str:
    for name in PRESENCE | TYPE_CHECKS | {"unicode_safe"}:
        if name != "default" and validator is tk.get_validator(name):
            return name
    qualname = getattr(validator, "__qualname__", "")
    return "default" if qualname.startswith("default.") else qualname


def test_every_field_of_every_schema_checks_its_type_before_anything_else():
    schemas = _schemas()
    assert len(schemas) >= 15
    for schema_name, fields in schemas.items():
        for field, validators in fields.items():
            if field.startswith("__"):
                continue
            names = [_name(v) for v in validators]
            first = next(n for n in names if n not in PRESENCE)
            assert first in TYPE_CHECKS, (schema_name, field, names)
            if "unicode_safe" in names:
                assert names.index("dgaaccounts_text") < names.index("unicode_safe"), (
                    schema_name, field, names)
            if "ignore_empty" in names:  # it takes a 0 or a false for "not given"
                assert names.index("dgaaccounts_text") < names.index("ignore_empty"), (
                    schema_name, field, names)


# -- through the actions ------------------------------------------------------------------------

NOT_TEXT: list[Any] = [12345, 0, 1.5, True, False, ["text"], {"text": "x"},
                       Upload(b"%PDF-1.4 not text", "fullname.pdf")]


class World(Baseline):
    def __init__(self) -> None:
        self.sysadmin = factories.Sysadmin(name="types_root")["name"]
        factories.Sysadmin(name="types_root2")
        factories.User(name="types_plain", email="types.plain@example.com")
        factories.Organization(name="dga")
        self.request = agency_request("types_appl", "types.appl@dga.or.th",
                                      document=PDF)
        self.remember()


@pytest.fixture
def world(request, world_cache) -> World:
    return reuse(request, world_cache, "world", World)


def _developer(**overrides: Any) -> dict[str, Any]:
    return {"name": "types_dev", "fullname": "Types Developer", "email": "types.dev@example.com",
            "password": "Dev-Passw0rd-42", "purpose": "แอป", **overrides}


def _cases(w: World) -> list[tuple[str, dict[str, Any], dict[str, Any], list[str]]]:
    """(action, context, valid data, the text fields of that data)."""
    agency = registration(name="types_new", email="types.new@dga.or.th", organization="dga",
                          agency_name="")
    req = w.request["id"]
    root = as_user(w.sysadmin)
    return [
        ("dgaaccounts_agency_register", dict(ANONYMOUS), agency,
         ["name", "fullname", "email", "password", "organization", "position", "phone",
          "superior_name", "superior_position"]),
        ("dgaaccounts_agency_register", dict(ANONYMOUS),
         {**agency, "organization": "", "agency_name": "กรมใหม่"}, ["agency_name"]),
        ("dgaaccounts_developer_register", dict(ANONYMOUS), _developer(),
         ["name", "fullname", "email", "password", "purpose"]),
        ("dgaaccounts_verification_resend", dict(ANONYMOUS), {"email": "x@example.com"},
         ["email"]),
        ("dgaaccounts_email_verify", dict(ANONYMOUS), {"token": "x" * 40}, ["token"]),
        ("dgaaccounts_request_show", root, {"id": req}, ["id"]),
        ("dgaaccounts_request_list", root, {"q": "x", "kind": "agency_registration",
                                            "state": "submitted"}, ["q", "kind", "state"]),
        ("dgaaccounts_request_approve", root,
         {"id": req, "organization": "dga", "role": "editor", "note": "ok"},
         ["id", "organization", "role", "note"]),
        ("dgaaccounts_request_reject", root, {"id": req, "reason": "no"}, ["id", "reason"]),
        ("dgaaccounts_cancellation_request_create", as_user("types_plain"),
         {"kind": "cancellation", "reason": "ลาออก"}, ["kind", "reason"]),
        ("dgaaccounts_user_reactivate", root, {"id": "types_plain"}, ["id"]),
        ("dgaaccounts_audit_list", root,
         {"request_id": req, "user_id": "x", "actor": "x", "action": "approve"},
         ["request_id", "user_id", "actor", "action"]),
        ("dgaaccounts_sla_report", root, {"period": "week", "kind": "agency_registration"},
         ["period", "kind"]),
    ]


def test_every_text_field_of_every_action_refuses_what_is_not_text(world, storage_root):
    before = snapshot(storage_root)
    tried = 0
    for action, context, data, fields in _cases(world):
        for field in fields:
            for value in NOT_TEXT:
                if isinstance(value, Upload):
                    value.stream.seek(0)
                with pytest.raises(tk.ValidationError) as error:
                    helpers.call_action(action, context=dict(context), **{**data, field: value})
                assert field in error.value.error_dict, (action, field, value,
                                                         error.value.error_dict)
                tried += 1
    assert tried >= 250
    assert snapshot(storage_root) == before


def test_an_applicant_token_that_is_not_text_is_no_token(world):
    for value in NOT_TEXT:
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_request_show", context=dict(ANONYMOUS),
                                id=world.request["id"], token=value)
    shown = helpers.call_action("dgaaccounts_request_show", context=dict(ANONYMOUS),
                                id=world.request["id"], token=world.request["token"])
    assert shown["id"] == world.request["id"]


def test_the_answer_for_a_number_is_that_it_must_be_text(world):
    with pytest.raises(tk.ValidationError) as error:
        helpers.call_action("dgaaccounts_developer_register", context=dict(ANONYMOUS),
                            **_developer(name=12345))
    assert error.value.error_dict == {"name": ["Must be text."]}
    assert model.User.by_name("12345") is None


def test_a_list_as_the_overdue_flag_is_refused(world):
    for value in (["true"], {"a": 1}, 2, "maybe"):
        with pytest.raises(tk.ValidationError) as error:
            helpers.call_action("dgaaccounts_request_list", context=as_user(world.sysadmin),
                                overdue=value)
        assert set(error.value.error_dict) == {"overdue"}
    for value in (True, "false", "1", "on"):
        result = helpers.call_action("dgaaccounts_request_list",
                                     context=as_user(world.sysadmin), overdue=value)
        assert result["count"] >= 0


# -- over HTTP --------------------------------------------------------------------------------

API = "/api/3/action/"


def test_json_numbers_in_text_fields_are_409_and_make_no_user(world, module_app):
    for field in ("name", "fullname", "email", "password", "purpose"):
        for value in (12345, 1.5, True, ["a"], {"a": "b"}):
            resp = module_app.post(API + "dgaaccounts_developer_register",
                                   json=_developer(**{field: value}))
            assert resp.status_code == 409, (field, value, resp.body)
            assert field in resp.json["error"], (field, value, resp.json)
    assert model.User.by_name("12345") is None
    assert model.User.by_name("types_dev") is None
    resp = module_app.post(API + "dgaaccounts_request_list", json={"q": 7, "state": 1},
                           headers={"Authorization": factories.APIToken(
                               user=world.sysadmin)["token"]})
    assert resp.status_code == 409
    assert {"q", "state"} <= set(resp.json["error"])


@pytest.mark.parametrize("field", ["name", "fullname", "email", "purpose"])
def test_a_file_part_in_a_text_field_is_refused(world, module_app, field):
    form: dict[str, Any] = {k: v for k, v in _developer().items() if k != field}
    form[field] = (io.BytesIO(b"not a name"), "fullname.txt")
    resp = module_app.post(API + "dgaaccounts_developer_register", data=form,
                           content_type="multipart/form-data")
    assert resp.status_code == 409, resp.body
    assert resp.json["error"][field] == ["Must be text."]
    assert model.User.by_name("types_dev") is None
    assert not model.Session.query(model.User).filter(
        model.User.fullname.like("%fullname.txt%")).count()


def test_a_file_part_in_an_agency_text_field_is_refused(world, module_app):
    form: dict[str, Any] = registration(name="types_new", email="types.new@dga.or.th",
                                        organization="dga", agency_name="")
    form["superior_name"] = (io.BytesIO(b"x"), "superior.txt")
    resp = module_app.post(API + "dgaaccounts_agency_register", data=form,
                           content_type="multipart/form-data")
    assert resp.status_code == 409, resp.body
    assert set(resp.json["error"]) - {"__type"} == {"superior_name"}
    assert model.User.by_name("types_new") is None

