"""Auth functions of the queue actions (logic/queue_action.py), same names.

Published through logic/auth.py (see the end of that module). Sysadmins skip these entirely.
"""
from __future__ import annotations

from ckan.types import AuthResult, Context, DataDict

__all__ = ["dgaaccounts_requests_escalate", "dgaaccounts_requests_decide"]


def dgaaccounts_requests_escalate(context: Context, data_dict: DataDict) -> AuthResult:
    return {"success": False}


def dgaaccounts_requests_decide(context: Context, data_dict: DataDict) -> AuthResult:
    # Sysadmins; each request is then checked again by its own decision's auth function.
    return {"success": False}
