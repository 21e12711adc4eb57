"""Actions on the approval queue as a whole: escalation of requests left without a decision.

Published through logic/action.py (see the end of that module): ``tk.blanket.actions`` takes a
module's ``__all__`` when it has one.
"""
from __future__ import annotations

from typing import Any

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.types import Context, DataDict

from .. import escalation
from . import schema

__all__ = ["dgaaccounts_requests_escalate"]


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
