"""Actions on the approval queue as a whole: escalation of requests left without a decision, and
one decision on several requests at once.

Published through logic/action.py (see the end of that module): ``tk.blanket.actions`` takes a
module's ``__all__`` when it has one.
"""
from __future__ import annotations

from typing import Any

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.types import Context, DataDict

from .. import escalation
from ..model import Request
from . import schema

__all__ = ["dgaaccounts_requests_escalate", "dgaaccounts_requests_decide"]


def dgaaccounts_requests_escalate(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Escalate the requests left without a decision for ``escalation_percent`` of their
    service time, and those of organizations (modes ``endorse``, ``delegated``) without an
    active organization admin: email the sysadmins, flag them in the queue, audit ``escalate``.
    Each request once per submission, even when runs overlap. Sysadmins only (cron calls it as
    the site user through ``ckan dgaaccounts escalate``).

    :param dry_run: (optional) only say what would be escalated
    :returns: ``count`` and ``escalated``: each request's ``id``, ``reference``, ``kind``,
        ``organization_id``, ``reason`` (``threshold`` or ``no_admin``), ``threshold`` and
        ``escalated`` (ISO 8601, UTC)
    """
    tk.check_access("dgaaccounts_requests_escalate", context, data_dict)
    data, errors = tk.navl_validate(dict(data_dict), schema.requests_escalate(), context)
    if errors:
        raise tk.ValidationError(errors)
    user = model.User.get(context.get("user") or "")  # recorded as the actor of the events
    actor_id = user.id if user is not None else None
    items = escalation.escalate(dry_run=bool(data.get("dry_run")), actor_id=actor_id)
    return {"count": len(items), "escalated": [_public(item) for item in items]}


def _public(item: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "reference", "kind", "organization_id", "reason", "threshold", "escalated")
    return {k: item[k].isoformat() if hasattr(item[k], "isoformat") else item[k] for k in keys}


_DECISIONS = {"approve": "dgaaccounts_request_approve", "return": "dgaaccounts_request_return",
              "reject": "dgaaccounts_request_reject"}


def dgaaccounts_requests_decide(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Approve, return or reject several requests with one reason (the queue's bulk decision).

    Each request is decided on its own, by the action of that decision
    (``dgaaccounts_request_approve``, ``_return``, ``_reject``) as the caller: its auth
    function, its checks, its own transaction, audit event and email. A request that cannot be
    decided (already decided, changed, not the caller's to decide) is reported in ``results``
    with its error and the others go on. Sysadmins may ask for it here, and the admins of an
    organization in the ``delegated`` approval mode (for their organization's requests: the
    others are refused one by one).

    :param ids: the request ids (a list, at most 100)
    :param decision: ``approve``, ``return`` or ``reject``
    :param reason: why (required to return or reject; sent to each applicant); for an
        approval, an optional note for the record
    :param role: (optional, approvals of agency registrations) ``member``, ``editor`` or
        ``admin``; by default the configured role
    :returns: ``decided`` and ``failed`` (counts) and ``results``: per request, in the order
        given, ``id``, ``reference``, ``success``, the new ``state`` or the ``error``
    """
    tk.check_access("dgaaccounts_requests_decide", context, data_dict)
    data, errors = tk.navl_validate(dict(data_dict), schema.requests_decide(), context)
    if not errors and data["decision"] != "approve" and not data.get("reason"):
        errors = {"reason": [tk._("Missing value")]}
    if errors:
        raise tk.ValidationError(errors)
    results = [_decide_one(context, data, request_id) for request_id in data["ids"]]
    decided = sum(1 for r in results if r["success"])
    return {"decided": decided, "failed": len(results) - decided, "results": results}


def _decide_one(context: Context, data: dict[str, Any], request_id: str) -> dict[str, Any]:
    one: dict[str, Any] = {"id": request_id}
    if data["decision"] == "approve":
        one.update({k: v for k, v in (("note", data.get("reason")), ("role", data.get("role")))
                    if v})
    else:
        one["reason"] = data["reason"]
    own: Context = {"user": context.get("user", ""),
                    "ignore_auth": context.get("ignore_auth", False)}
    try:
        done = tk.get_action(_DECISIONS[data["decision"]])(own, one)
    except (tk.ValidationError, tk.NotAuthorized, tk.ObjectNotFound) as exc:
        model.Session.rollback()
        if not _may_see(own, request_id):
            # A request the caller may not see answers as one that does not exist: neither
            # its reference nor why it is refused.
            return {"id": request_id, "reference": None, "success": False,
                    "error": tk._("Request not found.")}
        reference = model.Session.query(Request.reference).filter(
            Request.id == request_id).scalar()
        return {"id": request_id, "reference": reference, "success": False,
                "error": _message(exc)}
    return {"id": request_id, "reference": done["reference"], "success": True,
            "state": done["state"]}


def _may_see(context: Context, request_id: str) -> bool:
    try:
        tk.check_access("dgaaccounts_request_show", context.copy(), {"id": request_id})
    except (tk.NotAuthorized, tk.ObjectNotFound):
        return False
    return True


def _message(exc: Exception) -> str:
    if isinstance(exc, tk.ValidationError):
        return " ".join(str(m) for v in exc.error_dict.values()
                        for m in (v if isinstance(v, list) else [v]))
    if isinstance(exc, tk.ObjectNotFound):
        return str(exc.message or "") or tk._("Request not found.")
    return str(getattr(exc, "message", "") or "") or tk._("Not authorized to decide this request.")
