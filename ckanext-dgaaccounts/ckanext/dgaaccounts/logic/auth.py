"""Auth functions, one per action, same names. Sysadmins skip these entirely."""
from __future__ import annotations

from typing import Any

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.types import AuthResult, Context, DataDict

from .. import approval, tokens
from ..model import Request

_SYSADMIN_ONLY: AuthResult = {"success": False}


@tk.auth_allow_anonymous_access
def dgaaccounts_agency_register(context: Context, data_dict: DataDict) -> AuthResult:
    return {"success": True}


@tk.auth_allow_anonymous_access
def dgaaccounts_developer_register(context: Context, data_dict: DataDict) -> AuthResult:
    return {"success": True}


@tk.auth_allow_anonymous_access
def dgaaccounts_email_verify(context: Context, data_dict: DataDict) -> AuthResult:
    return {"success": True}


@tk.auth_allow_anonymous_access
def dgaaccounts_verification_resend(context: Context, data_dict: DataDict) -> AuthResult:
    return {"success": True}


# The applicant's own acts: a sysadmin is no exception (CKAN lets sysadmins through every auth
# function unless it says so), they decide on requests, they do not act as the applicant.
@tk.auth_sysadmins_check
@tk.auth_allow_anonymous_access
def dgaaccounts_request_document_upload(context: Context, data_dict: DataDict) -> AuthResult:
    return _applicant(context, data_dict)


@tk.auth_allow_anonymous_access
def dgaaccounts_request_show(context: Context, data_dict: DataDict) -> AuthResult:
    return _applicant_or_organization(context, data_dict)


@tk.auth_sysadmins_check
@tk.auth_allow_anonymous_access
def dgaaccounts_request_withdraw(context: Context, data_dict: DataDict) -> AuthResult:
    return _applicant(context, data_dict)


def dgaaccounts_cancellation_request_create(context: Context,
                                            data_dict: DataDict) -> AuthResult:
    # Any signed-in user, for their own account (CKAN refuses anonymous callers before this).
    return {"success": True}


def dgaaccounts_user_reactivate(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_request_list(context: Context, data_dict: DataDict) -> AuthResult:
    """Sysadmins; an organization's admins for its own queue (``organization`` given), where
    its approval mode gives them a part."""
    org = data_dict.get("organization")
    group = model.Group.get(org) if isinstance(org, str) and org else None
    if group is not None and approval.may_list(_user(context), group.id):
        return {"success": True}
    return _SYSADMIN_ONLY


def dgaaccounts_request_approve(context: Context, data_dict: DataDict) -> AuthResult:
    return _decider(context, data_dict, "approve")


def dgaaccounts_request_reject(context: Context, data_dict: DataDict) -> AuthResult:
    return _decider(context, data_dict, "reject")


def dgaaccounts_request_return(context: Context, data_dict: DataDict) -> AuthResult:
    return _decider(context, data_dict, "return")


def dgaaccounts_request_endorse(context: Context, data_dict: DataDict) -> AuthResult:
    return _decider(context, data_dict, "endorse")


def dgaaccounts_request_decline(context: Context, data_dict: DataDict) -> AuthResult:
    return _decider(context, data_dict, "decline")


def dgaaccounts_approval_mode_update(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_request_reject_spam(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_approval_mode_list(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_approval_mode_show(context: Context, data_dict: DataDict) -> AuthResult:
    """Sysadmins, and the organization's admins (their organization's mode)."""
    org = data_dict.get("organization")
    group = model.Group.get(org) if isinstance(org, str) and org else None
    user = _user(context)
    if group is not None and user is not None and user.state == "active" and (
            approval.is_organization_admin(user.id, group.id)):
        return {"success": True}
    return _SYSADMIN_ONLY


def _decider(context: Context, data_dict: DataDict, event: str) -> AuthResult:
    """The admins of the request's organization, as its approval mode allows (approval.py);
    sysadmins never reach this (CKAN skips auth functions for them)."""
    req = _request(context, data_dict)
    if req is None:
        return {"success": False}
    refused = approval.delegated_refusal(_user(context), req, event, data_dict)
    return {"success": False, "msg": refused} if refused else {"success": True}


def _request(context: Context, data_dict: DataDict) -> Request | None:
    """The request the action already read (kept in its context), else the one ``id`` names."""
    kept = context.get("dgaaccounts_request")
    if isinstance(kept, Request):
        return kept
    return model.Session.get(Request, str(data_dict.get("id") or ""))


def _user(context: Context) -> model.User | None:
    """The caller's user, or None for an anonymous caller (CKAN 2.10+ may give an anonymous
    ``auth_user_obj``: flask-login's AnonymousUser, which is not a ``model.User``)."""
    user = context.get("auth_user_obj")
    if isinstance(user, model.User):
        return user
    return model.User.get(context["user"]) if context.get("user") else None


def dgaaccounts_audit_list(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


@tk.chained_auth_function
@tk.auth_allow_anonymous_access
def user_reset(next_auth: Any, context: Context, data_dict: DataDict | None) -> AuthResult:
    """A pending applicant may not use "forgot password": CKAN's reset would activate the account
    and skip verification and approval."""
    user = model.User.get(context.get("user") or "")
    if user is not None and user.state == "pending" and model.Session.query(Request.id).filter(
        Request.user_id == user.id
    ).first():
        return {"success": False,
                "msg": tk._("This account is waiting for verification or approval.")}
    result: AuthResult = next_auth(context, data_dict)
    return result


def _applicant(context: Context, data_dict: DataDict) -> AuthResult:
    req = _request(context, data_dict)
    if req is None:
        return {"success": False}
    user = _user(context)
    if user is not None and user.id == req.user_id:
        return {"success": True}
    if tokens.applicant_may_access(data_dict.get("token"), req.id):
        return {"success": True}
    return {"success": False, "msg": tk._("Not authorized to see this request.")}


def _applicant_or_organization(context: Context, data_dict: DataDict) -> AuthResult:
    found = _applicant(context, data_dict)
    if found["success"]:
        return found
    req = _request(context, data_dict)
    if req is not None and approval.may_view(_user(context), req):
        return {"success": True}
    return found


def dgaaccounts_sla_report(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


# -- what the pages read (logic/account_action.py) ------------------------------------------

def dgaaccounts_account_show(context: Context, data_dict: DataDict) -> AuthResult:
    """The signed-in user about their own account (no ``id``, or their own)."""
    me = model.User.get(context.get("user") or "")
    if me is None:
        return {"success": False, "msg": tk._("You must be signed in.")}
    if data_dict.get("id") in (None, "", me.id, me.name):
        return {"success": True}
    return {"success": False, "msg": tk._("Not authorized to see another user's account.")}


@tk.auth_allow_anonymous_access
def dgaaccounts_request_form_show(context: Context, data_dict: DataDict) -> AuthResult:
    return _applicant_or_organization(context, data_dict)  # as dgaaccounts_request_show


@tk.auth_allow_anonymous_access  # a pending applicant cannot sign in: the token is their key
def dgaaccounts_document_show(context: Context, data_dict: DataDict) -> AuthResult:
    """The scans of a request: its applicant, sysadmins and, where the approval mode gives
    them a part, its organization's admins (the document view reads them through it)."""
    return _applicant_or_organization(context, data_dict)


@tk.auth_allow_anonymous_access  # the link's token is the key (the action checks it)
def dgaaccounts_verification_show(context: Context, data_dict: DataDict) -> AuthResult:
    return {"success": True}


@tk.auth_allow_anonymous_access  # the registration form shows them to anyone
def dgaaccounts_organization_list(context: Context, data_dict: DataDict) -> AuthResult:
    return {"success": True}


@tk.auth_allow_anonymous_access
def dgaaccounts_password_reset_request(context: Context, data_dict: DataDict) -> AuthResult:
    """CKAN's own rule for its "forgot password" form (``request_reset``)."""
    try:
        tk.check_access("request_reset", context.copy(), data_dict)
    except tk.NotAuthorized:
        return {"success": False, "msg": tk._("Unauthorized to request reset password.")}
    return {"success": True}


# -- housekeeping (logic/housekeeping.py): cron, the CLI and the export pages ---------------

def dgaaccounts_registrations_expire(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_accounts_scrub(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_documents_purge(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_reminders_send(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_requests_export(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_audit_export(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


# -- developer API keys (logic/token_auth.py), identity links (logic/identity_auth.py) ----
# tk.blanket.auth_functions registers a module's __all__ when it has one: the list names this
# module's auth functions and those of token_auth.
from inspect import isfunction as _isfunction  # noqa: E402
from . import identity_auth as _identity_auth  # noqa: E402
from . import token_auth as _token_auth  # noqa: E402
from .identity_auth import *  # noqa: E402,F401,F403
from .token_auth import *  # noqa: E402,F401,F403
from . import queue_auth as _queue_auth  # noqa: E402
from .queue_auth import *  # noqa: E402,F401,F403

__all__ = sorted(
    {name for name, value in list(globals().items()) if _isfunction(value)
     and getattr(value, "__module__", None) == __name__ and not name.startswith("_")}
    | set(_token_auth.__all__) | set(_queue_auth.__all__)
    | set(_identity_auth.__all__))
