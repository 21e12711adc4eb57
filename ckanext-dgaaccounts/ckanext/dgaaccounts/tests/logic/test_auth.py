"""Who may call what: the authorization matrix of every action and auth function.

Each row of ``MATRIX`` is checked twice: through ``check_access`` (the auth function as CKAN runs
it, sysadmins included) and, for every denied caller of a workflow step, through the real action,
which must answer NotAuthorized and change nothing.
"""
from __future__ import annotations

import datetime
from typing import Any

import pytest
import sqlalchemy as sa

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import tokens
from ckanext.dgaaccounts.model import Request, Token, utcnow
from ckanext.dgaaccounts.tests.conftest import PDF, Upload, registration, reuse, stored_files

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "with_request_context"),
]

CALLERS = (
    "anonymous",        # nobody signed in, no token
    "user",             # an ordinary signed-in user
    "applicant",        # signed in as the request's user
    "applicant_token",  # not signed in, with the applicant token of the request
    "other_applicant",  # not signed in, with a valid applicant token of another request
    "org_admin",        # admin of the organization the applicant asked to join
    "other_org_admin",  # admin of another organization
    "sysadmin",
)
Y, N = True, False

MATRIX: list[tuple[str, tuple[bool, ...]]] = [
    # The world's organization is in the "central" approval mode here (MODE_MATRIX: the others).
    # auth function                              anon user appl a+tok other orgadm other-org sysadm
    ("dgaaccounts_agency_register",              (Y,   Y,   Y,   Y,    Y,    Y,     Y,        Y)),
    ("dgaaccounts_developer_register",           (Y,   Y,   Y,   Y,    Y,    Y,     Y,        Y)),
    ("dgaaccounts_email_verify",                 (Y,   Y,   Y,   Y,    Y,    Y,     Y,        Y)),
    ("dgaaccounts_verification_resend",          (Y,   Y,   Y,   Y,    Y,    Y,     Y,        Y)),
    # The applicant's own acts: a sysadmin decides, never acts as the applicant.
    ("dgaaccounts_request_document_upload",      (N,   N,   Y,   Y,    N,    N,     N,        N)),
    ("dgaaccounts_request_show",                 (N,   N,   Y,   Y,    N,    N,     N,        Y)),
    ("dgaaccounts_request_withdraw",             (N,   N,   Y,   Y,    N,    N,     N,        N)),
    ("dgaaccounts_request_list",                 (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_request_approve",              (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_request_reject",               (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_request_return",               (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_request_reject_spam",          (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_request_endorse",              (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_request_decline",              (N,   N,   N,   N,    N,    N,     N,        Y)),
    # Approval modes: sysadmins set them; an organization's admins read their own.
    ("dgaaccounts_approval_mode_update",         (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_approval_mode_list",           (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_approval_mode_show",           (N,   N,   N,   N,    N,    Y,     N,        Y)),
    ("dgaaccounts_audit_list",                   (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_user_reactivate",              (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_sla_report",                   (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_requests_escalate",            (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_requests_decide",              (N,   N,   N,   N,    N,    N,     N,        Y)),
    # Any signed-in user, for their own account; nobody who is not signed in.
    ("dgaaccounts_cancellation_request_create",  (N,   Y,   Y,   N,    N,    Y,     Y,        Y)),
    # Developer API keys: a signed-in user, about their own tokens (no ``user`` given).
    ("dgaaccounts_token_list",                   (N,   Y,   Y,   N,    N,    Y,     Y,        Y)),
    ("dgaaccounts_token_show",                   (N,   Y,   Y,   N,    N,    Y,     Y,        Y)),
    ("dgaaccounts_token_renew",                  (N,   Y,   Y,   N,    N,    Y,     Y,        Y)),
    ("dgaaccounts_token_usage",                  (N,   Y,   Y,   N,    N,    Y,     Y,        Y)),
    # ... or the signed link from the email (a signature the action checks).
    ("dgaaccounts_token_revoke_all",             (N,   Y,   Y,   N,    N,    Y,     Y,        Y)),
    # Tiers, everyone's usage and the housekeeping jobs: sysadmins only.
    ("dgaaccounts_token_tier_set",               (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_token_tier_list",              (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_token_tier_assign",            (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_token_usage_list",             (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_token_reminders_send",         (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_token_overlap_revoke",         (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_token_usage_rollup",           (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_token_usage_purge",            (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_token_housekeeping",           (N,   N,   N,   N,    N,    N,     N,        Y)),
    # What the pages read: a request's form and scans (its applicant), one's own account,
    # a verification link's use (its holder) and the organizations; the "forgot password" form.
    ("dgaaccounts_request_form_show",            (N,   N,   Y,   Y,    N,    N,     N,        Y)),
    ("dgaaccounts_document_show",                (N,   N,   Y,   Y,    N,    N,     N,        Y)),
    ("dgaaccounts_account_show",                 (N,   Y,   Y,   N,    N,    Y,     Y,        Y)),
    ("dgaaccounts_verification_show",            (Y,   Y,   Y,   Y,    Y,    Y,     Y,        Y)),
    ("dgaaccounts_organization_list",            (Y,   Y,   Y,   Y,    Y,    Y,     Y,        Y)),
    ("dgaaccounts_password_reset_request",       (Y,   Y,   Y,   Y,    Y,    Y,     Y,        Y)),
    # The workflows' housekeeping (cron and the CLI) and the CSV exports: sysadmins only.
    ("dgaaccounts_registrations_expire",         (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_accounts_scrub",               (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_documents_purge",              (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_reminders_send",               (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_requests_export",              (N,   N,   N,   N,    N,    N,     N,        Y)),
    ("dgaaccounts_audit_export",                 (N,   N,   N,   N,    N,    N,     N,        Y)),
    # Identity links: a signed-in user, their own links (the unlink action finds no other's;
    # linking needs the identity a provider sign-in hands over, never a parameter).
    ("dgaaccounts_identity_link_list",           (N,   Y,   Y,   N,    N,    Y,     Y,        Y)),
    ("dgaaccounts_identity_link",                (N,   Y,   Y,   N,    N,    Y,     Y,        Y)),
    ("dgaaccounts_identity_unlink",              (N,   Y,   Y,   N,    N,    Y,     Y,        Y)),
]
EXPECTED = {
    (name, caller): allowed
    for name, row in MATRIX for caller, allowed in zip(CALLERS, row, strict=True)
}
# What the organization's approval mode changes: (org_admin, other_org_admin) per mode, every
# other answer as in MATRIX. The endorsement is the agency's: a sysadmin who is no admin of the
# organization cannot endorse (the action re-checks it; CKAN's skip lets them past the auth).
MODE_MATRIX: dict[str, dict[str, tuple[bool, bool]]] = {
    "central": {},
    "endorse": {
        "dgaaccounts_request_show": (Y, N),
        "dgaaccounts_request_list": (Y, N),
        "dgaaccounts_request_endorse": (Y, N),
        "dgaaccounts_request_decline": (Y, N),
        "dgaaccounts_request_form_show": (Y, N),
        "dgaaccounts_document_show": (Y, N),
    },
    "delegated": {
        "dgaaccounts_request_show": (Y, N),
        "dgaaccounts_request_list": (Y, N),
        "dgaaccounts_request_approve": (Y, N),
        "dgaaccounts_request_reject": (Y, N),
        "dgaaccounts_request_return": (Y, N),
        "dgaaccounts_request_form_show": (Y, N),
        "dgaaccounts_document_show": (Y, N),
        # Bulk decisions on their own queue (each request is checked again as above).
        "dgaaccounts_requests_decide": (Y, N),
    },
}
ORGANIZATION_SCOPED = {
    "dgaaccounts_request_list", "dgaaccounts_approval_mode_show",
    "dgaaccounts_approval_mode_update",
}
REQUEST_SCOPED = {
    "dgaaccounts_request_document_upload", "dgaaccounts_request_show",
    "dgaaccounts_request_withdraw",
    "dgaaccounts_request_form_show", "dgaaccounts_document_show",
    "dgaaccounts_request_approve", "dgaaccounts_request_reject", "dgaaccounts_request_return",
    "dgaaccounts_request_reject_spam",
    "dgaaccounts_request_endorse", "dgaaccounts_request_decline",
}


class World:
    """An agency registration awaiting its document, another one, and the people around them."""

    def __init__(self) -> None:
        self.user = factories.User()
        self.org_admin = factories.User()
        self.other_org_admin = factories.User()
        self.org = factories.Organization(
            name="dga", users=[{"name": self.org_admin["name"], "capacity": "admin"}])
        self.other_org = factories.Organization(
            name="nso", users=[{"name": self.other_org_admin["name"], "capacity": "admin"}])
        self.sysadmin = factories.Sysadmin()
        self.request_id, self.token = self.registered("somchai", "somchai@dga.or.th")
        self.other_request_id, self.other_token = self.registered(
            "somsri", "somsri@dga.or.th")
        self.applicant_id = model.User.by_name("somchai").id

    @staticmethod
    def registered(name: str, email: str) -> tuple[str, str]:
        """Register, verify the email; return the request id and the applicant token."""
        result = helpers.call_action("dgaaccounts_agency_register", **registration(
            name=name, email=email, organization="dga", agency_name=""))
        req = model.Session.get(Request, result["request_id"])
        verify = tokens.mint(req, tokens.VERIFY)  # what the delivered email would carry
        model.Session.commit()
        verified = helpers.call_action("dgaaccounts_email_verify", token=verify)
        assert verified["state"] == "awaiting_document"
        return result["request_id"], verified["applicant_token"]

    def context(self, caller: str) -> dict[str, Any]:
        name = {
            "user": self.user["name"], "applicant": "somchai",
            "org_admin": self.org_admin["name"], "sysadmin": self.sysadmin["name"],
            "other_org_admin": self.other_org_admin["name"],
        }.get(caller, "")
        return {"user": name, "ignore_auth": False}

    def data(self, auth_name: str, caller: str) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if auth_name in REQUEST_SCOPED:
            data["id"] = self.request_id
        if auth_name in ORGANIZATION_SCOPED:
            data["organization"] = "dga"
        if caller == "applicant_token":
            data["token"] = self.token
        elif caller == "other_applicant":
            data["token"] = self.other_token
        return data


def allowed(auth_name: str, context: dict[str, Any], data: dict[str, Any]) -> bool:
    """``check_access`` as CKAN runs it (sysadmins skip the auth function there)."""
    try:
        return helpers.call_auth(auth_name, dict(context), **data)
    except tk.NotAuthorized:
        return False


@pytest.fixture
def world(clean_db) -> World:
    """A fresh world, for tests that change something."""
    return World()


@pytest.fixture
def shared_world(request, world_cache) -> World:
    """One world for the read-only tests of the module (built again if a reset wiped it)."""
    return reuse(request, world_cache, "world", World, lambda found: getattr(
        model.Session.get(Request, found.request_id), "state", None) == "awaiting_document")


def test_matrix_covers_every_action_of_the_extension():
    from ckanext.dgaaccounts.logic import action, auth

    actions = {n for n in dir(action) if n.startswith("dgaaccounts_")}
    auth_functions = {n for n in dir(auth) if n.startswith("dgaaccounts_")}
    in_matrix = {name for name, _row in MATRIX}
    # Every action has an auth function of the same name...
    assert actions <= auth_functions
    # ...and the matrix names every one of them (new actions need a row here).
    assert auth_functions == in_matrix


@pytest.mark.parametrize(("auth_name", "row"), MATRIX, ids=[name for name, _ in MATRIX])
def test_authorization_matrix(shared_world, auth_name, row):
    answers = {
        caller: allowed(auth_name, shared_world.context(caller),
                        shared_world.data(auth_name, caller))
        for caller in CALLERS
    }
    assert answers == dict(zip(CALLERS, row, strict=True))


@pytest.fixture(params=sorted(MODE_MATRIX))
def mode_world(request, shared_world) -> Any:
    """The shared world with its organization in each approval mode in turn."""
    from ckanext.dgaaccounts import approval

    approval.set_mode(shared_world.org["id"], request.param, None)
    model.Session.commit()
    yield request.param
    approval.set_mode(shared_world.org["id"], None, None)
    model.Session.commit()


def test_organization_admins_under_each_approval_mode(shared_world, mode_world):
    """Every action, for the admin of the request's organization and of another one."""
    overrides = MODE_MATRIX[mode_world]
    answers, expected = {}, {}
    for name, _row in MATRIX:
        for caller in ("org_admin", "other_org_admin"):
            answers[(name, caller)] = allowed(name, shared_world.context(caller),
                                              shared_world.data(name, caller))
            expected[(name, caller)] = overrides.get(name, (
                EXPECTED[(name, "org_admin")], EXPECTED[(name, "other_org_admin")]))[
                caller == "other_org_admin"]
    assert answers == expected


def test_sysadmin_is_allowed_through_check_access_not_the_auth_function(shared_world):
    """The sysadmin column above holds because CKAN skips auth functions for sysadmins, except
    those that say otherwise (``auth_sysadmins_check``: the applicant's own acts)."""
    from ckanext.dgaaccounts.logic import auth

    context = {"user": shared_world.sysadmin["name"], "model": model}
    for name, row in MATRIX:
        checked = getattr(getattr(auth, name, None), "auth_sysadmins_check", False)
        assert checked is not row[-1], name
        if row[-1]:
            assert tk.check_access(name, dict(context),
                                   shared_world.data(name, "sysadmin")) is True
    own = auth.dgaaccounts_request_approve(
        {"user": shared_world.sysadmin["name"]}, {"id": shared_world.request_id})
    assert own["success"] is False  # the function alone says no: only the skip lets them in


# -- the tokens ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(REQUEST_SCOPED - {
    "dgaaccounts_request_approve", "dgaaccounts_request_reject", "dgaaccounts_request_return",
    "dgaaccounts_request_reject_spam"}))
class TestApplicantToken:
    def test_verification_token_is_not_an_applicant_token(self, world, name):
        req = model.Session.get(Request, world.request_id)
        verify = tokens.mint(req, tokens.VERIFY)
        model.Session.commit()
        assert not allowed(name, {"user": ""}, {"id": world.request_id, "token": verify})

    def test_expired_applicant_token_is_refused(self, world, name):
        model.Session.query(Token).filter(Token.request_id == world.request_id).update(
            {"expires": utcnow() - datetime.timedelta(seconds=1)})
        model.Session.commit()
        assert not allowed(name, {"user": ""}, {"id": world.request_id, "token": world.token})

    @pytest.mark.parametrize("token", [
        "", None, "x" * 5000, 12345, ["a", "b"], {"token": "x"}, "\udcff",
    ], ids=["empty", "none", "long", "int", "list", "dict", "lone-surrogate"])
    def test_malformed_token_is_refused_not_an_error(self, shared_world, name, token):
        assert not allowed(name, {"user": ""}, {"id": shared_world.request_id, "token": token})

    def test_token_without_id_is_refused(self, shared_world, name):
        assert not allowed(name, {"user": ""}, {"token": shared_world.token})

    def test_token_for_unknown_request_is_refused(self, shared_world, name):
        assert not allowed(name, {"user": ""},
                           {"id": "no-such-request", "token": shared_world.token})


# -- the same, through the actions -------------------------------------------------------------

def _snapshot(storage_root) -> dict[str, Any]:
    """Every row of the extension's tables, the users' states and the stored files."""
    tables = {}
    for table in ("dgaaccounts_request", "dgaaccounts_document", "dgaaccounts_audit",
                  "dgaaccounts_token", "dgaaccounts_outbox", "dgaaccounts_approval_mode"):
        rows = model.Session.execute(sa.text(
            f"SELECT row_to_json(t)::text FROM {table} t ORDER BY 1")).scalars().all()
        tables[table] = rows
    users = model.Session.execute(sa.text(
        'SELECT name, state, sysadmin FROM "user" ORDER BY name')).all()
    members = model.Session.execute(sa.text(
        "SELECT group_id, table_id, capacity, state FROM member ORDER BY 1, 2")).all()
    model.Session.rollback()
    return {"tables": tables, "users": users, "members": members,
            "files": sorted(stored_files(storage_root))}


def _call(world: World, action: str, caller: str, **extra: Any) -> Any:
    data = world.data(action, caller)
    data.update(extra)
    return helpers.call_action(action, context=world.context(caller), **data)


DENIED_STEPS = [
    # (action, extra parameters that would make it succeed for an allowed caller)
    ("dgaaccounts_request_document_upload", "upload"),
    ("dgaaccounts_request_show", None),
    ("dgaaccounts_request_withdraw", None),
    ("dgaaccounts_request_list", None),
    ("dgaaccounts_audit_list", None),
    ("dgaaccounts_sla_report", None),
    ("dgaaccounts_requests_escalate", None),
    ("dgaaccounts_request_approve", "submitted"),
    ("dgaaccounts_request_reject", "submitted"),
    ("dgaaccounts_request_return", "submitted"),
    ("dgaaccounts_request_reject_spam", None),  # the request still awaits verification
    ("dgaaccounts_request_endorse", "submitted"),
    ("dgaaccounts_request_decline", "submitted"),
    ("dgaaccounts_approval_mode_update", None),
    ("dgaaccounts_approval_mode_list", None),
    ("dgaaccounts_approval_mode_show", None),
    ("dgaaccounts_request_form_show", None),
    ("dgaaccounts_document_show", None),
    ("dgaaccounts_account_show", None),
    ("dgaaccounts_registrations_expire", None),
    ("dgaaccounts_accounts_scrub", None),
    ("dgaaccounts_documents_purge", None),
    ("dgaaccounts_reminders_send", None),
    ("dgaaccounts_requests_export", None),
    ("dgaaccounts_audit_export", None),
]


def _extra(action: str) -> dict[str, Any]:
    if action == "dgaaccounts_request_document_upload":
        return {"signed_form": Upload(PDF, "form.pdf")}
    if action == "dgaaccounts_request_approve":
        return {"note": "ok", "role": "admin"}
    if action in ("dgaaccounts_request_reject", "dgaaccounts_request_return",
                  "dgaaccounts_request_decline"):
        return {"reason": "because"}
    if action == "dgaaccounts_request_endorse":
        return {"note": "ours"}
    if action == "dgaaccounts_approval_mode_update":
        return {"mode": "delegated"}
    if action == "dgaaccounts_document_show":
        return {"document_id": "any"}
    return {}


@pytest.mark.parametrize(("action", "setup"), DENIED_STEPS, ids=[a for a, _ in DENIED_STEPS])
def test_denied_callers_get_not_authorized_and_nothing_changes(
        world, storage_root, action, setup):
    if setup == "submitted":
        # The decision would be legal now: only the caller's rights can stop it.
        _call(world, "dgaaccounts_request_document_upload", "applicant_token",
              signed_form=Upload(PDF, "form.pdf"))
        assert model.Session.get(Request, world.request_id).state == "submitted"
    before = _snapshot(storage_root)
    denied = [c for c in CALLERS if not EXPECTED[(action, c)]]
    assert denied, "every workflow step has callers it refuses"

    for caller in denied:
        with pytest.raises(tk.NotAuthorized):
            _call(world, action, caller, **_extra(action))
        assert _snapshot(storage_root) == before, f"{action} by {caller} changed something"


@pytest.mark.parametrize("caller", ["applicant", "applicant_token"])
def test_applicant_can_upload_then_see_then_withdraw(world, caller):
    shown = _call(world, "dgaaccounts_request_document_upload", caller,
                  signed_form=Upload(PDF, "form.pdf"))
    assert shown["state"] == "submitted"
    assert _call(world, "dgaaccounts_request_show", caller)["id"] == world.request_id
    assert _call(world, "dgaaccounts_request_withdraw", caller)["state"] == "withdrawn"


def test_sysadmin_passes_the_real_action_path(world):
    ctx = world.context("sysadmin")
    assert helpers.call_action("dgaaccounts_request_list", context=dict(ctx))["count"] == 2
    assert helpers.call_action("dgaaccounts_audit_list", context=dict(ctx))["count"] > 0
    shown = helpers.call_action("dgaaccounts_request_show", context=dict(ctx),
                                id=world.request_id)
    assert shown["state"] == "awaiting_document"
    _call(world, "dgaaccounts_request_document_upload", "applicant_token",
          signed_form=Upload(PDF, "form.pdf"))
    approved = helpers.call_action("dgaaccounts_request_approve", context=dict(ctx),
                                   id=world.request_id)
    assert approved["state"] == "approved"


def test_other_applicants_token_cannot_decide_or_read_a_request_they_do_not_own(shared_world):
    with pytest.raises(tk.NotAuthorized):
        helpers.call_action("dgaaccounts_request_show", context={"user": "", "ignore_auth": False},
                            id=shared_world.request_id, token=shared_world.other_token)
    # ...while it still opens their own.
    own = helpers.call_action("dgaaccounts_request_show",
                              context={"user": "", "ignore_auth": False},
                              id=shared_world.other_request_id, token=shared_world.other_token)
    assert own["id"] == shared_world.other_request_id


@pytest.mark.parametrize("token", [12345, ["t"], {"t": 1}], ids=["int", "list", "dict"])
def test_non_string_token_through_the_action_is_not_authorized(shared_world, token):
    # A JSON body can carry any type; auth sees the raw data_dict, before validation.
    with pytest.raises(tk.NotAuthorized):
        helpers.call_action("dgaaccounts_request_show", context={"user": "", "ignore_auth": False},
                            id=shared_world.request_id, token=token)


def test_applicant_token_alone_opens_the_documents(shared_world):
    """A pending applicant cannot sign in: the link's token must be enough to see their scan."""
    assert allowed("dgaaccounts_document_show", {"user": ""},
                   {"id": shared_world.request_id, "token": shared_world.token})


def test_public_actions_need_no_sign_in(clean_db):
    anonymous = {"user": "", "ignore_auth": False}
    result = helpers.call_action("dgaaccounts_developer_register", context=dict(anonymous),
                                 name="dev1", fullname="Dev One", email="dev1@example.com",
                                 password="Correct-Horse-42")
    assert result["state"] == "awaiting_verification"
    answer = helpers.call_action("dgaaccounts_verification_resend", context=dict(anonymous),
                                 email="dev1@example.com")
    assert answer["message"]
    with pytest.raises(tk.ValidationError):
        helpers.call_action("dgaaccounts_email_verify", context=dict(anonymous), token="nope")


# -- the chained user_reset ---------------------------------------------------------------

def _may_reset(user_id_or_name: str) -> bool:
    # CKAN's reset view checks user_reset with {"user": <id from the link>}.
    return allowed("user_reset", {"user": user_id_or_name}, {})


def test_pending_applicant_may_not_reset_password(shared_world):
    assert model.User.get(shared_world.applicant_id).state == "pending"
    assert not _may_reset(shared_world.applicant_id)
    assert not _may_reset("somchai")


def test_pending_developer_may_not_reset_password(clean_db):
    result = helpers.call_action("dgaaccounts_developer_register", name="dev1",
                                 fullname="Dev One", email="dev1@example.com",
                                 password="Correct-Horse-42")
    user_id = model.Session.get(Request, result["request_id"]).user_id
    assert not _may_reset(user_id)


def test_active_user_may_reset_password(shared_world):
    assert _may_reset(shared_world.user["id"])


def test_approved_applicant_may_reset_password(world):
    _call(world, "dgaaccounts_request_document_upload", "applicant_token",
          signed_form=Upload(PDF, "form.pdf"))
    helpers.call_action("dgaaccounts_request_approve", context=world.context("sysadmin"),
                        id=world.request_id)
    assert model.User.by_name("somchai").state == "active"
    assert _may_reset(world.applicant_id)


def test_pending_user_without_a_request_keeps_ckan_behaviour(clean_db):
    # CKAN's own invitations create pending users who set their password through a reset.
    invited = factories.User(state="pending")
    assert _may_reset(invited["id"])


def test_reset_with_unknown_user_is_left_to_ckan(clean_db):
    assert _may_reset("no-such-user")
