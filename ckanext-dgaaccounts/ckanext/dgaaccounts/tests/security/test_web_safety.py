"""Web safety: CSRF on every form, how scans are served, no user enumeration, no secrets in the
logs, and link tokens stored only as hashes.

CSRF: CKAN never checks anonymous POSTs, so the extension's anonymous forms check the token
themselves; for signed-in users with a cookie session CKAN checks it (on 2.11 only with
``ckan.csrf_protection.ignore_extensions = false``, which the test configuration sets and
``module_app`` asserts; 2.12 always does).
"""
from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import logging
import re
import urllib.parse
import zlib
from typing import Any

import pytest
import sqlalchemy as sa

import ckan.model as model
from ckan.tests import factories

from ckanext.dgaaccounts.model import Document, Request
from ckanext.dgaaccounts.tests.conftest import JPEG, PDF, PNG, free_port, registration
from ckanext.dgaaccounts.tests.security.conftest import (
    Baseline, EXT_TABLES, account_request, agency_request, browser, browser_session, csrf_token,
    decide, developer_request, link_session, reuse, session_cookie, sign_in, snapshot,
    without_csrf,
)

pytestmark = pytest.mark.usefixtures("plugin_loaded", "_no_rate_limit")

PASSWORD = "Safe-Passw0rd-2026"


@pytest.fixture
def app(module_app):
    return module_app


# -- 1. every form carries the token ------------------------------------------------------------

_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)


def _post_forms(html: str) -> list[tuple[str, bool]]:
    """(action, carries a CSRF token) of each POST form of the page."""
    found = []
    for attrs, body in _FORM.findall(html):
        if re.search(r'method\s*=\s*"post"', attrs, re.I):
            action = re.search(r'action="([^"]*)"', attrs)
            found.append((action.group(1) if action else "", 'name="_csrf_token"' in body))
    return found


def test_every_post_form_of_the_extension_carries_a_csrf_token(app, clean_db):
    factories.Sysadmin(name="s_root", password=PASSWORD)
    factories.User(name="s_plain", password=PASSWORD)
    factories.Organization(name="dga")
    submitted = agency_request("s_appl_a", "s_appl_a@dga.or.th", document=PDF)
    waiting = agency_request("s_appl_b", "s_appl_b@dga.or.th")
    factories.User(name="s_susp", email="s_susp@dga.or.th", password=PASSWORD)
    suspension = account_request("s_susp", "suspension", document=PDF)
    decide("s_root", "approve", suspension["id"])

    anonymous = browser(app)
    applicant = browser(app, link_session(app, waiting["id"], waiting["token"])[0])
    user = sign_in(app, "s_plain", PASSWORD)
    root = sign_in(app, "s_root", PASSWORD)
    pages = {
        "/dgaaccounts/register/agency": anonymous,
        "/dgaaccounts/register/developer": anonymous,
        "/dgaaccounts/resend": anonymous,
        "/dgaaccounts/verify/some-token": anonymous,
        f"/dgaaccounts/request/{waiting['id']}": applicant,
        "/dgaaccounts/account/close": user,
        f"/ckan-admin/dgaaccounts/request/{submitted['id']}": root,
        f"/ckan-admin/dgaaccounts/request/{suspension['id']}": root,
    }
    forms = {}
    for path, client in pages.items():
        resp = client.get(path)
        assert resp.status_code == 200, path
        for action, has_token in _post_forms(resp.body):
            forms[action] = has_token
    assert {action for action, ok in forms.items() if not ok} == set()
    # Every form of the extension was seen: registration (2), resend, verify, upload, withdraw,
    # account close, approve, return, reject, reactivate.
    assert len(forms) >= 11, sorted(forms)


# -- 2. a POST without a valid token changes nothing -------------------------------------------

class CsrfWorld(Baseline):
    def __init__(self, app: Any) -> None:
        factories.Sysadmin(name="c_root", email="c_root@dga.or.th", password=PASSWORD)
        factories.Sysadmin(name="c_root2", email="c_root2@dga.or.th")
        factories.User(name="c_plain", email="c_plain@dga.or.th", password=PASSWORD)
        factories.Organization(name="dga", users=[{"name": "c_plain", "capacity": "editor"}])
        self.submitted = agency_request("c_appl_a", "c_appl_a@dga.or.th", document=PDF)
        self.waiting = agency_request("c_appl_b", "c_appl_b@dga.or.th")
        self.developer = developer_request("c_dev", "c_dev@example.com")
        factories.User(name="c_susp", email="c_susp@dga.or.th", password=PASSWORD)
        suspension = account_request("c_susp", "suspension", document=PDF)
        decide("c_root", "approve", suspension["id"])
        self.suspended_id = model.User.by_name("c_susp").id
        self.sessions = {
            "anonymous": browser_session(app),
            "other": browser_session(app),  # another browser: its token is not this one's
            "applicant": link_session(app, self.waiting["id"], self.waiting["token"]),
            "user": browser_session(app, session_cookie(sign_in(app, "c_plain", PASSWORD))),
            "sysadmin": browser_session(app, session_cookie(sign_in(app, "c_root", PASSWORD))),
        }
        self.remember()



@pytest.fixture
def csrf_world(request, app, world_cache) -> CsrfWorld:
    return reuse(request, world_cache, "csrf", lambda: CsrfWorld(app))


def _signup(**extra: str) -> dict[str, Any]:
    return dict(registration(name="c_new", email="c_new@dga.or.th", organization="dga",
                             agency_name=""), **extra)


# (form, browser, path, data that would succeed with the right token)
FORMS: list[tuple[str, str, str, Any]] = [
    ("takeover /user/register", "anonymous", "/user/register",
     lambda w: {"name": "c_sneaky", "email": "c_sneaky@x.org", "password1": "Passw0rd-long-1",
                "password2": "Passw0rd-long-1"}),
    ("agency registration", "anonymous", "/dgaaccounts/register/agency", lambda w: _signup()),
    ("developer sign-up", "anonymous", "/dgaaccounts/register/developer",
     lambda w: {"name": "c_newdev", "fullname": "New Dev", "email": "c_newdev@example.com",
                "password": "Dev-Passw0rd-42"}),
    ("verification", "anonymous", "/dgaaccounts/verify/{verify}", lambda w: {}),
    ("resend", "anonymous", "/dgaaccounts/resend", lambda w: {"email": "c_dev@example.com"}),
    ("upload", "applicant", "/dgaaccounts/request/{waiting}/upload",
     lambda w: {"signed_form": (io.BytesIO(PDF), "signed.pdf")}),
    ("withdraw", "applicant", "/dgaaccounts/request/{waiting}/withdraw", lambda w: {}),
    ("account close", "user", "/dgaaccounts/account/close",
     lambda w: {"kind": "cancellation", "reason": "ย้ายงาน"}),
    ("approve", "sysadmin", "/ckan-admin/dgaaccounts/request/{submitted}/approve",
     lambda w: {"role": "editor"}),
    ("reject", "sysadmin", "/ckan-admin/dgaaccounts/request/{submitted}/reject",
     lambda w: {"reason": "no"}),
    ("return", "sysadmin", "/ckan-admin/dgaaccounts/request/{submitted}/return",
     lambda w: {"reason": "fix"}),
    ("reactivate", "sysadmin", "/ckan-admin/dgaaccounts/user/{suspended}/reactivate",
     lambda w: {}),
]
TOKENS = {
    "missing": lambda w, own: None,
    "forged": lambda w, own: own[:-4] + ("AAAA" if not own.endswith("AAAA") else "BBBB"),
    "another-browsers": lambda w, own: w.sessions["other"][1],
}


@pytest.mark.parametrize("variant", list(TOKENS))
@pytest.mark.parametrize(("form", "who", "path", "data"), FORMS, ids=[f[0] for f in FORMS])
def test_post_without_a_valid_csrf_token_is_refused(app, csrf_world, storage_root, form, who,
                                                   path, data, variant):
    w = csrf_world
    cookie, own = w.sessions[who]
    client = browser(app, cookie)
    body = data(w)
    token = TOKENS[variant](w, own)
    if token is not None:
        body["_csrf_token"] = token
    url = path.format(verify=w.developer["verify"], waiting=w.waiting["id"],
                      submitted=w.submitted["id"], suspended=w.suspended_id)
    before = snapshot(storage_root)
    kwargs = {"content_type": "multipart/form-data"} if "signed_form" in body else {}
    resp = client.post(url, data=body, follow_redirects=False, **kwargs)
    assert resp.status_code == 400, f"{form}: {resp.status_code}"
    # one clear message, whoever checked the token (the extension or CKAN)
    assert "The form has expired. Reload the page" in resp.get_data(as_text=True), form
    assert snapshot(storage_root) == before


def test_a_refused_form_token_is_told_in_the_pages_language(app, csrf_world):
    cookie, _own = csrf_world.sessions["sysadmin"]
    resp = browser(app, cookie).post(
        f"/th/ckan-admin/dgaaccounts/request/{csrf_world.submitted['id']}/reject",
        data={"reason": "no"}, follow_redirects=False)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "แบบฟอร์มหมดอายุแล้ว" in html
    assert "CSRF" not in html


@pytest.mark.parametrize("first", ["anonymous", "api-token"])
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_request_without_a_session_does_not_switch_csrf_off_for_sysadmins(
        app, csrf_world, storage_root, first, decision):
    """An anonymous POST, or one with an API token, reaches a decision route first (CKAN lets
    both through without a CSRF token: neither has a session to forge). A sysadmin's browser
    posting the same route without a token afterwards must still be refused."""
    w = csrf_world
    url = f"/ckan-admin/dgaaccounts/request/{w.submitted['id']}/{decision}"
    if first == "anonymous":
        assert browser(app).post(url, follow_redirects=False).status_code == 403
    else:
        token = factories.APIToken(user="c_plain")["token"]
        refused = browser(app).post(url, headers={"Authorization": token},
                                    follow_redirects=False)
        assert refused.status_code == 403
        w.baseline = snapshot()  # the token is new, nothing else
    cookie, _own = w.sessions["sysadmin"]
    before = snapshot(storage_root)
    resp = browser(app, cookie).post(url, data={"role": "editor", "reason": "forged"},
                                     follow_redirects=False)
    assert resp.status_code == 400
    assert snapshot(storage_root) == before


def test_with_the_right_token_the_same_posts_work(app, csrf_world, storage_root):
    """The control: the refusals above are about the token (the forms work with it)."""
    w = csrf_world
    cookie, token = w.sessions["applicant"]
    resp = browser(app, cookie).post(
        f"/dgaaccounts/request/{w.waiting['id']}/upload", follow_redirects=False,
        data={"_csrf_token": token, "signed_form": (io.BytesIO(PDF), "signed.pdf")},
        content_type="multipart/form-data")
    assert resp.status_code == 302
    cookie, token = w.sessions["sysadmin"]
    resp = browser(app, cookie).post(
        f"/ckan-admin/dgaaccounts/request/{w.submitted['id']}/approve",
        data={"_csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 302
    model.Session.remove()
    assert model.Session.get(Request, w.waiting["id"]).state == "submitted"
    assert model.Session.get(Request, w.submitted["id"]).state == "approved"


# -- 3. how scans are served ----------------------------------------------------------------------

@pytest.mark.parametrize(("content", "filename", "mimetype"), [
    (PDF, "แบบฟอร์ม ลงนาม.pdf", "application/pdf"),
    (JPEG, "scan.JPG", "image/jpeg"),
    (PNG, "scan.png", "image/png"),
], ids=["pdf", "jpeg", "png"])
def test_scans_are_served_with_their_detected_type_nosniff_and_no_cache(
        app, clean_db, content, filename, mimetype):
    factories.Sysadmin(name="d_root", password=PASSWORD)
    factories.Organization(name="dga")
    req = agency_request("d_appl", "d_appl@dga.or.th", document=content, filename=filename)
    doc = model.Session.query(Document).filter(Document.request_id == req["id"]).one()
    applicant = browser(app, link_session(app, req["id"], req["token"])[0])
    root = sign_in(app, "d_root", PASSWORD)
    path = f"/dgaaccounts/request/{req['id']}/document/{doc.id}"
    for client in (applicant, root):
        for query, disposition in (("", "inline"), ("?download=1", "attachment")):
            resp = client.get(path + query)
            assert resp.status_code == 200
            assert resp.data == content
            assert resp.headers["Content-Type"] == mimetype  # from the content, never HTML
            assert "html" not in resp.headers["Content-Type"]
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert "no-store" in resp.headers["Cache-Control"]
            assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
            assert "script-src" not in resp.headers["Content-Security-Policy"]
            assert resp.headers["Content-Disposition"] == (
                f"{disposition}; filename*=UTF-8''{urllib.parse.quote(filename)}")
    form = root.get(f"/dgaaccounts/request/{req['id']}/form.pdf")
    assert form.headers["Content-Type"] == "application/pdf"
    assert form.headers["X-Content-Type-Options"] == "nosniff"
    assert form.headers["Content-Disposition"].startswith("attachment;")
    assert "no-store" in form.headers["Cache-Control"]


def test_a_scan_name_cannot_inject_headers_or_markup(app, clean_db):
    """Names that could break the Content-Disposition header are refused at upload; a name
    with quotes and markup is percent-encoded in the header and escaped in pages."""
    factories.Sysadmin(name="d_root", password=PASSWORD)
    factories.Organization(name="dga")
    name = 'a";b=<img src=x onerror=alert(1)>.pdf'
    req = agency_request("d_appl", "d_appl@dga.or.th", document=PDF, filename=name)
    doc = model.Session.query(Document).filter(Document.request_id == req["id"]).one()
    root = sign_in(app, "d_root", PASSWORD)
    resp = root.get(f"/dgaaccounts/request/{req['id']}/document/{doc.id}")
    header = resp.headers["Content-Disposition"]
    assert '"' not in header
    assert "<" not in header
    assert ";b=" not in header
    page = root.get(f"/ckan-admin/dgaaccounts/request/{req['id']}").body
    assert "<img src=x onerror=alert(1)>" not in page


# -- 4. no user enumeration -----------------------------------------------------------------------

def _answer(client: Any, path: str, data: dict[str, str]) -> tuple[int, str | None, str]:
    """Status, redirect target and the page finally shown, for a form POST."""
    token = csrf_token(client.get(path).body)
    resp = client.post(path, data=dict(data, _csrf_token=token), follow_redirects=False)
    location = resp.headers.get("Location")
    shown = client.get(location).body if location else resp.body
    return resp.status_code, location, without_csrf(shown)


@pytest.fixture
def people(clean_db):
    factories.User(name="e_active", email="e_active@dga.or.th", password=PASSWORD)
    factories.Organization(name="dga")
    agency_request("e_pending", "e_pending@dga.or.th", verify=False)
    developer_request("e_dev", "e_dev@example.com")


def test_resend_answers_the_same_for_known_and_unknown_addresses(app, people, smtp):
    answers = {email: _answer(browser(app), "/dgaaccounts/resend", {"email": email})
               for email in ("e_pending@dga.or.th", "e_dev@example.com", "e_active@dga.or.th",
                             "nobody@dga.or.th", "E_PENDING@dga.or.th ")}
    assert len(set(answers.values())) == 1, {k: v[:2] for k, v in answers.items()}


@pytest.mark.parametrize("smtp_state", ["up", "down"])
def test_password_reset_answers_the_same_for_known_and_unknown_addresses(
        app, people, smtp, ckan_config, monkeypatch, smtp_state):
    if smtp_state == "down":
        monkeypatch.setitem(ckan_config, "smtp.server", f"127.0.0.1:{free_port()}")
    answers = {who: _answer(browser(app), "/user/reset", {"user": who})
               for who in ("e_active@dga.or.th", "e_pending@dga.or.th", "e_dev@example.com",
                           "nobody@dga.or.th", "e_active", "nobody")}
    assert len(set(answers.values())) == 1, {k: v[:2] for k, v in answers.items()}


def _reference_shown(html: str) -> str | None:
    found = re.search(r"DGA-\d{4}-\d{6}", html)
    return found.group(0) if found else None


def test_developer_sign_up_answers_the_same_for_a_pending_address_and_a_new_one(app, people):
    pending_ref = model.Session.query(Request.reference).filter(
        Request.email == "e_dev@example.com").scalar()

    def sign_up(name: str, email: str) -> tuple[int, str | None, str]:
        return _answer(browser(app), "/dgaaccounts/register/developer", {
            "name": name, "fullname": "Somebody", "email": email,
            "password": "Dev-Passw0rd-42"})

    new = sign_up("e_new1", "e_new1@example.com")
    pending = sign_up("e_new2", "e_dev@example.com")
    assert pending[:2] == new[:2]
    # The page for the pending address must not show that address's existing request (an
    # older reference than the one just given to a new address tells the two apart).
    assert _reference_shown(pending[2]) != pending_ref
    # The page repeats the address each person typed (their own) and when their new link
    # expires (now + its lifetime: the two sign-ups may fall in different minutes).
    assert "e_dev@example.com" in pending[2]
    assert "e_new1@example.com" in new[2]

    def normalise(html: str, email: str) -> str:
        html = re.sub(r"DGA-\d{4}-\d{6}", "REF", html.replace(email, "EMAIL"))
        return re.sub(r"\d{1,2}:\d{2}", "HH:MM", html)

    assert normalise(pending[2], "e_dev@example.com") == normalise(new[2], "e_new1@example.com")


def test_developer_sign_up_with_a_bad_field_answers_the_same_for_pending_and_new(app, people):
    weak = {"fullname": "Somebody", "password": "short"}
    new = _answer(browser(app), "/dgaaccounts/register/developer",
                  dict(weak, name="e_new3", email="e_new3@example.com"))
    pending = _answer(browser(app), "/dgaaccounts/register/developer",
                      dict(weak, name="e_new4", email="e_dev@example.com"))
    assert new[0] == 200  # the form again, with the password error
    assert pending[:2] == new[:2], "a weak password is accepted only for a pending address"


# -- 5. no secrets in the logs, tokens stored hashed ----------------------------------------------

class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def text(self) -> str:
        return "\n".join(f"{r.name} {r.levelname} {self.format(r)}" for r in self.records)


@pytest.fixture
def all_logs(caplog):
    """Every log record at DEBUG (as caplog at DEBUG), also from the loggers that the test
    configuration makes non-propagating (ckan, ckanext, sqlalchemy.engine) and from those that
    the migrations' ``fileConfig`` disabled (every ``clean_db`` runs the plugin's alembic
    env.py, whose ``fileConfig`` disables every logger it does not name)."""
    caplog.set_level(logging.DEBUG)
    handler = _Everything()
    loggers = [lg for lg in logging.Logger.manager.loggerDict.values()
               if isinstance(lg, logging.Logger)]
    disabled = [lg for lg in loggers if lg.disabled]
    for logger in disabled:
        logger.disabled = False
    changed = []
    for logger in [logging.getLogger()] + [lg for lg in loggers if not lg.propagate]:
        logger.addHandler(handler)
        changed.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, level in changed:
        logger.removeHandler(handler)
        logger.setLevel(level)
    for logger in disabled:
        logger.disabled = True


def _pdf_with(text: bytes) -> bytes:
    # A valid one-page PDF (uploads are parsed) showing ``text``, which is also in a comment.
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page()
    contents = pikepdf.Stream(pdf, b"")
    contents.write(zlib.compress(b"BT /F1 12 Tf 72 712 Td (" + text + b") Tj ET"),
                   filter=pikepdf.Name.FlateDecode)
    pdf.pages[0].obj.Contents = pdf.make_indirect(contents)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue() + b"% " + text + b"\n"


# The verification link, whichever form it takes (the path's last segment or ?token=).
VERIFY_LINK = r"https?://\S+/dgaaccounts/verify(?:/|\?token=)([\w-]+)"


def _email_link(smtp: Any, address: str) -> str:
    """The newest verification link emailed to ``address``, as a path and query string."""
    for msg in reversed(smtp.to(address)):
        found = re.search(r"https?://[^/\s]+(/dgaaccounts/verify\S+)", smtp.body(msg))
        if found:
            return found.group(1)
    raise AssertionError(f"no verification link for {address}")


def _confirm(client: Any, link: str) -> Any:
    """What a person does with the link: open it, press the button (submit its form)."""
    page = client.get(link).body
    attrs, body = next((a, b) for a, b in _FORM.findall(page) if "post" in a.lower())
    action = html.unescape(re.search(r'action="([^"]*)"', attrs).group(1))
    fields = {name: html.unescape(value) for name, value in re.findall(
        r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', body)}
    return client.post(action, data=fields)


def _session_data(app: Any, client: Any) -> dict[str, Any]:
    flask_app = app.flask_app
    serializer = flask_app.session_interface.get_signing_serializer(flask_app)
    return serializer.loads(session_cookie(client))


@pytest.fixture
def whole_flow(app, clean_db, smtp, deliver, all_logs) -> dict[str, Any]:
    """Both workflows that carry secrets, through the pages, with every log record kept:
    returns the secrets met on the way and the records."""
    factories.Sysadmin(name="l_root", email="l_root@dga.or.th", password=PASSWORD)
    factories.Organization(name="dga")
    marker = b"SCAN-CONTENT-7f3a9c"
    officer_password, developer_password = "Officer-Secret-93xq", "Developer-Secret-71zv"
    secrets: dict[str, str] = {"officer password": officer_password,
                               "developer password": developer_password,
                               "scan content": marker.decode()}

    # The officer registers with the scan, confirms, follows the link, is approved, signs in.
    officer = browser(app)
    page = officer.get("/dgaaccounts/register/agency")
    officer.post("/dgaaccounts/register/agency", data=dict(
        registration(name="l_officer", email="l_officer@dga.or.th", organization="dga",
                     agency_name="", password=officer_password),
        _csrf_token=csrf_token(page.body), signed_form=(io.BytesIO(_pdf_with(marker)), "f.pdf")),
        content_type="multipart/form-data")
    deliver()
    secrets["verification token"] = smtp.link("l_officer@dga.or.th", VERIFY_LINK)
    _confirm(officer, _email_link(smtp, "l_officer@dga.or.th"))
    grants = _session_data(app, officer)["dgaaccounts_applicant"]
    secrets["applicant token (session)"] = next(iter(grants.values()))
    deliver()
    secrets["applicant token (email)"] = link = smtp.link(
        "l_officer@dga.or.th", r"/dgaaccounts/request/[\w-]+\?token=(\S+)")
    req = model.Session.query(Request).filter(Request.email == "l_officer@dga.or.th").one()
    assert browser(app).get(f"/dgaaccounts/request/{req.id}?token={link}").status_code == 200
    root = sign_in(app, "l_root", PASSWORD)
    doc = model.Session.query(Document).filter(Document.request_id == req.id).one()
    assert marker in root.get(f"/dgaaccounts/request/{req.id}/document/{doc.id}").data
    token = csrf_token(root.get(f"/ckan-admin/dgaaccounts/request/{req.id}").body)
    root.post(f"/ckan-admin/dgaaccounts/request/{req.id}/approve",
              data={"_csrf_token": token, "role": "editor"})
    deliver()
    sign_in(app, "l_officer", officer_password)

    # A developer signs up, asks for the link again, confirms, uses the API token.
    dev = browser(app)
    page = dev.get("/dgaaccounts/register/developer")
    dev.post("/dgaaccounts/register/developer", data={
        "_csrf_token": csrf_token(page.body), "name": "l_dev", "fullname": "L Dev",
        "email": "l_dev@example.com", "password": developer_password})
    deliver()
    secrets["first developer link"] = smtp.link("l_dev@example.com", VERIFY_LINK)
    page = dev.get("/dgaaccounts/resend")
    dev.post("/dgaaccounts/resend", data={"_csrf_token": csrf_token(page.body),
                                          "email": "l_dev@example.com"})
    deliver()
    secrets["second developer link"] = smtp.link("l_dev@example.com", VERIFY_LINK)
    shown = _confirm(dev, _email_link(smtp, "l_dev@example.com"))
    api_token = re.search(r'id="dgaaccounts-api-token">([^<]+)<', shown.body).group(1)
    secrets["API token"] = api_token
    assert app.get("/api/3/action/dgaaccounts_request_list",
                   headers={"Authorization": api_token}).status_code == 403
    deliver()
    # The test's own SMTP server logs every line it receives: it is the mail provider here,
    # not the portal.
    records = [r for r in all_logs.records if not r.name.startswith("mail.log")]
    return {"secrets": secrets, "records": records}


def test_no_password_token_or_scan_content_in_the_logs(whole_flow):
    secrets, records = whole_flow["secrets"], whole_flow["records"]
    assert len(records) > 10, "the flow was logged"
    text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in records)
    leaked = {(what, r.name, r.levelname) for what, secret in secrets.items() for r in records
              if secret in f"{r.getMessage()} {r.args!r}"}
    assert leaked == set()
    assert not any(secret in text for secret in secrets.values())


def test_link_tokens_are_stored_only_as_hashes(whole_flow):
    """Only hashes of the link tokens, in the extension's tables and CKAN's users."""
    secrets = whole_flow["secrets"]
    model.Session.remove()
    dumps = []
    for table in (*EXT_TABLES, '"user"', "api_token"):
        dumps += model.Session.execute(sa.text(
            f"SELECT row_to_json(t)::text FROM {table} t")).scalars().all()
    everything = "\n".join(dumps)
    link_tokens = {k: v for k, v in secrets.items() if "token" in k or "link" in k}
    assert {what for what, secret in link_tokens.items() if secret in everything} == set()
    hashes = set(model.Session.execute(sa.text(
        "SELECT token_hash FROM dgaaccounts_token")).scalars())
    for what in ("verification token", "applicant token (session)", "applicant token (email)",
                 "second developer link"):
        assert hashlib.sha256(secrets[what].encode()).hexdigest() in hashes, what
    for password in ("officer password", "developer password"):
        assert secrets[password] not in everything, password
    # CKAN's API token is a JWT of its id: the JWT itself is stored nowhere.
    api_token = secrets["API token"]
    payload = json.loads(base64.urlsafe_b64decode(api_token.split(".")[1] + "=="))
    assert payload["jti"] in everything
    assert api_token not in everything
