"""Who may open which page: the authorization matrix of every web route of the extension.

Each route is tried by seven browsers: anonymous, an ordinary signed-in user, the applicant,
another applicant, an organization admin (of the organization the applicant belongs to or asked
to join), the admin of another organization and a sysadmin. Signed-in browsers use a cookie
session made by CKAN's login form; an agency applicant cannot sign in (the account is pending),
so "the applicant" is a browser holding the request's link from the email, and "another
applicant" one holding the link of another request.
Every POST carries the browser's own valid CSRF token, so a refusal below is about rights only
(CSRF has its own tests in test_web_safety.py).

A route that changes something is tried on a fresh request per allowed browser, and the test
checks the change happened for those and not for the others. The action-level matrix is in
tests/logic/test_auth.py; this one is about the pages.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories

from ckanext.dgaaccounts.model import Document, Request
from ckanext.dgaaccounts.tests.conftest import PDF
from ckanext.dgaaccounts.tests.security.conftest import (
    Baseline, account_request, agency_request, browser, browser_session, decide, link_session,
    reuse, session_cookie, sign_in, snapshot,
)

pytestmark = pytest.mark.usefixtures("plugin_loaded", "_no_rate_limit")

PASSWORD = "Web-Passw0rd-2026"
CALLERS = ("anonymous", "user", "applicant", "other_applicant", "org_admin", "other_org_admin",
           "sysadmin")


@pytest.fixture(scope="module")
def _module_storage(tmp_path_factory):
    return tmp_path_factory.mktemp("web-matrix-documents")


@pytest.fixture(autouse=True)
def _private_storage(_module_storage):
    # One private store for the module: the world's scans are served in every test.
    tk.config["ckanext.dgaaccounts.storage_path"] = str(_module_storage)
    return _module_storage


@pytest.fixture
def app(module_app):
    return module_app


_serial = itertools.count(1)


class Web(Baseline):
    """The people and requests of the matrix, with a session (cookie and CSRF token) each."""

    def __init__(self, app: Any) -> None:
        factories.Sysadmin(name="w_root", email="w_root@dga.or.th", password=PASSWORD)
        factories.User(name="w_plain", email="w_plain@example.com", password=PASSWORD)
        for name in ("w_officer", "w_officer2", "w_orgadmin", "w_nsoadmin"):
            factories.User(name=name, email=f"{name}@dga.or.th", password=PASSWORD)
        factories.Organization(name="dga", title="DGA", users=[
            {"name": "w_orgadmin", "capacity": "admin"},
            {"name": "w_officer", "capacity": "editor"},
            {"name": "w_officer2", "capacity": "editor"}])
        factories.Organization(name="nso", title="NSO", users=[
            {"name": "w_nsoadmin", "capacity": "admin"}])
        self.a = agency_request("w_appl_a", "w_appl_a@dga.or.th", document=PDF)
        self.b = agency_request("w_appl_b", "w_appl_b@dga.or.th", document=PDF)
        self.c = account_request("w_officer", document=PDF)
        self.c2 = account_request("w_officer2", document=PDF)
        self.doc = {key: model.Session.query(Document.id).filter(
            Document.request_id == getattr(self, key)["id"]).scalar()
            for key in ("a", "b", "c", "c2")}
        self.sessions: dict[str, tuple[str, str]] = {"anonymous": browser_session(app, None)}
        for name in ("w_plain", "w_officer", "w_officer2", "w_orgadmin", "w_nsoadmin", "w_root"):
            self.sessions[name] = browser_session(app, session_cookie(
                sign_in(app, name, PASSWORD)))
        for key in ("a", "b"):
            req = getattr(self, key)
            self.sessions[f"link:{key}"] = link_session(app, req["id"], req["token"])
        self.remember()

    def values(self) -> dict[str, str]:
        return {"a": self.a["id"], "b": self.b["id"], "c": self.c["id"], "c2": self.c2["id"],
                "doc_a": self.doc["a"], "doc_b": self.doc["b"], "doc_c": self.doc["c"],
                "doc_c2": self.doc["c2"]}


@pytest.fixture
def web(request, app, world_cache) -> Web:
    return reuse(request, world_cache, "web", lambda: Web(app))


# -- fresh targets for the routes that change something ------------------------------------------

def _fresh(kind: str) -> dict[str, Any]:
    n = next(_serial)
    if kind.startswith("agency"):
        req = agency_request(f"w_new{n}", f"w_new{n}@dga.or.th",
                             document=PDF if kind == "agency_submitted" else None)
        return {"t": req["id"], "token": req["token"]}
    name = f"w_user{n}"
    factories.User(name=name, email=f"{name}@dga.or.th", password=PASSWORD)
    if kind == "suspended":
        req = account_request(name, "suspension", document=PDF)
        decide("w_root", "approve", req["id"])
        user_id = model.User.by_name(name).id
        return {"t": user_id, "user": name, "suspended": True}
    req = account_request(name, document=PDF if kind == "account_submitted" else None)
    return {"t": req["id"], "user": name}


def _observe(target: dict[str, Any], kind: str) -> str:
    model.Session.remove()
    if kind == "suspended":
        return model.Session.get(model.User, target["t"]).state
    req = model.Session.get(Request, target["t"])
    return req.endorsement or req.state  # an endorsement leaves the request submitted


# -- the tables ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    name: str
    method: str
    rule: str  # the Flask rule it exercises (every rule of the blueprint must have a row)
    path: str  # the rule filled in: {a}, {doc_a}... from the world, {t} from a fresh target
    expected: tuple[int, ...]  # one status per caller, in CALLERS order
    data: dict[str, Any] | None = None
    fresh: str | None = None  # make a fresh target of this kind per allowed caller
    changed: tuple[str, str] | None = None  # (state once allowed, state when refused)

    @property
    def id(self) -> str:
        return self.name


ALL_200 = (200,) * 7
ALL_302 = (302,) * 7
ALL_404 = (404,) * 7  # a wrong method: CKAN answers 404, and nothing runs
APPLICANT_AND_SYSADMIN = (403, 403, 200, 403, 403, 403, 200)
# The applicant's own acts (upload, withdraw): sysadmins decide, they do not act for them.
APPLICANT_ONLY_POST = (403, 403, 302, 403, 403, 403, 403)
SYSADMIN_ONLY = (403, 403, 403, 403, 403, 403, 200)
SYSADMIN_ONLY_POST = (403, 403, 403, 403, 403, 403, 302)
SIGNED_IN = (302, 200, 302, 302, 200, 200, 200)  # the agency applicant cannot sign in

# A registration request: "the applicant" holds the link of request A, "another applicant" B's.
AGENCY_ROWS = [
    # Row(name, method, rule, path, statuses of: anonymous, user, applicant, other applicant,
    #     organization admin, sysadmin)
    Row("takeover: GET /user/register", "GET", "/user/register", "/user/register", ALL_302),
    Row("takeover: POST /user/register", "POST", "/user/register", "/user/register", ALL_302,
        data={"name": "sneaky", "email": "s@x.org", "password1": "Passw0rd-long-1",
              "password2": "Passw0rd-long-1"}),
    Row("takeover: POST /user/reset", "POST", "/user/reset", "/user/reset", ALL_302,
        data={"user": "nobody@example.com"}),
    Row("GET register (choice)", "GET", "/dgaaccounts/register", "/dgaaccounts/register",
        ALL_200),
    Row("GET register/agency", "GET", "/dgaaccounts/register/agency",
        "/dgaaccounts/register/agency", ALL_200),
    Row("POST register/agency (incomplete)", "POST", "/dgaaccounts/register/agency",
        "/dgaaccounts/register/agency", ALL_200, data={"name": ""}),
    Row("GET register/developer", "GET", "/dgaaccounts/register/developer",
        "/dgaaccounts/register/developer", ALL_200),
    Row("POST register/developer (incomplete)", "POST", "/dgaaccounts/register/developer",
        "/dgaaccounts/register/developer", ALL_200, data={"name": ""}),
    Row("GET register/sent", "GET", "/dgaaccounts/register/sent",
        "/dgaaccounts/register/sent", ALL_200),
    Row("GET verify/<unknown>", "GET", "/dgaaccounts/verify/<token>",
        "/dgaaccounts/verify/no-such-token", ALL_200),
    Row("POST verify/<unknown>", "POST", "/dgaaccounts/verify/<token>",
        "/dgaaccounts/verify/no-such-token", ALL_200),
    Row("GET resend", "GET", "/dgaaccounts/resend", "/dgaaccounts/resend", ALL_200),
    Row("POST resend", "POST", "/dgaaccounts/resend", "/dgaaccounts/resend", ALL_302,
        data={"email": "nobody@example.com"}),
    Row("GET request/A", "GET", "/dgaaccounts/request/<id>", "/dgaaccounts/request/{a}",
        APPLICANT_AND_SYSADMIN),
    Row("GET request/<unknown>", "GET", "/dgaaccounts/request/<id>",
        "/dgaaccounts/request/no-such-request", (404,) * 7),
    Row("GET request/A/form.pdf", "GET", "/dgaaccounts/request/<id>/form.pdf",
        "/dgaaccounts/request/{a}/form.pdf", APPLICANT_AND_SYSADMIN),
    Row("GET request/A/document/A's", "GET", "/dgaaccounts/request/<id>/document/<document_id>",
        "/dgaaccounts/request/{a}/document/{doc_a}", APPLICANT_AND_SYSADMIN),
    Row("GET request/A/document/<unknown>", "GET",
        "/dgaaccounts/request/<id>/document/<document_id>",
        "/dgaaccounts/request/{a}/document/no-such-document", (403, 403, 404, 403, 403, 403, 404)),
    # B's page with A's document id: each document is reachable only under its own request.
    Row("GET request/B/document/A's", "GET", "/dgaaccounts/request/<id>/document/<document_id>",
        "/dgaaccounts/request/{b}/document/{doc_a}", (403, 403, 403, 404, 403, 403, 404)),
    Row("POST request/A/upload (no file)", "POST", "/dgaaccounts/request/<id>/upload",
        "/dgaaccounts/request/{a}/upload", APPLICANT_ONLY_POST),
    Row("POST request/<fresh>/withdraw", "POST", "/dgaaccounts/request/<id>/withdraw",
        "/dgaaccounts/request/{t}/withdraw", APPLICANT_ONLY_POST,
        fresh="agency_awaiting", changed=("withdrawn", "awaiting_document")),
    Row("GET account/close", "GET", "/dgaaccounts/account/close", "/dgaaccounts/account/close",
        SIGNED_IN),
    Row("POST account/close (no kind)", "POST", "/dgaaccounts/account/close",
        "/dgaaccounts/account/close", SIGNED_IN, data={"kind": "", "reason": ""}),
    Row("GET admin queue", "GET", "/ckan-admin/dgaaccounts/", "/ckan-admin/dgaaccounts/",
        SYSADMIN_ONLY),
    Row("GET admin request/A", "GET", "/ckan-admin/dgaaccounts/request/<id>",
        "/ckan-admin/dgaaccounts/request/{a}", SYSADMIN_ONLY),
    Row("POST admin approve <fresh>", "POST", "/ckan-admin/dgaaccounts/request/<id>/<decision>",
        "/ckan-admin/dgaaccounts/request/{t}/approve", SYSADMIN_ONLY_POST,
        fresh="agency_submitted", changed=("approved", "submitted")),
    Row("POST admin reject <fresh>", "POST", "/ckan-admin/dgaaccounts/request/<id>/<decision>",
        "/ckan-admin/dgaaccounts/request/{t}/reject", SYSADMIN_ONLY_POST,
        data={"reason": "ไม่ใช่เจ้าหน้าที่", "confirm": "yes"}, fresh="agency_submitted",
        changed=("rejected", "submitted")),
    Row("POST admin return <fresh>", "POST", "/ckan-admin/dgaaccounts/request/<id>/<decision>",
        "/ckan-admin/dgaaccounts/request/{t}/return", SYSADMIN_ONLY_POST,
        data={"reason": "ลายเซ็นไม่ครบ"}, fresh="agency_submitted",
        changed=("returned", "submitted")),
    Row("POST admin <unknown decision>", "POST",
        "/ckan-admin/dgaaccounts/request/<id>/<decision>",
        "/ckan-admin/dgaaccounts/request/{a}/delete", (403, 403, 403, 403, 403, 403, 404)),
    Row("POST admin reactivate <fresh suspended>", "POST",
        "/ckan-admin/dgaaccounts/user/<id>/reactivate",
        "/ckan-admin/dgaaccounts/user/{t}/reactivate", SYSADMIN_ONLY_POST,
        fresh="suspended", changed=("active", "pending")),
    Row("wrong method: upload", "GET", "/dgaaccounts/request/<id>/upload",
        "/dgaaccounts/request/{a}/upload", ALL_404),
    Row("wrong method: withdraw", "GET", "/dgaaccounts/request/<id>/withdraw",
        "/dgaaccounts/request/{a}/withdraw", ALL_404),
    Row("wrong method: decision", "GET", "/ckan-admin/dgaaccounts/request/<id>/<decision>",
        "/ckan-admin/dgaaccounts/request/{a}/approve", ALL_404),
    Row("wrong method: reactivate", "GET", "/ckan-admin/dgaaccounts/user/<id>/reactivate",
        "/ckan-admin/dgaaccounts/user/w_plain/reactivate", ALL_404),
]

# A cancellation request of a signed-in officer: "the applicant" is the officer, signed in;
# "another applicant" a colleague with their own request; the organization admin is theirs.
ACCOUNT_ROWS = [
    Row("GET request/C", "GET", "/dgaaccounts/request/<id>", "/dgaaccounts/request/{c}",
        APPLICANT_AND_SYSADMIN),
    Row("GET request/C/form.pdf", "GET", "/dgaaccounts/request/<id>/form.pdf",
        "/dgaaccounts/request/{c}/form.pdf", APPLICANT_AND_SYSADMIN),
    Row("GET request/C/document/C's", "GET", "/dgaaccounts/request/<id>/document/<document_id>",
        "/dgaaccounts/request/{c}/document/{doc_c}", APPLICANT_AND_SYSADMIN),
    Row("GET request/C2/document/C's", "GET",
        "/dgaaccounts/request/<id>/document/<document_id>",
        "/dgaaccounts/request/{c2}/document/{doc_c}", (403, 403, 403, 404, 403, 403, 404)),
    Row("POST request/C/upload (no file)", "POST", "/dgaaccounts/request/<id>/upload",
        "/dgaaccounts/request/{c}/upload", APPLICANT_ONLY_POST),
    Row("POST request/<fresh>/withdraw", "POST", "/dgaaccounts/request/<id>/withdraw",
        "/dgaaccounts/request/{t}/withdraw", APPLICANT_ONLY_POST,
        fresh="account_awaiting", changed=("withdrawn", "awaiting_document")),
    Row("GET admin request/C", "GET", "/ckan-admin/dgaaccounts/request/<id>",
        "/ckan-admin/dgaaccounts/request/{c}", SYSADMIN_ONLY),
    Row("POST admin approve <fresh cancellation>", "POST",
        "/ckan-admin/dgaaccounts/request/<id>/<decision>",
        "/ckan-admin/dgaaccounts/request/{t}/approve", SYSADMIN_ONLY_POST,
        data={"confirm": "yes"}, fresh="account_submitted", changed=("approved", "submitted")),
]

TABLES = {
    "agency": {"anonymous": "anonymous", "user": "w_plain", "applicant": "link:a",
               "other_applicant": "link:b", "org_admin": "w_orgadmin",
               "other_org_admin": "w_nsoadmin", "sysadmin": "w_root"},
    "account": {"anonymous": "anonymous", "user": "w_plain", "applicant": "w_officer",
                "other_applicant": "w_officer2", "org_admin": "w_orgadmin",
                "other_org_admin": "w_nsoadmin", "sysadmin": "w_root"},
}


# -- approval delegated to agencies: what the approval mode of the organization opens ----------

def _mode_rows(mode: str) -> list[Row]:
    """The routes an organization's approval mode changes, for request A (DGA's, submitted).
    The organization's admins see its requests in ``endorse`` and ``delegated``, endorse in
    ``endorse`` and decide in ``delegated``; sysadmins decide in every mode and never endorse
    for the agency; the admin of another organization gets nothing."""
    part, decide, endorse = mode != "central", mode == "delegated", mode == "endorse"
    see = (403, 403, 403, 403, 200 if part else 403, 403, 200)
    applicant_or_see = (403, 403, 200, 403, 200 if part else 403, 403, 200)
    decision = (403, 403, 403, 403, 302 if decide else 403, 403, 302)
    answer = (403, 403, 403, 403, 302 if endorse else 403, 403, 403)
    rule = "/organization/requests/<id>/<request_id>/<decision>"
    return [
        Row(f"{mode}: GET organization queue", "GET", "/organization/requests/<id>",
            "/organization/requests/dga", see),
        Row(f"{mode}: GET organization request A", "GET",
            "/organization/requests/<id>/<request_id>", "/organization/requests/dga/{a}", see),
        Row(f"{mode}: GET request/A", "GET", "/dgaaccounts/request/<id>",
            "/dgaaccounts/request/{a}", applicant_or_see),
        Row(f"{mode}: GET request/A/document/A's", "GET",
            "/dgaaccounts/request/<id>/document/<document_id>",
            "/dgaaccounts/request/{a}/document/{doc_a}", applicant_or_see),
        Row(f"{mode}: POST organization approve <fresh>", "POST", rule,
            "/organization/requests/dga/{t}/approve", decision, data={"role": "editor"},
            fresh="agency_submitted", changed=("approved", "submitted")),
        Row(f"{mode}: POST organization return <fresh>", "POST", rule,
            "/organization/requests/dga/{t}/return", decision, data={"reason": "ลายเซ็นไม่ครบ"},
            fresh="agency_submitted", changed=("returned", "submitted")),
        Row(f"{mode}: POST organization reject <fresh>", "POST", rule,
            "/organization/requests/dga/{t}/reject", decision,
            data={"reason": "ไม่ใช่เจ้าหน้าที่", "confirm": "yes"}, fresh="agency_submitted",
            changed=("rejected", "submitted")),
        Row(f"{mode}: POST organization endorse <fresh>", "POST", rule,
            "/organization/requests/dga/{t}/endorse", answer, fresh="agency_submitted",
            changed=("endorsed", "submitted")),
        Row(f"{mode}: POST organization decline <fresh>", "POST", rule,
            "/organization/requests/dga/{t}/decline", answer, data={"reason": "ไม่รู้จัก"},
            fresh="agency_submitted", changed=("declined", "submitted")),
        Row(f"{mode}: POST organization bulk return <fresh>", "POST",
            "/organization/requests/<id>/decide", "/organization/requests/dga/decide", decision,
            data={"ids": "{t}", "decision": "return", "reason": "ลายเซ็นไม่ครบ",
                  "confirm": "yes"}, fresh="agency_submitted",
            changed=("returned", "submitted")),
        Row(f"{mode}: POST organization <unknown decision>", "POST", rule,
            "/organization/requests/dga/{a}/delete",
            (403, 403, 403, 403, 404 if part else 403, 403, 404)),
        Row(f"{mode}: wrong method: organization decision", "GET", rule,
            "/organization/requests/dga/{a}/approve", ALL_404),
        Row(f"{mode}: GET approval modes", "GET", "/ckan-admin/dgaaccounts/approval-modes",
            "/ckan-admin/dgaaccounts/approval-modes", SYSADMIN_ONLY),
        Row(f"{mode}: POST approval mode (refused value)", "POST",
            "/ckan-admin/dgaaccounts/approval-modes/<organization>",
            "/ckan-admin/dgaaccounts/approval-modes/dga", SYSADMIN_ONLY_POST,
            data={"mode": "anarchy"}),
    ]


MODE_ROWS = [row for mode in ("central", "endorse", "delegated") for row in _mode_rows(mode)]


def _client(app: Any, web: Web, table: str, caller: str,
             target: dict[str, Any] | None) -> tuple[Any, str]:
    if caller == "applicant" and target is not None and not target.get("suspended"):
        # The applicant of a fresh target: its link (registration) or its owner, signed in
        # (account). A suspended owner cannot sign in: the table's applicant tries instead.
        if "token" in target:
            cookie, token = link_session(app, target["t"], target["token"])
        else:
            cookie, token = browser_session(app, session_cookie(
                sign_in(app, target["user"], PASSWORD)))
    else:
        cookie, token = web.sessions[TABLES[table][caller]]
    return browser(app, cookie), token


def _try(app: Any, web: Web, table: str, row: Row) -> tuple[dict[str, int], dict[str, str]]:
    statuses: dict[str, int] = {}
    states: dict[str, str] = {}
    refused_target: dict[str, Any] | None = None
    for caller, expected in zip(CALLERS, row.expected, strict=True):
        target = None
        if row.fresh:
            allowed = expected < 400
            if allowed:
                target = _fresh(row.fresh)
            else:
                refused_target = refused_target or _fresh(row.fresh)
                target = refused_target
        client, token = _client(app, web, table, caller, target if row.fresh else None)
        values = dict(web.values(), **({"t": target["t"]} if target else {}))
        path = row.path.format(**values)
        if row.method == "POST":
            data = {k: v.format(**values) if isinstance(v, str) and "{" in v else v
                    for k, v in (row.data or {}).items()}
            resp = client.post(path, data={"_csrf_token": token, **data},
                               follow_redirects=False)
        else:
            resp = client.get(path, follow_redirects=False)
        statuses[caller] = resp.status_code
        if row.fresh:
            states[caller] = _observe(target, row.fresh)
    return statuses, states


# Browsers that are not signed in: anonymous, and in the agency table the applicants (links
# from their email: a pending account cannot sign in).
SIGNED_OUT = {"agency": {"anonymous", "applicant", "other_applicant"}, "account": {"anonymous"}}
# The pages for signed-in people: opened signed out (a link from an email), they send the
# browser to the login page and back, instead of refusing.
SIGN_IN_FIRST = ("/ckan-admin/dgaaccounts", "/organization/requests")


def _expected(table: str, row: Row) -> dict[str, int]:
    expected = dict(zip(CALLERS, row.expected, strict=True))
    if row.method == "GET" and row.path.startswith(SIGN_IN_FIRST):
        expected.update({c: 302 for c in SIGNED_OUT[table] if expected[c] == 403})
    return expected


def _check(app: Any, web: Web, table: str, row: Row) -> None:
    statuses, states = _try(app, web, table, row)
    expected = _expected(table, row)
    assert statuses == expected, f"{row.method} {row.path}"
    if row.changed:
        allowed_state, refused_state = row.changed
        assert states == {c: allowed_state if expected[c] < 400 else refused_state
                          for c in CALLERS}
        web.baseline = snapshot()  # the fresh targets are meant to stay
    else:
        # Nothing the six browsers did changed anything (the fresh targets aside).
        assert snapshot() == web.baseline


@pytest.mark.parametrize("row", AGENCY_ROWS, ids=[r.id for r in AGENCY_ROWS])
def test_registration_routes(app, web, row):
    _check(app, web, "agency", row)


@pytest.mark.parametrize("row", ACCOUNT_ROWS, ids=[r.id for r in ACCOUNT_ROWS])
def test_account_routes(app, web, row):
    _check(app, web, "account", row)


@pytest.mark.parametrize("row", MODE_ROWS, ids=[r.id for r in MODE_ROWS])
def test_approval_mode_routes(app, web, row):
    from ckanext.dgaaccounts import approval

    dga = model.Group.get("dga").id
    approval.set_mode(dga, row.name.split(":")[0], None)
    model.Session.commit()
    try:
        _check(app, web, "agency", row)
    finally:
        approval.set_mode(dga, None, None)
        model.Session.commit()


def _rules(app: Any, blueprint: str) -> set[tuple[str, str]]:
    return {
        (rule.rule, method)
        for rule in app.flask_app.url_map.iter_rules()
        if rule.endpoint.startswith(blueprint + ".")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_every_route_of_the_extension_has_a_row(app):
    listed = {(r.rule, r.method) for r in AGENCY_ROWS + ACCOUNT_ROWS + MODE_ROWS}
    assert _rules(app, "dgaaccounts") <= listed
    assert _rules(app, "dgaaccounts_org") <= listed
    # The admin pages listed in the issue; any other admin page is covered by the next test.
    assert {("/ckan-admin/dgaaccounts/", "GET"),
            ("/ckan-admin/dgaaccounts/request/<id>", "GET"),
            ("/ckan-admin/dgaaccounts/request/<id>/<decision>", "POST"),
            ("/ckan-admin/dgaaccounts/user/<id>/reactivate", "POST")} <= listed


def test_every_admin_page_refuses_everyone_but_sysadmins(app, web):
    """Every route of the admin blueprint, present and future (reports, exports...)."""
    values = dict(web.values(), document_id=web.doc["a"], decision="approve", token="x",
                  organization="dga")
    routes = sorted(_rules(app, "dgaaccounts_admin"))
    assert len(routes) >= 4
    answers = {}
    for rule, method in routes:
        path = rule.replace("<", "{").replace(">", "}")
        path = path.replace("{id}", "{a}") if "/request/" in rule else path.replace(
            "{id}", "w_plain")
        path = path.format(**values)
        for caller in CALLERS[:-1]:
            client, token = _client(app, web, "agency", caller, None)
            resp = (client.post(path, data={"_csrf_token": token}) if method == "POST"
                    else client.get(path, follow_redirects=False))
            answers[(method, rule, caller)] = resp.status_code
    # Refused; a page opened signed out sends to the login page first (SIGN_IN_FIRST).
    assert answers == {(method, rule, caller): 302 if (
        method == "GET" and caller in SIGNED_OUT["agency"]) else 403
        for method, rule, caller in answers}
    assert snapshot() == web.baseline
