"""Who decides a request: the approval mode of its organization.

Each organization on the portal has an approval mode, set by sysadmins:

* ``central``: the portal's sysadmins decide (the workflow as it always was);
* ``endorse``: the organization's admins endorse or decline a request first (an event of the
  state machine, workflow.py), then the sysadmins decide;
* ``delegated``: the organization's admins approve, return or reject the requests for their own
  organization; sysadmins can always decide too, or instead.

An organization without a stored mode follows ``ckanext.dgaaccounts.approval_mode_default``. A
request that names no organization on the portal (an agency not on the portal yet) is decided
centrally whatever the default.
"""
from __future__ import annotations

from collections.abc import Iterable

import ckan.model as model

from . import config
from .model import ApprovalMode, utcnow

CENTRAL = "central"
ENDORSE = "endorse"
DELEGATED = "delegated"
MODES = (CENTRAL, ENDORSE, DELEGATED)


def default_mode() -> str:
    """The portal-wide default (config ``approval_mode_default``)."""
    mode = config.approval_mode_default()
    return mode if mode in MODES else CENTRAL


def mode_for(organization_id: str | None) -> str:
    """The approval mode of the organization ``organization_id``; ``central`` for none."""
    if not organization_id:
        return CENTRAL
    row = model.Session.get(ApprovalMode, organization_id)
    return row.mode if row is not None else default_mode()


def modes_for(organization_ids: Iterable[str]) -> dict[str, str]:
    """The approval mode of each organization in ``organization_ids`` (one query)."""
    ids = {i for i in organization_ids if i}
    if not ids:
        return {}
    stored = dict(model.Session.query(ApprovalMode.organization_id, ApprovalMode.mode).filter(
        ApprovalMode.organization_id.in_(ids)))
    default = default_mode()
    return {i: stored.get(i, default) for i in ids}


def stored_mode(organization_id: str) -> str | None:
    """The mode a sysadmin set for the organization, or None where it follows the default."""
    row = model.Session.get(ApprovalMode, organization_id)
    return row.mode if row is not None else None


def set_mode(organization_id: str, mode: str | None, actor_id: str | None) -> str:
    """Store the organization's mode (None: follow the portal default) in the caller's
    transaction; returns the mode it had. The caller has locked the organization's row, so a
    decision that re-checks the mode under that lock (recheck.py) sees the old or the new one,
    never half of a change."""
    previous = mode_for(organization_id)
    row = model.Session.get(ApprovalMode, organization_id)
    if mode is None:
        if row is not None:
            model.Session.delete(row)
    elif row is None:
        model.Session.add(ApprovalMode(organization_id=organization_id, mode=mode,
                                       updated=utcnow(), updated_by=actor_id))
    else:
        row.mode, row.updated, row.updated_by = mode, utcnow(), actor_id
    model.Session.flush()
    return previous

