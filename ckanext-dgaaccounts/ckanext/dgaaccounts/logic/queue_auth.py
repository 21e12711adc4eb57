"""Auth functions of the queue actions (logic/queue_action.py), same names.

Published through logic/auth.py (see the end of that module). Sysadmins skip these entirely.
"""
from __future__ import annotations

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.types import AuthResult, Context, DataDict

from .. import approval

__all__ = ["dgaaccounts_requests_escalate", "dgaaccounts_requests_decide"]


def dgaaccounts_requests_escalate(context: Context, data_dict: DataDict) -> AuthResult:
    return {"success": False}


def dgaaccounts_requests_decide(context: Context, data_dict: DataDict) -> AuthResult:
    """Sysadmins, and the admins of an organization whose approval mode is ``delegated`` (their
    organization's queue). Each request is then checked again by its own decision's auth
    function, so nobody decides here what they could not decide on the request's page."""
    user = model.User.get(context.get("user") or "")
    if user is not None and user.state == "active" and approval.DELEGATED in approval.modes_for(
            approval.admin_of(user.id)).values():
        return {"success": True}
    return {"success": False, "msg": tk._("Only sysadmins, and the admins of an organization "
                                          "that decides its own requests, decide in bulk.")}
