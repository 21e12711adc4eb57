"""Auth functions of the queue actions (logic/queue_action.py), same names.

Published through logic/auth.py (see the end of that module). Sysadmins skip these entirely.
"""
from __future__ import annotations

from ckan.types import AuthResult, Context, DataDict

__all__ = ["dgaaccounts_requests_escalate"]


def dgaaccounts_requests_escalate(context: Context, data_dict: DataDict) -> AuthResult:
    return {"success": False}
