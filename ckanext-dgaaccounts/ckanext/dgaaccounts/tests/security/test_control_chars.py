"""No control character reaches a mail header (issue 11, class 6).

Every one-line text field of every action refuses control and format characters and the Unicode
line separators, by one validator (``dgaaccounts_single_line``); Thai combining marks are not
control characters. A name that CKAN itself lets a user set (``user_patch`` takes a line break)
can never stop that user's mail: the mailer builds its headers with ``email.headerregistry``
from a sanitized display name, and the message reaches a real SMTP server.
"""
from __future__ import annotations

import datetime
from typing import Any

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import account, mail
from ckanext.dgaaccounts.logic import schema
from ckanext.dgaaccounts.model import OutboxMessage, utcnow
from ckanext.dgaaccounts.tests.conftest import registration
from ckanext.dgaaccounts.tests.security.conftest import (
    ANONYMOUS, Baseline, as_user, reuse, snapshot,
)

pytestmark = pytest.mark.usefixtures("plugin_loaded", "_no_rate_limit")

# C0 (line feed, carriage return, tab, vertical tab, form feed, NUL, escape), DEL, C1 (NEL, CSI),
# the Unicode line and paragraph separators, zero-width space, bidi override and isolate, BOM,
# soft hyphen.
CONTROLS = ["\n", "\r", "\r\n", "\t", "\x0b", "\x0c", "\x00", "\x1b", "\x7f", "\x85", "\x9b",
            "\u2028", "\u2029", "\u200b", "\u202e", "\u2066", "\ufeff", "\u00ad"]
# Thai with its combining vowels and tone marks (Unicode category Mn), and other scripts' marks.
THAI_NAMES = ["นางสาวพิมพ์ชนก ศรีสุข", "ผู้อำนวยการกอง", "นายสมชาย ใจดี", "José Ñúñez", "Zoë"]

# The text fields of several lines (line breaks and tabs allowed there, still no other control
# character) and the secrets taken as given; every other text field is one line.
MULTI_LINE = {"purpose", "note", "reason"}
AS_GIVEN = {"password", "token"}
SCHEMAS = ["agency_register", "developer_register", "token", "verification_resend",
           "password_reset", "request_id", "request_list", "request_approve",
           "request_decision_with_reason", "request_reject_spam",
           "cancellation_request_create", "user_reactivate",
           "audit_list", "sla_report", "requests_export", "audit_export", "requests_decide"]


def _names(validators: list[Any]) -> list[str]:
    names = {id(tk.get_validator(n)): n for n in (
        "dgaaccounts_text", "dgaaccounts_single_line", "dgaaccounts_clean_text")}
    return [names.get(id(v), "") for v in validators]


def _one_line_fields() -> list[tuple[str, str]]:
    return [(name, field) for name in SCHEMAS
            for field, validators in getattr(schema, name)().items()
            if "dgaaccounts_single_line" in _names(validators)]


def test_every_text_field_is_one_line_unless_it_is_known_to_have_several():
    """The rule, walked over every action's schema: a new text field is one line by default."""
    walked = 0
    for name in SCHEMAS:
        for field, validators in getattr(schema, name)().items():
            if field.startswith("__") or "dgaaccounts_text" not in _names(validators):
                continue
            walked += 1
            names = _names(validators)
            if field in MULTI_LINE:
                assert "dgaaccounts_clean_text" in names, (name, field)
            elif field not in AS_GIVEN:
                assert "dgaaccounts_single_line" in names, (name, field)
    assert walked >= 40


@pytest.mark.parametrize(("schema_name", "field"), _one_line_fields())
def test_every_one_line_field_refuses_every_control_character(schema_name, field):
    sch = getattr(schema, schema_name)()
    context = {"model": model, "session": model.Session}
    for char in CONTROLS:
        for value in (f"ab{char}cd", f"abcd{char}x"):
            _data, errors = tk.navl_validate({field: value}, {field: sch[field]}, context)
            assert errors.get(field) == ["Contains characters that are not allowed."], (
                schema_name, field, repr(value), errors)
        # At either end: refused, or trimmed away (spaces, line breaks), never kept.
        for value in (f"{char}abcd", f"abcd{char}"):
            data, errors = tk.navl_validate({field: value}, {field: sch[field]}, context)
            assert errors.get(field) or char not in str(data.get(field, "")), (
                schema_name, field, repr(value))


@pytest.mark.parametrize("value", THAI_NAMES)
def test_combining_marks_are_not_control_characters(value):
    validators = schema.line()
    data, errors = tk.navl_validate({"f": value}, {"f": validators}, {})
    assert not errors
    assert data["f"] == value


def test_several_line_fields_take_line_breaks_but_no_other_control():
    validators = schema.lines()
    data, errors = tk.navl_validate({"f": "บรรทัดหนึ่ง\nบรรทัดสอง\tต่อ"}, {"f": validators}, {})
    assert not errors
    assert "\n" in data["f"]
    for char in ("\x00", "\x1b", "\x85", "\u202e", "\u200b"):
        _data, errors = tk.navl_validate({"f": f"a{char}b"}, {"f": validators}, {})
        assert errors["f"], repr(char)


# -- through the actions ------------------------------------------------------------------------

class Empty(Baseline):
    """A database with nothing of ours in it (refused inputs must leave it so)."""

    def __init__(self) -> None:
        self.remember()


@pytest.fixture
def empty(request, world_cache) -> Empty:
    return reuse(request, world_cache, "empty", Empty)


AGENCY_FIELDS = ["name", "fullname", "email", "agency_name", "position", "phone",
                 "superior_name", "superior_position"]


@pytest.mark.parametrize("char", ["\n", "\r\n", "\u2028", "\x85", "\t"])
@pytest.mark.parametrize("field", AGENCY_FIELDS)
def test_registration_refuses_a_line_break_in_any_field(empty, field, char):
    data = registration(name="cc_officer", email="cc.officer@dga.or.th")
    data[field] = {"name": "cc" + char + "officer", "email": "cc.offi" + char + "cer@dga.or.th",
                   "phone": "02 612" + char + "6000"}.get(field, data[field] + char + "x")
    before = snapshot()
    with pytest.raises(tk.ValidationError) as error:
        helpers.call_action("dgaaccounts_agency_register", context=dict(ANONYMOUS), **data)
    assert field in error.value.error_dict, error.value.error_dict
    assert snapshot() == before


@pytest.mark.parametrize("char", ["\n", "\u2029", "\x1b"])
def test_developer_sign_up_refuses_a_control_character_in_the_full_name(empty, char):
    with pytest.raises(tk.ValidationError) as error:
        helpers.call_action("dgaaccounts_developer_register", context=dict(ANONYMOUS),
                            name="cc_dev", fullname=f"Dev{char}Bcc: all@evil.example",
                            email="cc.dev@example.com", password="Dev-Passw0rd-42")
    assert set(error.value.error_dict) == {"fullname"}


def test_a_thai_name_with_marks_registers(clean_db):
    result = helpers.call_action("dgaaccounts_agency_register", context=dict(ANONYMOUS),
                                 **registration(name="cc_thai", email="cc.thai@dga.or.th",
                                                fullname="นางสาวพิมพ์ชนก ศรีสุข"))
    assert result["state"] == "awaiting_verification"
    user = model.User.by_name("cc_thai")
    assert user.fullname == "นางสาวพิมพ์ชนก ศรีสุข"


# -- the mailer, for names CKAN lets users set ---------------------------------------------------

BAD_NAMES = ["Somchai\nBcc: victim@evil.example", "Somchai\r\nSubject: hi", "สมชาย\u2028ใจดี",
             "\x1b[31mSomchai\x7f", "\u202eliaM", "\n\n\n"]


def _make_due() -> None:
    model.Session.query(OutboxMessage).update(
        {"next_attempt": utcnow() - datetime.timedelta(seconds=1)})
    model.Session.commit()


@pytest.mark.parametrize("fullname", BAD_NAMES)
def test_a_user_whose_name_ckan_let_them_set_still_gets_their_mail(clean_db, smtp, deliver,
                                                                   fullname):
    user = factories.User(name="cc_named", email="cc.named@example.com")
    # CKAN's own user_patch takes the line break: the name is there before any of our checks.
    helpers.call_action("user_patch", context={"user": "cc_named", "ignore_auth": True},
                        id=user["id"], fullname=fullname)
    assert model.User.by_name("cc_named").fullname == fullname
    # A workflow email (the cancellation request) and the password reset.
    helpers.call_action("dgaaccounts_cancellation_request_create", context=as_user("cc_named"),
                        kind="cancellation", reason="ย้ายหน่วยงาน")
    account.send_password_reset("cc_named")
    _make_due()
    deliver()
    model.Session.expire_all()
    states = [m.state for m in model.Session.query(OutboxMessage)]
    assert states == ["sent", "sent"], [
        (m.state, m.last_error) for m in model.Session.query(OutboxMessage)]
    received = smtp.to("cc.named@example.com")
    assert len(received) == 2
    for msg in received:
        to = msg["To"]
        assert to.addresses[0].addr_spec == "cc.named@example.com"
        assert len(to.addresses) == 1
        assert not any(c in str(to) for c in "\r\n\x00\x1b\u2028\u202e")
        assert msg["Bcc"] is None
        assert "hi" not in (msg["Subject"] or "").split()


def test_header_text_keeps_thai_and_drops_controls():
    assert mail.header_text("นางสาวพิมพ์ชนก\nศรีสุข") == "นางสาวพิมพ์ชนก ศรีสุข"
    assert mail.header_text("\u202eabc\u2029 d\x00") == "abc d"
    assert mail.header_text("\n\r\t") == ""
    assert mail.header_text(None) == ""
    assert len(mail.header_text("ก" * 1000)) == 200
