"""Property-based tests (hypothesis) of the validators, the actions' inputs and the uploads.

Text is drawn from every Unicode category, lone surrogates and control characters included
(a JSON body can carry both: ``"\\ud800"``, ``"\\u0000"``); values from any JSON type. The
properties: a validator returns a clean value or says Invalid; an action returns its result or
raises ValidationError / NotFound / NotAuthorized, and changes nothing when it refuses; over HTTP
the answer is never a 500; an upload is kept only if its content is a PDF, JPEG or PNG by its
magic bytes and passes the active-content scanner, however the bytes fall across read chunks.

Examples are derandomized (the same on every run, so CI is stable) and the known nasty inputs
are always tried (``@example``).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import config, pdfcheck, storage, workflow
from ckanext.dgaaccounts.model import Request
from ckanext.dgaaccounts.tests.conftest import JPEG, PDF, PNG, Upload, registration, stored_files
from ckanext.dgaaccounts.tests.security.conftest import (
    ANONYMOUS, agency_request, as_user, decide, snapshot,
)

pytestmark = pytest.mark.usefixtures("plugin_loaded", "_no_rate_limit")

# Hypothesis keeps caches (Unicode tables) in ./.hypothesis: not in the checkout.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "dgaaccounts-hypothesis"))

FUZZ = settings(max_examples=50, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

CATEGORIES = ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd",
              "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc",
              "Cf", "Cs", "Co"]
ANY_CHAR = st.characters(categories=CATEGORIES)
ANY_TEXT = st.text(ANY_CHAR, max_size=60)
LONG_TEXT = st.text(ANY_CHAR, min_size=190, max_size=2100)
ANY_VALUE = st.one_of(ANY_TEXT, ANY_TEXT, LONG_TEXT, st.none(), st.integers(), st.booleans(),
                      st.lists(ANY_TEXT, max_size=3), st.dictionaries(ANY_TEXT, ANY_TEXT,
                                                                      max_size=2))
NASTY = ["\x00", "\ud800", "a\x00b", "\udfff@x.org", "   ", "\u202e", "%", "_", "' OR 1=1 --",
         "<script>alert(1)</script>", "ก" * 5000]


def _storable(text: str) -> bool:
    """What PostgreSQL's text can hold: UTF-8 encodable (no lone surrogate), no NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


# -- validators -------------------------------------------------------------------------------
# Run as CKAN runs them, through a schema (so the tests hold whatever each validator's signature).

def _run(field: str, validators: list[Any], value: Any,
         **others: Any) -> tuple[Any, list[str]]:
    """``value`` after ``validators`` in a schema, and the field's errors."""
    schema: dict[str, Any] = {field: validators, **{k: [] for k in others}}
    data, errors = tk.navl_validate({field: value, **others}, schema, {})
    return data.get(field, tk.missing), errors.get(field, [])


def _validator(name: str) -> Any:
    return tk.get_validator(name)


@FUZZ
@given(st.one_of(ANY_TEXT, LONG_TEXT, ANY_VALUE))
@example("\ud800")
@example("a\x00b")
@example(" \u00e9\u0301 ")
def test_clean_text_returns_clean_storable_text_or_an_error(value):
    result, errors = _run("f", [_validator("dgaaccounts_clean_text")], value)
    if errors or result in (tk.missing, None):
        return
    assert isinstance(result, str)
    assert result == result.strip()
    assert result == unicodedata.normalize("NFC", result)
    assert not any(unicodedata.category(c) in ("Cc", "Cf") and c not in "\n\t" for c in result)
    assert _storable(result), f"{result!r} cannot be stored"


@FUZZ
@given(ANY_TEXT)
@example(" A@B.org ")
def test_canonical_email_is_idempotent_and_lower_case(value):
    canonical = [_validator("dgaaccounts_canonical_email")]
    once, _errors = _run("email", canonical, value)
    twice, _errors = _run("email", canonical, once)
    assert twice == once == value.strip().lower()


@FUZZ
@given(st.one_of(ANY_VALUE, st.from_regex(r"\+?[0-9 ()\-]{6,20}", fullmatch=True)))
@example("02 612 6000")
@example("0\x00812345678")
def test_phone_is_digits_or_an_error(value):
    # kept as typed (spaces normalized): a 9 to 12 digit number written with spaces, dashes or
    # brackets, and optionally an extension of 1 to 6 digits after its marker
    result, errors = _run("phone", [_validator("dgaaccounts_phone")], value)
    if errors or result in (tk.missing, None, ""):
        return
    assert result == " ".join(result.split())
    found = re.fullmatch(
        r"(?P<number>[+0-9 ()\-]+?)(?: (?:ต่อ|ext\.?|extension) [0-9]{1,6}| [#xX][0-9]{1,6})?",
        result, flags=re.IGNORECASE)
    assert found, result
    assert re.fullmatch(r"\+?[0-9]{9,12}", re.sub(r"[\s\-()]", "", found["number"]))


@FUZZ
@given(ANY_VALUE, st.integers(min_value=0, max_value=300))
def test_max_length_holds(value, limit):
    result, errors = _run("f", [_validator("dgaaccounts_max_length")(limit)], value)
    if errors:
        assert isinstance(value, str)
        assert len(value) > limit
        return
    assert not isinstance(result, str) or len(result) <= limit


@FUZZ
@given(ANY_VALUE, ANY_TEXT, ANY_TEXT)
@example("Correct-Horse-42\ud800", "somchai", "s@x.org")
def test_password_rule_accepts_only_reasonable_passwords(value, name, email):
    from ckanext.dgaaccounts.logic import schema

    # The password field as the sign-up schemas check it, whatever validators that takes.
    result, errors = _run("password", schema.developer_register()["password"], value,
                          name=name, email=email)
    if not errors and isinstance(result, str) and result:
        assert 10 <= len(result) <= 200
        assert result.lower() not in (name.lower(), email.lower())
        # Only its hash is stored (a NUL is fine there), but it must be UTF-8 to be hashed.
        assert _storable(result.replace("\x00", "")), "an accepted password must be hashable"


@FUZZ
@given(ANY_VALUE)
def test_choice_validators_return_only_known_values(value):
    for name, allowed in (("dgaaccounts_role", {"member", "editor", "admin"}),
                          ("dgaaccounts_request_kind", set(workflow.KINDS)),
                          ("dgaaccounts_request_state", set(workflow.STATES)),
                          ("dgaaccounts_account_request_kind", {"cancellation", "suspension"})):
        result, errors = _run("f", [_validator(name)], value)
        assert errors or result in allowed, name


@FUZZ
@given(st.one_of(ANY_TEXT, st.text(ANY_CHAR, min_size=250, max_size=300)))
@example("../../etc/passwd.pdf")
@example("a\x00.pdf")
@example("\ud800.pdf")
def test_file_names_are_labels_that_cannot_be_paths(name):
    try:
        label = storage.clean_filename(name)
    except storage.DocumentError:
        return
    assert "/" not in label
    assert "\\" not in label
    assert label not in (".", "..")
    assert len(label) <= 255
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in label)
    assert _storable(label), f"{label!r} is stored as the document's name"


# -- the actions ------------------------------------------------------------------------------

REFUSALS = (tk.ValidationError, tk.ObjectNotFound, tk.NotAuthorized)
AGENCY_FIELDS = ("name", "fullname", "email", "password", "organization", "agency_name",
                 "position", "phone", "superior_name", "superior_position")


def _call(action: str, context: dict[str, Any], data: dict[str, Any],
          storage_root: Any = None) -> Any:
    """The action's result, or the refusal it raised (after checking it changed nothing)."""
    before = snapshot(storage_root)
    try:
        return helpers.call_action(action, context=dict(context), **data)
    except REFUSALS as refusal:
        assert snapshot(storage_root) == before, f"{action} refused but changed something"
        return refusal


@pytest.fixture
def world(clean_db) -> dict[str, Any]:
    factories.Sysadmin(name="z_root", email="z_root@dga.or.th")
    factories.Sysadmin(name="z_root2", email="z_root2@dga.or.th")
    factories.User(name="z_plain", email="z_plain@example.com")
    factories.Organization(name="dga")
    return {"submitted": agency_request("z_appl", "z_appl@dga.or.th", document=PDF)}


@FUZZ
@given(st.sampled_from(AGENCY_FIELDS), ANY_VALUE, st.integers(0, 10**6))
@example("organization", "dga\x00", 1)
@example("fullname", "\ud800", 2)
@example("password", "Correct-Horse-42\ud800", 3)
@example("superior_name", "   ", 4)
@example("name", "new\x00bie", 5)
def test_agency_registration_with_any_value_in_any_field(world, storage_root, field, value, n):
    data = registration(name=f"z{n}", email=f"z{n}@dga.or.th", organization="dga")
    data[field] = value
    outcome = _call("dgaaccounts_agency_register", ANONYMOUS, data, storage_root)
    if isinstance(outcome, REFUSALS):
        assert isinstance(outcome, tk.ValidationError)
        return
    req = model.Session.get(Request, outcome["request_id"])
    user = model.Session.get(model.User, req.user_id)
    assert (user.state, user.sysadmin, req.state) == ("pending", False, "awaiting_verification")
    assert user.fullname
    assert user.fullname == user.fullname.strip()
    for key in ("position", "superior_name", "superior_position"):
        assert (req.details or {}).get(key, "").strip(), f"{key} stored blank"


@FUZZ
@given(st.sampled_from(("name", "fullname", "email", "password", "purpose")), ANY_VALUE,
       st.integers(0, 10**6))
@example("email", "lek\x00@example.com", 1)
@example("email", "lek\ud800@example.com", 2)
@example("fullname", "\udfff", 3)
def test_developer_sign_up_with_any_value_in_any_field(world, field, value, n):
    data = {"name": f"zd{n}", "fullname": "Z Dev", "email": f"zd{n}@example.com",
            "password": "Dev-Passw0rd-42"}
    data[field] = value
    outcome = _call("dgaaccounts_developer_register", ANONYMOUS, data)
    assert not isinstance(outcome, REFUSALS) or isinstance(outcome, tk.ValidationError)


@FUZZ
@given(ANY_VALUE)
@example("\x00")
@example("\ud800")
def test_verification_with_any_token_is_refused_cleanly(world, token):
    outcome = _call("dgaaccounts_email_verify", ANONYMOUS, {"token": token})
    assert isinstance(outcome, tk.ValidationError)
    assert set(outcome.error_dict) == {"token"}


@FUZZ
@given(ANY_VALUE)
@example("a\x00@x.org")
def test_resend_with_any_address_answers_or_refuses(world, email):
    outcome = _call("dgaaccounts_verification_resend", ANONYMOUS, {"email": email})
    assert not isinstance(outcome, REFUSALS) or set(outcome.error_dict) == {"email"}


@FUZZ
@given(st.sampled_from(["dgaaccounts_request_show", "dgaaccounts_request_withdraw",
                        "dgaaccounts_request_approve", "dgaaccounts_request_reject",
                        "dgaaccounts_request_document_upload", "dgaaccounts_user_reactivate"]),
       ANY_VALUE)
@example("dgaaccounts_request_show", "x\x00")
@example("dgaaccounts_request_approve", "\ud800")
@example("dgaaccounts_user_reactivate", "z_plain\x00")
def test_any_id_is_found_or_not_found(world, action, value):
    outcome = _call(action, as_user("z_root"), {"id": value, "reason": "x"})
    assert isinstance(outcome, (tk.ValidationError, tk.ObjectNotFound))


@FUZZ
@given(st.fixed_dictionaries({}, optional={
    "q": ANY_VALUE, "state": ANY_VALUE, "kind": ANY_VALUE, "overdue": ANY_VALUE,
    "limit": ANY_VALUE, "offset": ANY_VALUE}))
@example({"q": "\x00"})
def test_the_queue_with_any_filters(world, filters):
    outcome = _call("dgaaccounts_request_list", as_user("z_root"), filters)
    assert not isinstance(outcome, REFUSALS) or isinstance(outcome, tk.ValidationError)
    if not isinstance(outcome, REFUSALS):
        assert outcome["count"] >= len(outcome["results"])


@FUZZ
@given(st.fixed_dictionaries({}, optional={
    "request_id": ANY_VALUE, "user_id": ANY_VALUE, "actor": ANY_VALUE, "limit": ANY_VALUE,
    "offset": ANY_VALUE}))
@example({"request_id": "\x00"})
@example({"user_id": "\ud800"})
def test_the_audit_log_with_any_filters(world, filters):
    outcome = _call("dgaaccounts_audit_list", as_user("z_root"), filters)
    assert not isinstance(outcome, REFUSALS) or isinstance(outcome, tk.ValidationError)


@FUZZ
@given(st.sampled_from(["approve", "reject", "return"]), st.fixed_dictionaries({}, optional={
    "note": ANY_VALUE, "reason": ANY_VALUE, "organization": ANY_VALUE, "role": ANY_VALUE}))
@example("approve", {"organization": "dga\x00"})
@example("reject", {"reason": "\ud800"})
def test_decisions_with_any_details(world, decision, details):
    rid = world["submitted"]["id"]
    outcome = _call(f"dgaaccounts_request_{decision}", as_user("z_root"), dict(details, id=rid))
    if isinstance(outcome, REFUSALS):
        assert isinstance(outcome, tk.ValidationError)
        return
    # Accepted: put the request back in the queue for the next example.
    model.Session.remove()
    req = model.Session.get(Request, rid)
    assert req.decision_note is None or _storable(req.decision_note)
    if req.state == "returned":
        helpers.call_action("dgaaccounts_request_document_upload", context=dict(ANONYMOUS),
                            id=rid, token=world["submitted"]["token"],
                            signed_form=Upload(PDF, "again.pdf"))
    else:
        n = len(world)
        world[f"s{n}"] = world["submitted"] = agency_request(
            f"z_appl{n}", f"z_appl{n}@dga.or.th", document=PDF)


@FUZZ
@given(ANY_VALUE, ANY_VALUE)
@example("cancellation", "\ud800")
@example("suspension", "ok\x00")
def test_cancellation_request_with_any_kind_and_reason(world, kind, reason):
    outcome = _call("dgaaccounts_cancellation_request_create", as_user("z_plain"),
                    {"kind": kind, "reason": reason})
    if isinstance(outcome, REFUSALS):
        assert isinstance(outcome, tk.ValidationError)
        return
    assert outcome["kind"] in ("cancellation", "suspension")
    assert outcome["details"]["reason"].strip()
    helpers.call_action("dgaaccounts_request_withdraw", context=as_user("z_plain"),
                        id=outcome["id"])


# -- over HTTP: never a 500 --------------------------------------------------------------------

@FUZZ
@given(st.sampled_from(["dgaaccounts_agency_register", "dgaaccounts_developer_register",
                        "dgaaccounts_verification_resend", "dgaaccounts_email_verify",
                        "dgaaccounts_request_show", "dgaaccounts_request_withdraw"]),
       st.dictionaries(st.sampled_from(AGENCY_FIELDS + ("token", "id", "purpose")), ANY_VALUE,
                       max_size=6))
@example("dgaaccounts_developer_register", {"email": "a\x00@x.org"})
@example("dgaaccounts_agency_register", {"organization": "\ud800"})
@example("dgaaccounts_request_show", {"id": "\x00"})
def test_the_action_api_never_answers_500(module_app, world, action, body):
    resp = module_app.post(f"/api/3/action/{action}", data=json.dumps(body),
                           content_type="application/json")
    assert resp.status_code in (200, 400, 403, 404, 409), (resp.status_code, body)


# -- uploads --------------------------------------------------------------------------------------

MAGIC = {b"%PDF-": storage.PDF, b"\xff\xd8\xff": storage.JPEG, b"\x89PNG\r\n\x1a\n": storage.PNG}
EXTENSION = {storage.PDF: ".pdf", storage.JPEG: ".jpg", storage.PNG: ".png"}
PAYLOADS = [b"", b"<script>", b"<SVG/", b"<html ", b"<!DOCTYPE html>", b"javascript:",
            b"/JavaScript ", b"/J#61vaScript ", b"/JS(", b"/Launch ", b"/EmbeddedFiles ",
            b"/RichMediaContent ", b"/XFA ", b"/JSON ", b"<svgx", b">> stream\n", b"endstream"]


def _by_magic(content: bytes) -> str | None:
    """The type by magic bytes, written again here (the store's own check is under test)."""
    for magic, mimetype in MAGIC.items():
        if content.startswith(magic):
            return mimetype
    return None


def _whole_scan_passes(content: bytes, mimetype: str) -> bool:
    """The scanner fed the whole file at once: no chunk boundary to hide anything behind."""
    scanner = storage._Scanner()
    scanner.start(mimetype)
    try:
        scanner.feed(content)
        scanner.finish()
    except storage.DocumentError:
        return False
    return True


def _parses(content: bytes, mimetype: str) -> bool:
    """The parser's verdict on the whole file (pikepdf for a PDF, Pillow for an image)."""
    with tempfile.NamedTemporaryFile() as f:
        f.write(content)
        f.flush()
        try:
            pdfcheck.check_file(f.name, mimetype, max_pixels=config.upload_max_pixels())
        except pdfcheck.ContentError:
            return False
    return True


def _is_clean(content: bytes, mimetype: str) -> bool:
    """What the store must keep: the byte scan and the parser both accept the whole file."""
    return _whole_scan_passes(content, mimetype) and _parses(content, mimetype)


def _content() -> st.SearchStrategy[bytes]:
    """Files: random bytes, or a real magic, filler across the 64 KiB read boundary, a payload
    that may or may not be active content, and more filler."""
    crafted = st.builds(
        lambda magic, size, payload, tail: magic + b"\n" + b"0" * size + payload + tail,
        st.sampled_from([*MAGIC, b"GIF89a", b" %PDF-", b""]),
        st.one_of(st.integers(0, 64), st.integers(storage.CHUNK_SIZE - 80,
                                                  storage.CHUNK_SIZE + 10)),
        st.sampled_from(PAYLOADS),
        st.binary(max_size=64))
    return st.one_of(st.binary(max_size=512), crafted)


@FUZZ
@given(_content())
@example(b"")
@example(PDF)
@example(JPEG + b"<html><script>1</script>")
@example(b"%PDF-1.4\n" + b"0" * (storage.CHUNK_SIZE - 12) + b"/JavaScript (x)")
def test_an_upload_is_kept_only_if_it_is_a_clean_pdf_jpeg_or_png(tmp_path_factory, content):
    root = tmp_path_factory.mktemp("fuzz-store")
    store = storage.LocalDocumentStore(str(root))
    mimetype = _by_magic(content)
    name = "scan" + EXTENSION.get(mimetype, ".pdf")
    try:
        kept = store.save(io.BytesIO(content), name, max_size=10 * 1024 * 1024)
    except storage.DocumentError:
        assert stored_files(root) == []
        # Refused: not one of the types, or active content, or unreadable, or empty.
        assert not content or mimetype is None or not _is_clean(content, mimetype)
        return
    assert mimetype is not None
    assert kept.mimetype == mimetype
    assert _is_clean(content, mimetype)
    assert kept.size == len(content)
    assert kept.sha256 == hashlib.sha256(content).hexdigest()
    with store.open(kept.key) as f:
        assert f.read() == content
    assert stored_files(root) == [store.path(kept.key)]


@FUZZ
@given(st.one_of(st.binary(max_size=256), st.sampled_from([PDF, PNG, JPEG])),
       st.sampled_from(["form.pdf", "scan.png", "scan.jpg", "แบบฟอร์ม.PDF"]))
def test_any_bytes_as_the_signed_form(world, storage_root, content, filename):
    sub = world["submitted"]
    decide("z_root", "return", sub["id"])  # open for a corrected scan
    outcome = _call("dgaaccounts_request_document_upload", ANONYMOUS,
                    {"id": sub["id"], "token": sub["token"],
                     "signed_form": Upload(content, filename)}, storage_root)
    mimetype = _by_magic(content)
    if isinstance(outcome, REFUSALS):
        assert set(outcome.error_dict) == {"signed_form"}
        # It is refused, so it was not a scan of a matching name; put the request back.
        helpers.call_action("dgaaccounts_request_document_upload", context=dict(ANONYMOUS),
                            id=sub["id"], token=sub["token"],
                            signed_form=Upload(PDF, "form.pdf"))
        return
    assert outcome["state"] == "submitted"
    assert mimetype is not None
    assert os.path.splitext(filename.lower())[1] in {".pdf": (".pdf",), ".png": (".png",),
                                                    ".jpg": (".jpg",)}[EXTENSION[mimetype]]
    assert outcome["documents"][-1]["mimetype"] == mimetype

