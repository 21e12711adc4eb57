"""Auth functions of the identity link actions (logic/identity_action.py), same names.

Published through logic/auth.py (see the end of that module). Sysadmins skip these entirely.
"""
from __future__ import annotations

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.types import AuthResult, Context, DataDict

__all__ = [
    "dgaaccounts_identity_link_list", "dgaaccounts_identity_link", "dgaaccounts_identity_unlink",
]


def _signed_in(context: Context) -> model.User | None:
    return model.User.get(context.get("user") or "") if context.get("user") else None


def dgaaccounts_identity_link_list(context: Context, data_dict: DataDict) -> AuthResult:
    """The signed-in user, about their own account (no ``user`` given means their own)."""
    me = _signed_in(context)
    if me is None:
        return {"success": False, "msg": tk._("You must be signed in.")}
    if data_dict.get("user") in (None, "", me.id, me.name):
        return {"success": True}
    return {"success": False,
            "msg": tk._("Not authorized to see another user's linked identities.")}


def dgaaccounts_identity_link(context: Context, data_dict: DataDict) -> AuthResult:
    # The signed-in user, to their own account (the action takes no user parameter).
    if _signed_in(context) is None:
        return {"success": False, "msg": tk._("You must be signed in.")}
    return {"success": True}


def dgaaccounts_identity_unlink(context: Context, data_dict: DataDict) -> AuthResult:
    # The signed-in user; the action finds only their own links (sysadmins: anyone's).
    if _signed_in(context) is None:
        return {"success": False, "msg": tk._("You must be signed in.")}
    return {"success": True}
