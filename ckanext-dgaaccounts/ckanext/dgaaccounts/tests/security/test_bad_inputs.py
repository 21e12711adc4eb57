"""The bad-input corpus: one row per bad input, across the three workflows and the admin actions.

Each row names the action, who calls it, the input, and the exact answer: the ``ValidationError``
key (the only key of the error), or ``NotAuthorized`` / ``NotFound``. Every row also checks that
nothing changed: no user, request, document, token, email (outbox row), audit event, membership or
API token added or altered, and no file (not even a temporary one) left in the private store.

The world the rows run against (users, organizations, requests in each state) is built once per
module and rebuilt if a row ever changes it, so a failing row cannot hide behind another.
"""
from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts.model import Request, Token, utcnow
from ckanext.dgaaccounts.tests.conftest import JPEG, PDF, PNG, Upload, registration
from ckanext.dgaaccounts.tests.security.conftest import (
    ANONYMOUS, Baseline, account_request, agency_request, as_user, decide, developer_request,
    reuse, snapshot,
)

pytestmark = pytest.mark.usefixtures("plugin_loaded", "_no_rate_limit")


NotAuthorized, NotFound = tk.NotAuthorized, tk.ObjectNotFound


class World(Baseline):
    """Who and what the rows run against."""

    def __init__(self) -> None:
        self.sysadmin = factories.Sysadmin(name="root1", email="root1@dga.or.th")["name"]
        factories.Sysadmin(name="root2", email="root2@dga.or.th")  # root1 is not the last one
        factories.User(name="plain", email="plain@example.com")
        factories.User(name="taken", email="Taken.Person@dga.or.th")
        factories.User(name="officer", email="officer@dga.or.th")
        factories.User(name="orgadmin", email="orgadmin@dga.or.th")
        factories.Organization(name="dga", title="DGA", users=[
            {"name": "orgadmin", "capacity": "admin"}, {"name": "officer", "capacity": "editor"}])
        factories.Organization(name="gone", state="deleted")
        # A: submitted with its scan; B: waiting for the scan; R: rejected.
        self.a = agency_request("appl_a", "appl.a@dga.or.th", document=PDF)
        self.b = agency_request("appl_b", "appl.b@dga.or.th")
        self.r = agency_request("appl_r", "appl.r@dga.or.th", document=PDF)
        decide(self.sysadmin, "reject", self.r["id"])
        # D: a developer waiting for verification; X: one whose link has expired.
        self.d = developer_request("dev_d", "dev.d@example.com")
        self.x = developer_request("dev_x", "dev.x@example.com")
        model.Session.query(Token).filter(Token.request_id == self.x["id"]).update(
            {"expires": utcnow() - datetime.timedelta(minutes=1)})
        model.Session.commit()
        # C: the officer's cancellation, waiting for the signed form; O: root2's own, submitted.
        self.c = account_request("officer")
        self.own = account_request("root2", document=PDF)
        self.remember()



@pytest.fixture
def world(request, world_cache) -> World:
    return reuse(request, world_cache, "world", World)


# -- the corpus --------------------------------------------------------------------------------

Data = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    id: str
    action: str
    caller: str  # "anonymous" or a user name; "$sysadmin" is the world's sysadmin
    data: Data
    expect: str | type  # a ValidationError key, or NotAuthorized / NotFound
    config: dict[str, Any] = field(default_factory=dict)


def _new_agency(**overrides: Any) -> dict[str, Any]:
    return registration(**{"name": "newbie", "email": "newbie@dga.or.th",
                           "organization": "dga", "agency_name": "", **overrides})


def agency(case_id: str, expect: str | type, config: dict[str, Any] | None = None,
           **overrides: Any) -> Case:
    return Case(f"agency-{case_id}", "dgaaccounts_agency_register", "anonymous",
                lambda w: _new_agency(**overrides), expect, config or {})


def agency_file(case_id: str, content: bytes, filename: str, expect: str = "signed_form",
                config: dict[str, Any] | None = None, **overrides: Any) -> Case:
    return Case(f"agency-file-{case_id}", "dgaaccounts_agency_register", "anonymous",
                lambda w: _new_agency(signed_form=Upload(content, filename), **overrides),
                expect, config or {})


def developer(case_id: str, expect: str | type, **overrides: Any) -> Case:
    def data(w: World) -> dict[str, Any]:
        return {"name": "newdev", "fullname": "New Developer", "email": "newdev@example.com",
                "password": "Dev-Passw0rd-42", "purpose": "แอปคุณภาพอากาศ", **overrides}
    return Case(f"developer-{case_id}", "dgaaccounts_developer_register", "anonymous", data,
                expect)


def verify(case_id: str, token: Callable[[World], Any]) -> Case:
    return Case(f"verify-{case_id}", "dgaaccounts_email_verify", "anonymous",
                lambda w: {"token": token(w)}, "token")


def resend(case_id: str, email: Any) -> Case:
    return Case(f"resend-{case_id}", "dgaaccounts_verification_resend", "anonymous",
                lambda w: {"email": email}, "email")


def account(case_id: str, caller: str, expect: str | type, **data: Any) -> Case:
    return Case(f"account-{case_id}", "dgaaccounts_cancellation_request_create", caller,
                lambda w: {"kind": "cancellation", "reason": "ลาออก", **data}, expect)


def admin(case_id: str, action: str, data: Data, expect: str | type,
          caller: str = "$sysadmin") -> Case:
    return Case(f"admin-{case_id}", f"dgaaccounts_{action}", caller, data, expect)


# Bodies of crafted files.
PDF_JS = b"%PDF-1.4\n1 0 obj << /Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>\nendobj\n%%EOF\n"  # noqa: E501
PDF_JS_ESCAPED = b"%PDF-1.4\n1 0 obj << /OpenAction << /S /J#61vaScript /J#53 (x) >> >>\nendobj\n%%EOF\n"  # noqa: E501
PDF_LAUNCH = b"%PDF-1.4\n1 0 obj << /OpenAction << /S /Launch /F (cmd.exe) >> >>\nendobj\n%%EOF\n"
PDF_EMBEDDED = b"%PDF-1.4\n1 0 obj << /Names << /EmbeddedFiles 2 0 R >> >>\nendobj\n%%EOF\n"
PDF_URI_JS = b"%PDF-1.4\n1 0 obj << /A << /S /URI /URI (javascript:alert(1)) >> >>\nendobj\n%%EOF\n"
POLYGLOT = b"%PDF-1.4\n<html><script>alert(document.cookie)</script></html>\n%%EOF\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>1</script></svg>'
LONG = "ก" * 5000
SURROGATE = "\ud800"

CASES: list[Case] = [
    # -- agency registration: fields --------------------------------------------------------
    agency("name-empty", "name", name=""),
    agency("name-spaces-and-bang", "name", name="Bad Name!"),
    agency("name-taken", "name", name="taken"),
    agency("name-upper-case", "name", name="TAKEN"),
    agency("name-101-chars", "name", name="n" * 101),
    agency("name-thai", "name", name="สมชาย"),
    agency("name-cyrillic-lookalike", "name", name="\u0430dmin"),
    agency("name-nul", "name", name="new\x00bie"),
    agency("name-list", "name", name=["newbie", "other"]),
    agency("name-site-user", "name", name="dgaaccounts_test"),
    agency("fullname-empty", "fullname", fullname=""),
    agency("fullname-spaces", "fullname", fullname="   "),
    agency("fullname-201-chars", "fullname", fullname="ก" * 201),
    agency("fullname-5000-chars", "fullname", fullname=LONG),
    agency("fullname-rtl-override", "fullname", fullname="Somchai\u202eliaM"),
    agency("fullname-zero-width-joiner", "fullname", fullname="Som\u200dchai"),
    agency("fullname-nul", "fullname", fullname="Som\x00chai"),
    agency("fullname-ansi-escape", "fullname", fullname="\x1b[31mSomchai"),
    agency("fullname-lone-surrogate", "fullname", fullname="Som" + SURROGATE),
    agency("email-empty", "email", email=""),
    agency("email-no-at", "email", email="not-an-email"),
    agency("email-taken-other-case", "email", email=" TAKEN.person@DGA.or.th "),
    agency("email-open-registration", "email", email="Appl.A@dga.or.th"),
    agency("email-201-chars", "email", email="a" * 191 + "@dga.or.th"),
    agency("email-crlf-header-injection", "email", email="x@dga.or.th\r\nBcc: all@evil.com"),
    agency("email-idn-domain", "email", email="somchai@ตัวอย่าง.ไทย"),
    agency("email-thai-local-part", "email", email="สมชาย@dga.or.th"),
    agency("email-nul", "email", email="new\x00bie@dga.or.th"),
    agency("email-lone-surrogate", "email", email="new" + SURROGATE + "@dga.or.th"),
    agency("email-two-addresses", "email", email="a@dga.or.th,b@dga.or.th"),
    agency("email-markup", "email", email='"><script>"@dga.or.th'),
    agency("email-outside-agency-domains", "email",
           {"ckanext.dgaaccounts.agency_email_domains": ["go.th", "or.th"]},
           email="newbie@gmail.com"),
    agency("email-lookalike-agency-domain", "email",
           {"ckanext.dgaaccounts.agency_email_domains": ["go.th"]},
           email="newbie@evil-go.th"),
    agency("password-empty", "password", password=""),
    agency("password-short", "password", password="Sh0rt!"),
    agency("password-is-username", "password", name="newbiepass12", password="newbiepass12"),
    agency("password-letters-only", "password", password="abcdefghijkl"),
    agency("password-few-characters", "password", password="ab1ab1ab1ab1"),
    agency("password-201-chars", "password", password="Aa1-" * 51),
    agency("password-lone-surrogate", "password", password="Correct-Horse-42" + SURROGATE),
    agency("organization-unknown", "organization", organization="no-such-org"),
    agency("organization-deleted", "organization", organization="gone"),
    agency("organization-and-agency-empty", "organization", organization=""),
    agency("organization-nul", "organization", organization="dga\x00"),
    agency("organization-lone-surrogate", "organization", organization="dga" + SURROGATE),
    agency("organization-dict", "organization", organization={"id": "dga"}),
    agency("agency-name-control-chars", "agency_name", organization="",
           agency_name="\x1b[2Jสำนักงาน"),
    agency("position-empty", "position", position=""),
    agency("position-spaces", "position", position=" \t "),
    agency("position-201-chars", "position", position="x" * 201),
    agency("position-bidi-isolate", "position", position="ผู้อำนวยการ\u2067"),
    agency("phone-words", "phone", phone="call me"),
    agency("phone-too-long", "phone", phone="+66" + "1" * 20),
    agency("phone-nul", "phone", phone="02\x00612 6000"),
    agency("phone-list", "phone", phone=["02 612 6000"]),
    agency("superior-name-zero-width-space", "superior_name", superior_name="\u200b"),
    agency("superior-name-spaces", "superior_name", superior_name="   "),
    agency("superior-position-empty", "superior_position", superior_position=""),
    agency("superior-position-spaces", "superior_position", superior_position="  "),
    agency("signed-form-as-text", "signed_form", signed_form="%PDF-1.4 not a file"),
    agency("signed-form-as-dict", "signed_form", signed_form={"filename": "x.pdf"}),
    # -- agency registration: files -----------------------------------------------------------
    agency_file("empty", b"", "form.pdf"),
    agency_file("html-named-pdf", b"<html><body>hi</body></html>", "form.pdf"),
    agency_file("png-named-pdf", PNG, "form.pdf"),
    agency_file("jpeg-named-png", JPEG, "scan.png"),
    agency_file("pdf-html-polyglot", POLYGLOT, "form.pdf"),
    agency_file("pdf-javascript", PDF_JS, "form.pdf"),
    agency_file("pdf-hex-escaped-javascript", PDF_JS_ESCAPED, "form.pdf"),
    agency_file("pdf-launch", PDF_LAUNCH, "form.pdf"),
    agency_file("pdf-embedded-files", PDF_EMBEDDED, "form.pdf"),
    agency_file("pdf-javascript-uri", PDF_URI_JS, "form.pdf"),
    agency_file("pdf-after-whitespace", b"  \n" + PDF, "form.pdf"),
    agency_file("png-with-script", PNG + b"<script>alert(1)</script>", "scan.png"),
    agency_file("jpeg-with-html-trailer", JPEG + b"<html><script>1</script>", "scan.jpg"),
    agency_file("svg", SVG, "form.svg"),
    agency_file("svg-named-png", SVG, "form.png"),
    agency_file("gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "scan.gif"),
    agency_file("zip-docx", b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64, "form.pdf"),
    agency_file("windows-exe", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64, "form.pdf"),
    agency_file("name-path-traversal", PDF, "../../../etc/passwd.pdf"),
    agency_file("name-windows-traversal", PDF, "..\\..\\boot.pdf"),
    agency_file("name-nul", PDF, "form.pdf\x00.html"),
    agency_file("name-crlf", PDF, "form\r\nX-Injected: 1.pdf"),
    agency_file("name-rtl-override", PDF, "invoice\u202efdp.exe.pdf"),
    agency_file("name-empty", PDF, ""),
    agency_file("name-300-chars", PDF, "ก" * 300 + ".pdf"),
    agency_file("name-dot-dot", PDF, ".."),
    agency_file("name-lone-surrogate", PDF, "form" + SURROGATE + ".pdf"),
    agency_file("over-the-size-limit", PDF + b"0" * 2048, "form.pdf",
                config={"ckanext.dgaaccounts.upload_max_size": 1024}),
    agency_file("type-not-configured", PNG, "scan.png",
                config={"ckanext.dgaaccounts.upload_types": ["application/pdf"]}),
    agency_file("good-file-bad-name-field", PDF, "form.pdf", expect="name", name="taken"),
    agency_file("good-file-bad-email-field", PDF, "form.pdf", expect="email", email="x"),
    # -- developer sign-up --------------------------------------------------------------------
    developer("email-empty", "email", email=""),
    developer("email-malformed", "email", email="dev@@example.com"),
    developer("email-of-active-user", "email", email="PLAIN@example.com"),
    developer("email-of-open-agency-registration", "email", email="appl.b@dga.or.th"),
    developer("email-nul", "email", email="newdev\x00@example.com"),
    developer("email-lone-surrogate", "email", email="newdev" + SURROGATE + "@example.com"),
    developer("email-list", "email", email=["newdev@example.com"]),
    developer("email-5000-chars", "email", email="d" * 5000 + "@example.com"),
    developer("name-taken", "name", name="plain"),
    developer("name-empty", "name", name=""),
    developer("name-markup", "name", name="<b>dev</b>"),
    developer("fullname-missing", "fullname", fullname=""),
    developer("fullname-spaces", "fullname", fullname="   "),
    developer("fullname-lone-surrogate", "fullname", fullname=SURROGATE),
    developer("password-short", "password", password="x"),
    developer("password-is-email", "password", password="newdev@example.com"),
    developer("purpose-1001-chars", "purpose", purpose="p" * 1001),
    developer("purpose-nul", "purpose", purpose="apps\x00"),
    # -- verification links -------------------------------------------------------------------
    verify("empty", lambda w: ""),
    verify("unknown", lambda w: "not-a-token"),
    verify("201-chars", lambda w: "t" * 201),
    verify("one-character-changed", lambda w: w.d["verify"][:-1] + (
        "A" if w.d["verify"][-1] != "A" else "B")),
    verify("upper-cased", lambda w: w.d["verify"].upper()),
    verify("padded-with-spaces", lambda w: f" {w.d['verify']} "),
    verify("already-used", lambda w: w.a["verify"]),
    verify("expired", lambda w: w.x["verify"]),
    verify("applicant-token-not-a-verify-token", lambda w: w.b["token"]),
    verify("nul", lambda w: w.d["verify"] + "\x00"),
    verify("lone-surrogate", lambda w: SURROGATE),
    verify("list", lambda w: [w.d["verify"]]),
    # -- resend --------------------------------------------------------------------------------
    resend("empty", ""),
    resend("malformed", "nobody"),
    resend("201-chars", "r" * 195 + "@x.org"),
    resend("crlf", "dev.d@example.com\r\nBcc: all@evil.com"),
    resend("list", ["dev.d@example.com"]),
    # -- the applicant's request: ids, tokens, states -----------------------------------------
    Case("show-unknown-id", "dgaaccounts_request_show", "anonymous",
         lambda w: {"id": "00000000-0000-0000-0000-000000000000"}, NotFound),
    Case("show-empty-id", "dgaaccounts_request_show", "anonymous", lambda w: {"id": ""}, "id"),
    Case("show-id-nul", "dgaaccounts_request_show", "anonymous",
         lambda w: {"id": w.a["id"] + "\x00"}, "id"),
    Case("show-id-lone-surrogate", "dgaaccounts_request_show", "anonymous",
         lambda w: {"id": SURROGATE}, "id"),
    Case("show-id-sql", "dgaaccounts_request_show", "anonymous",
         lambda w: {"id": "' OR '1'='1"}, NotFound),
    Case("show-other-applicants-token", "dgaaccounts_request_show", "anonymous",
         lambda w: {"id": w.a["id"], "token": w.b["token"]}, NotAuthorized),
    Case("show-verify-token-as-applicant-token", "dgaaccounts_request_show", "anonymous",
         lambda w: {"id": w.d["id"], "token": w.d["verify"]}, NotAuthorized),
    Case("show-by-ordinary-user", "dgaaccounts_request_show", "plain",
         lambda w: {"id": w.a["id"]}, NotAuthorized),
    Case("show-by-organization-admin", "dgaaccounts_request_show", "orgadmin",
         lambda w: {"id": w.a["id"]}, NotAuthorized),
    Case("show-cancellation-by-organization-admin", "dgaaccounts_request_show", "orgadmin",
         lambda w: {"id": w.c["id"]}, NotAuthorized),
    Case("withdraw-unknown-id", "dgaaccounts_request_withdraw", "anonymous",
         lambda w: {"id": "nope", "token": w.a["token"]}, NotFound),
    Case("withdraw-other-applicants-token", "dgaaccounts_request_withdraw", "anonymous",
         lambda w: {"id": w.a["id"], "token": w.b["token"]}, NotAuthorized),
    Case("withdraw-someone-elses-cancellation", "dgaaccounts_request_withdraw", "plain",
         lambda w: {"id": w.c["id"]}, NotAuthorized),
    Case("withdraw-rejected-request", "dgaaccounts_request_withdraw", "anonymous",
         lambda w: {"id": w.r["id"], "token": w.r["token"]}, "state"),
    Case("upload-when-already-submitted", "dgaaccounts_request_document_upload", "anonymous",
         lambda w: {"id": w.a["id"], "token": w.a["token"],
                    "signed_form": Upload(PDF, "again.pdf")}, "state"),
    Case("upload-to-developer-sign-up", "dgaaccounts_request_document_upload", "dev_d",
         lambda w: {"id": w.d["id"], "signed_form": Upload(PDF, "x.pdf")}, "state"),
    Case("upload-to-rejected-request", "dgaaccounts_request_document_upload", "anonymous",
         lambda w: {"id": w.r["id"], "token": w.r["token"],
                    "signed_form": Upload(PDF, "late.pdf")}, "state"),
    Case("upload-no-file", "dgaaccounts_request_document_upload", "anonymous",
         lambda w: {"id": w.b["id"], "token": w.b["token"]}, "signed_form"),
    Case("upload-file-as-text", "dgaaccounts_request_document_upload", "anonymous",
         lambda w: {"id": w.b["id"], "token": w.b["token"], "signed_form": "%PDF-1.4"},
         "signed_form"),
    Case("upload-html", "dgaaccounts_request_document_upload", "anonymous",
         lambda w: {"id": w.b["id"], "token": w.b["token"],
                    "signed_form": Upload(b"<html><script>1</script></html>", "f.pdf")},
         "signed_form"),
    Case("upload-unknown-id", "dgaaccounts_request_document_upload", "anonymous",
         lambda w: {"id": "nope", "token": w.b["token"],
                    "signed_form": Upload(PDF, "f.pdf")}, NotFound),
    Case("upload-other-applicants-token", "dgaaccounts_request_document_upload", "anonymous",
         lambda w: {"id": w.b["id"], "token": w.a["token"],
                    "signed_form": Upload(PDF, "f.pdf")}, NotAuthorized),
    Case("upload-someone-elses-cancellation", "dgaaccounts_request_document_upload", "plain",
         lambda w: {"id": w.c["id"], "signed_form": Upload(PDF, "f.pdf")}, NotAuthorized),
    # -- cancellation and suspension ----------------------------------------------------------
    account("anonymous", "anonymous", NotAuthorized),
    account("kind-unknown", "plain", "kind", kind="deletion"),
    account("kind-empty", "plain", "kind", kind=""),
    account("kind-list", "plain", "kind", kind=["cancellation"]),
    account("reason-empty", "plain", "reason", reason=""),
    account("reason-spaces", "plain", "reason", reason="   "),
    account("reason-2001-chars", "plain", "reason", reason="ก" * 2001),
    account("reason-rtl-override", "plain", "reason", reason="ok\u202e"),
    account("reason-nul", "plain", "reason", reason="ok\x00"),
    account("reason-lone-surrogate", "plain", "reason", reason="ok" + SURROGATE),
    account("second-open-request", "officer", "kind", kind="suspension"),
    account("by-pending-applicant", "appl_b", NotAuthorized),
    # -- decisions and the other sysadmin actions ---------------------------------------------
    admin("approve-by-anonymous", "request_approve", lambda w: {"id": w.a["id"]}, NotAuthorized,
          "anonymous"),
    admin("approve-by-ordinary-user", "request_approve", lambda w: {"id": w.a["id"]},
          NotAuthorized, "plain"),
    admin("approve-by-organization-admin", "request_approve", lambda w: {"id": w.a["id"]},
          NotAuthorized, "orgadmin"),
    admin("approve-unknown-id", "request_approve", lambda w: {"id": "nope"}, NotFound),
    admin("approve-empty-id", "request_approve", lambda w: {"id": ""}, "id"),
    admin("approve-id-nul", "request_approve", lambda w: {"id": w.a["id"] + "\x00"}, "id"),
    admin("approve-role-owner", "request_approve", lambda w: {"id": w.a["id"], "role": "owner"},
          "role"),
    admin("approve-role-sysadmin", "request_approve",
          lambda w: {"id": w.a["id"], "role": "sysadmin"}, "role"),
    admin("approve-deleted-organization", "request_approve",
          lambda w: {"id": w.a["id"], "organization": "gone"}, "organization"),
    admin("approve-organization-nul", "request_approve",
          lambda w: {"id": w.a["id"], "organization": "dga\x00"}, "organization"),
    admin("approve-note-2001-chars", "request_approve",
          lambda w: {"id": w.a["id"], "note": "n" * 2001}, "note"),
    admin("approve-note-nul", "request_approve", lambda w: {"id": w.a["id"], "note": "a\x00"},
          "note"),
    admin("approve-note-lone-surrogate", "request_approve",
          lambda w: {"id": w.a["id"], "note": SURROGATE}, "note"),
    admin("approve-awaiting-document", "request_approve", lambda w: {"id": w.b["id"]}, "state"),
    admin("approve-rejected", "request_approve", lambda w: {"id": w.r["id"]}, "state"),
    admin("approve-developer-awaiting-verification", "request_approve",
          lambda w: {"id": w.d["id"]}, "state"),
    admin("approve-cancellation-awaiting-document", "request_approve",
          lambda w: {"id": w.c["id"]}, "state"),
    admin("approve-own-cancellation", "request_approve", lambda w: {"id": w.own["id"]},
          NotAuthorized, "root2"),
    admin("reject-own-cancellation", "request_reject",
          lambda w: {"id": w.own["id"], "reason": "x"}, NotAuthorized, "root2"),
    admin("reject-no-reason", "request_reject", lambda w: {"id": w.a["id"]}, "reason"),
    admin("reject-reason-spaces", "request_reject", lambda w: {"id": w.a["id"], "reason": " "},
          "reason"),
    admin("reject-reason-nul", "request_reject",
          lambda w: {"id": w.a["id"], "reason": "no\x00"}, "reason"),
    admin("reject-reason-lone-surrogate", "request_reject",
          lambda w: {"id": w.a["id"], "reason": "no" + SURROGATE}, "reason"),
    admin("reject-reason-100k", "request_reject",
          lambda w: {"id": w.a["id"], "reason": "x" * 100000}, "reason"),
    admin("reject-unknown-id", "request_reject", lambda w: {"id": "nope", "reason": "x"},
          NotFound),
    admin("reject-by-organization-admin", "request_reject",
          lambda w: {"id": w.a["id"], "reason": "x"}, NotAuthorized, "orgadmin"),
    admin("reject-rejected", "request_reject", lambda w: {"id": w.r["id"], "reason": "again"},
          "state"),
    admin("return-awaiting-document", "request_return",
          lambda w: {"id": w.b["id"], "reason": "x"}, "state"),
    admin("return-reason-rtl-override", "request_return",
          lambda w: {"id": w.a["id"], "reason": "\u202eแก้ไข"}, "reason"),
    admin("return-by-applicant-token", "request_return",
          lambda w: {"id": w.a["id"], "reason": "x", "token": w.a["token"]}, NotAuthorized,
          "anonymous"),
    admin("reactivate-unknown-user", "user_reactivate", lambda w: {"id": "nobody-here"},
          NotFound),
    admin("reactivate-active-user", "user_reactivate", lambda w: {"id": "plain"}, "id"),
    admin("reactivate-pending-applicant", "user_reactivate", lambda w: {"id": "appl_b"}, "id"),
    admin("reactivate-empty-id", "user_reactivate", lambda w: {"id": ""}, "id"),
    admin("reactivate-id-nul", "user_reactivate", lambda w: {"id": "plain\x00"}, "id"),
    admin("reactivate-by-ordinary-user", "user_reactivate", lambda w: {"id": "plain"},
          NotAuthorized, "plain"),
    admin("list-by-anonymous", "request_list", lambda w: {}, NotAuthorized, "anonymous"),
    admin("list-by-organization-admin", "request_list", lambda w: {}, NotAuthorized,
          "orgadmin"),
    admin("list-state-unknown", "request_list", lambda w: {"state": "bogus"}, "state"),
    admin("list-kind-unknown", "request_list", lambda w: {"kind": "bogus"}, "kind"),
    admin("list-limit-text", "request_list", lambda w: {"limit": "abc"}, "limit"),
    admin("list-offset-negative", "request_list", lambda w: {"offset": -1}, "offset"),
    admin("list-limit-list", "request_list", lambda w: {"limit": [5]}, "limit"),
    admin("list-q-lone-surrogate", "request_list", lambda w: {"q": SURROGATE}, "q"),
    admin("list-q-nul", "request_list", lambda w: {"q": "a\x00"}, "q"),
    admin("list-q-201-chars", "request_list", lambda w: {"q": "q" * 201}, "q"),
    admin("audit-by-ordinary-user", "audit_list", lambda w: {}, NotAuthorized, "plain"),
    admin("audit-limit-negative", "audit_list", lambda w: {"limit": -5}, "limit"),
    admin("audit-limit-list", "audit_list", lambda w: {"limit": [5]}, "limit"),
    # -- issue 11: control characters in one-line fields, numbers and dates out of range, types
    agency("fullname-line-feed", "fullname", fullname="Somchai\nBcc: all@evil.example"),
    agency("fullname-carriage-return", "fullname", fullname="Som\rchai"),
    agency("fullname-line-separator", "fullname", fullname="สมชาย\u2028ใจดี"),
    agency("fullname-next-line-c1", "fullname", fullname="Som\x85chai"),
    agency("fullname-delete", "fullname", fullname="Som\x7fchai"),
    agency("position-tab", "position", position="ผู้อำนวยการ\tกอง"),
    agency("superior-name-paragraph-separator", "superior_name", superior_name="a\u2029b"),
    agency("agency-name-line-feed", "agency_name", organization="", agency_name="กรม\nใหม่"),
    agency("name-number", "name", name=12345),
    agency("name-boolean", "name", name=True),
    agency("fullname-number", "fullname", fullname=12345),
    agency("fullname-dict", "fullname", fullname={"th": "สมชาย"}),
    agency("fullname-file", "fullname", fullname=Upload(b"%PDF-1.4", "fullname.pdf")),
    agency("phone-number", "phone", phone=26126000),
    agency("agency-name-zero", "agency_name", agency_name=0),
    agency("organization-number", "organization", organization=7),
    developer("fullname-line-feed", "fullname", fullname="Dev\nBcc: x@evil.example"),
    developer("name-number", "name", name=12345),
    developer("purpose-number", "purpose", purpose=42),
    developer("purpose-false", "purpose", purpose=False),
    verify("number", lambda w: 12345),
    resend("number", 12345),
    resend("line-separator", "dev.d\u2028@example.com"),
    account("reason-number", "plain", "reason", reason=12345),
    account("kind-number", "plain", "kind", kind=1),
    admin("approve-role-number", "request_approve", lambda w: {"id": w.a["id"], "role": 1},
          "role"),
    admin("approve-note-number", "request_approve", lambda w: {"id": w.a["id"], "note": 0},
          "note"),
    admin("reject-reason-list", "request_reject",
          lambda w: {"id": w.a["id"], "reason": ["no"]}, "reason"),
    admin("list-offset-2-63", "request_list", lambda w: {"offset": 2**63}, "offset"),
    admin("list-offset-float", "request_list", lambda w: {"offset": 1e23}, "offset"),
    admin("list-offset-digits-5000", "request_list", lambda w: {"offset": "9" * 5000},
          "offset"),
    admin("list-overdue-list", "request_list", lambda w: {"overdue": ["true"]}, "overdue"),
    admin("list-q-line-feed", "request_list", lambda w: {"q": "a\nb"}, "q"),
    admin("audit-offset-2-63", "audit_list", lambda w: {"offset": 2**63}, "offset"),
    admin("audit-until-9999", "audit_list", lambda w: {"until": "9999-12-31"}, "until"),
    admin("audit-since-year-1-with-offset", "audit_list",
          lambda w: {"since": "0001-01-01T00:00+05:00"}, "since"),
    admin("audit-since-number", "audit_list", lambda w: {"since": 20260101}, "since"),
    admin("report-until-9999", "sla_report", lambda w: {"until": "9999-12-31"}, "until"),
    admin("report-since-year-1", "sla_report", lambda w: {"since": "0001-01-01"}, "since"),
    admin("report-period-number", "sla_report", lambda w: {"period": 7}, "period"),
]


def test_the_corpus_is_large_and_names_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 60
    workflows = {c.action for c in CASES}
    assert {"dgaaccounts_agency_register", "dgaaccounts_developer_register",
            "dgaaccounts_cancellation_request_create", "dgaaccounts_request_approve",
            "dgaaccounts_email_verify", "dgaaccounts_request_document_upload"} <= workflows


def _context(world: World, caller: str) -> dict[str, Any]:
    if caller == "anonymous":
        return dict(ANONYMOUS)
    return as_user(world.sysadmin if caller == "$sysadmin" else caller)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, world: World, storage_root, monkeypatch):
    for key, value in case.config.items():
        monkeypatch.setitem(tk.config, key, value)
    data = case.data(world)
    before = snapshot(storage_root)
    if isinstance(case.expect, str):
        with pytest.raises(tk.ValidationError) as error:
            helpers.call_action(case.action, context=_context(world, case.caller), **data)
        assert set(error.value.error_dict) == {case.expect}, error.value.error_dict
    else:
        with pytest.raises(case.expect):
            helpers.call_action(case.action, context=_context(world, case.caller), **data)
    assert snapshot(storage_root) == before, f"{case.id} changed something"


# -- fields that must be ignored (mass assignment) ----------------------------------------------

def test_fields_outside_the_allowlist_are_ignored(world: World, storage_root):
    root = model.User.by_name(world.sysadmin)
    result = helpers.call_action("dgaaccounts_agency_register", context=dict(ANONYMOUS),
                                 **_new_agency(
                                     name="mallory", email="mallory@dga.or.th",
                                     sysadmin=True, state="active", id=root.id,
                                     plugin_extras={"dgaaccounts": {"epoch": 99}},
                                     capacity="admin", role="admin", reference="DGA-1-000001",
                                     user_id=root.id, kind="developer_registration"))
    model.Session.expire_all()
    user = model.User.by_name("mallory")
    assert user.id != root.id
    assert (user.state, user.sysadmin) == ("pending", False)
    assert (user.plugin_extras or {}).get("dgaaccounts", {}).get("epoch") is None
    req = model.Session.get(Request, result["request_id"])
    assert (req.kind, req.user_id, req.state) == (
        "agency_registration", user.id, "awaiting_verification")
    assert req.reference != "DGA-1-000001"
    assert model.User.by_name(world.sysadmin).fullname == root.fullname
    # The world changed on purpose: the next test builds it again.
