"""Auth functions of the developer API key actions (logic/token_action.py), same names.

Published through logic/auth.py (see the end of that module). Sysadmins skip these entirely.
"""
from __future__ import annotations

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.types import AuthResult, Context, DataDict

__all__ = [
    "dgaaccounts_token_tier_set", "dgaaccounts_token_tier_list", "dgaaccounts_token_tier_assign",
    "dgaaccounts_token_list", "dgaaccounts_token_show", "dgaaccounts_token_renew",
    "dgaaccounts_token_revoke_all",
    "dgaaccounts_token_usage", "dgaaccounts_token_usage_list",
    "dgaaccounts_token_reminders_send", "dgaaccounts_token_overlap_revoke",
    "dgaaccounts_token_usage_rollup", "dgaaccounts_token_usage_purge",
    "dgaaccounts_token_housekeeping",
]

_SYSADMIN_ONLY: AuthResult = {"success": False}


def _own(context: Context, data_dict: DataDict) -> AuthResult:
    """The signed-in user, about their own account (no ``user`` given means their own)."""
    me = model.User.get(context.get("user") or "")
    if me is None:
        return {"success": False, "msg": tk._("You must be signed in.")}
    wanted = data_dict.get("user")
    if wanted in (None, "", me.id, me.name):
        return {"success": True}
    return {"success": False, "msg": tk._("Not authorized to see another user's API tokens.")}


def dgaaccounts_token_tier_set(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_token_tier_list(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_token_tier_assign(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_token_list(context: Context, data_dict: DataDict) -> AuthResult:
    return _own(context, data_dict)


def dgaaccounts_token_show(context: Context, data_dict: DataDict) -> AuthResult:
    # The action checks that the token is the caller's own.
    return _own(context, {})


def dgaaccounts_token_renew(context: Context, data_dict: DataDict) -> AuthResult:
    # The action checks that the token is the caller's own.
    return _own(context, {})


@tk.auth_allow_anonymous_access  # the signed link from the email is the caller's key
def dgaaccounts_token_revoke_all(context: Context, data_dict: DataDict) -> AuthResult:
    if data_dict.get("signature"):
        return {"success": True}  # the action checks the signature
    return _own(context, data_dict)


def dgaaccounts_token_usage(context: Context, data_dict: DataDict) -> AuthResult:
    return _own(context, data_dict)


def dgaaccounts_token_usage_list(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_token_reminders_send(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_token_overlap_revoke(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_token_usage_rollup(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_token_usage_purge(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY


def dgaaccounts_token_housekeeping(context: Context, data_dict: DataDict) -> AuthResult:
    return _SYSADMIN_ONLY
