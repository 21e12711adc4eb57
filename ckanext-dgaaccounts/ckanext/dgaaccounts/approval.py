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

from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

import ckan.model as model
from ckan.plugins import toolkit as tk

from . import config, states
from .model import ApprovalMode, Request, utcnow

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
    stored: dict[str, str] = {org: mode for org, mode in model.Session.query(
        ApprovalMode.organization_id, ApprovalMode.mode).filter(
        ApprovalMode.organization_id.in_(ids))}
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


# -- who decides --------------------------------------------------------------------------------

SYSADMIN = "sysadmin"
ORGANIZATION_ADMIN = "organization_admin"
DECISIONS = ("approve", "reject", "return")
ENDORSEMENTS = ("endorse", "decline")
# The roles an organization admin may grant; ``admin`` is the sysadmins' to give.
DELEGATED_ROLES = ("member", "editor")


def decider_roles(req: Request, event: str) -> tuple[str, ...]:
    """Who may fire ``event`` on ``req`` under its organization's mode: ``sysadmin`` and/or
    ``organization_admin``. Sysadmins decide in every mode; organization admins endorse or
    decline in ``endorse`` and decide in ``delegated``; an endorsement is the agency's alone.
    The cancellation or suspension of a sysadmin or of an organization admin is the
    sysadmins' only."""
    mode = mode_for(req.organization_id)
    reserved = reserved_for_sysadmins(req)
    if event in DECISIONS:
        return (SYSADMIN, ORGANIZATION_ADMIN) if (
            mode == DELEGATED and not reserved) else (SYSADMIN,)
    if event in ENDORSEMENTS:
        return (ORGANIZATION_ADMIN,) if mode == ENDORSE and not reserved else ()
    return ()


def reserved_for_sysadmins(req: Request) -> bool:
    """A cancellation or suspension that only the portal's sysadmins decide (see
    :func:`_reserved_reason`)."""
    return _reserved_reason(req) is not None


def _reserved_reason(req: Request) -> str | None:
    """Why the cancellation or suspension ``req`` is the sysadmins' alone: its account is a
    sysadmin's or an organization admin's, or it is no longer in (only) the organization the
    request was made in (its memberships changed since: that organization's admins no longer
    speak for it)."""
    if req.kind not in states.ACCOUNT_CHANGES:
        return None
    user = model.Session.get(model.User, req.user_id)
    if user is None or user.sysadmin or admin_of(req.user_id):
        return tk._("The cancellation or suspension of a sysadmin or of an organization admin "
                    "is decided by the portal's sysadmins.")
    if req.state in states.OPEN_STATES and organization_for_account(user) != req.organization_id:
        return tk._("This account's organizations have changed since the request was made: "
                    "the portal's sysadmins decide on it.")
    return None


def can_decide(user: model.User | None, req: Request, event: str,
               data: Mapping[str, Any] | None = None) -> bool:
    """Whether ``user`` may fire ``event`` (approve, reject, return, endorse, decline) on
    ``req`` now, with the decision's ``data`` (``role``, ``organization``)."""
    return refusal(user, req, event, data) is None


def refusal(user: model.User | None, req: Request, event: str,
            data: Mapping[str, Any] | None = None) -> str | None:
    """Why ``user`` may not fire ``event`` on ``req``; None if they may. Sysadmins included."""
    if _active(user) and user.sysadmin and user.id != req.user_id and (
            SYSADMIN in decider_roles(req, event)):
        return None
    return delegated_refusal(user, req, event, data)


def delegated_refusal(user: model.User | None, req: Request, event: str,
                      data: Mapping[str, Any] | None = None) -> str | None:
    """The organization admins' rule: why ``user`` may not fire ``event`` on ``req`` as an
    admin of its organization; None if they may. The auth functions apply this one (CKAN lets
    sysadmins past them), the decision re-checks it under lock (recheck.py)."""
    if not _active(user):
        return tk._("Sign in to decide on requests.")
    if user.id == req.user_id:
        return tk._("Nobody can decide on their own request.")
    reserved = _reserved_reason(req) if event in DECISIONS + ENDORSEMENTS else None
    if reserved:
        return reserved
    if ORGANIZATION_ADMIN not in decider_roles(req, event):
        return _mode_refusal(req, event)
    if not is_organization_admin(user.id, req.organization_id):
        return tk._("Only the admins of the request's organization can do this.")
    if event == "approve" and req.kind == states.AGENCY:
        return _grant_refusal(req, data or {})
    return None


def _mode_refusal(req: Request, event: str) -> str:
    mode = mode_for(req.organization_id)
    if event in ENDORSEMENTS:
        return tk._("Requests of this organization are not endorsed by its admins (its approval "
                    "mode is %(mode)s).") % {"mode": mode_label(mode)}
    return tk._("Requests of this organization are decided by the portal's sysadmins (its "
                "approval mode is %(mode)s).") % {"mode": mode_label(mode)}


def _grant_refusal(req: Request, data: Mapping[str, Any]) -> str | None:
    """An organization admin approves into their own organization, as member or editor."""
    role = data.get("role")
    if role in (None, "", tk.missing):
        role = config.default_role()
    if isinstance(role, str) and role not in DELEGATED_ROLES:
        return tk._("Only sysadmins can make an officer an admin of the organization: choose "
                    "member or editor.")
    org = data.get("organization")
    if isinstance(org, str) and org:
        group = model.Group.get(org)
        if group is None or group.id != req.organization_id:
            return tk._("An organization admin approves officers into their own organization "
                        "only.")
    return None


def may_view(user: model.User | None, req: Request) -> bool:
    """Whether ``user`` sees ``req`` as an admin of its organization: the review page, the
    scans and the history, in the modes that give the organization a part in the decision."""
    return (_active(user) and bool(req.organization_id)
            and mode_for(req.organization_id) != CENTRAL
            and is_organization_admin(user.id, req.organization_id)
            and not _moved_away(req))


def may_list(user: model.User | None, organization_id: str | None) -> bool:
    """Whether ``user`` sees the queue of the organization (its admins, outside ``central``)."""
    return (_active(user) and bool(organization_id) and mode_for(organization_id) != CENTRAL
            and is_organization_admin(user.id, organization_id))


def deciders(req: Request, event: str) -> list[model.User]:
    """The active people who may fire ``event`` on ``req`` now, sysadmins last, never the
    applicant (for notifications and escalation)."""
    roles = decider_roles(req, event)
    people: list[model.User] = []
    if ORGANIZATION_ADMIN in roles:
        people += organization_admins(req.organization_id)
    if SYSADMIN in roles:
        people += model.Session.query(model.User).filter(
            model.User.sysadmin.is_(True), model.User.state == "active",
            model.User.name != tk.config.get("ckan.site_id"),  # CKAN's site user: no person
        ).order_by(model.User.name).all()
    seen: set[str] = set()
    found = []
    for person in people:
        if person.id != req.user_id and person.id not in seen:
            seen.add(person.id)
            found.append(person)
    return found


def first_deciders(req: Request) -> tuple[str, list[model.User]]:
    """Who acts first on a newly submitted request, and as what: (``organization_admin``, its
    organization's admins) in ``endorse`` and ``delegated``, or (``sysadmin``, []) for the
    sysadmins: in ``central``, for a request reserved to them, and when the organization has no
    active admin with an email address."""
    mode = mode_for(req.organization_id)
    if mode == CENTRAL or reserved_for_sysadmins(req):
        return SYSADMIN, []
    admins = [u for u in organization_admins(req.organization_id)
              if u.email and u.id != req.user_id]
    return (ORGANIZATION_ADMIN, admins) if admins else (SYSADMIN, [])


# -- organizations and their admins ---------------------------------------------------------

def _admin_memberships(user_id: str) -> Any:
    return model.Session.query(model.Member.group_id).join(
        model.Group, model.Group.id == model.Member.group_id).filter(
        model.Member.table_name == "user", model.Member.table_id == user_id,
        model.Member.state == "active", model.Member.capacity == "admin",
        model.Group.is_organization.is_(True), model.Group.state == "active")


def is_organization_admin(user_id: str, organization_id: str | None) -> bool:
    if not organization_id:
        return False
    return _admin_memberships(user_id).filter(
        model.Member.group_id == organization_id).first() is not None


def admin_of(user_id: str) -> list[str]:
    """The ids of the active organizations ``user_id`` is an admin of."""
    return [row[0] for row in _admin_memberships(user_id)]


def organization_admins(organization_id: str | None) -> list[model.User]:
    """The organization's active admins, by name (not CKAN's site user, which becomes an admin
    of the organizations it creates)."""
    if not organization_id:
        return []
    return model.Session.query(model.User).join(
        model.Member, (model.Member.table_id == model.User.id)
        & (model.Member.table_name == "user")).filter(
        model.Member.group_id == organization_id, model.Member.state == "active",
        model.Member.capacity == "admin", model.User.state == "active",
        model.User.name != tk.config.get("ckan.site_id"),  # CKAN's site user: no person
    ).order_by(model.User.name).all()


def _moved_away(req: Request) -> bool:
    """A cancellation or suspension whose account is no longer in (only) the organization
    the request was made in, while it waits (a decided one stays in its organization's
    history)."""
    if req.kind not in states.ACCOUNT_CHANGES or req.state not in states.OPEN_STATES:
        return False
    user = model.Session.get(model.User, req.user_id)
    return user is not None and organization_for_account(user) != req.organization_id


def organization_for_account(user: model.User) -> str | None:
    """The organization a cancellation or suspension of ``user`` belongs to: the one active
    organization they are a member of; None (decided centrally) for none or several."""
    found = model.Session.query(model.Member.group_id).join(
        model.Group, model.Group.id == model.Member.group_id).filter(
        model.Member.table_name == "user", model.Member.table_id == user.id,
        model.Member.state == "active", model.Group.is_organization.is_(True),
        model.Group.state == "active").distinct().limit(2).all()
    return found[0][0] if len(found) == 1 else None


def _active(user: model.User | None) -> TypeGuard[model.User]:
    return user is not None and user.state == "active"


def mode_label(mode: str) -> str:
    return {
        CENTRAL: tk._("central (the portal's sysadmins decide)"),
        ENDORSE: tk._("endorse (the organization's admins endorse, then sysadmins decide)"),
        DELEGATED: tk._("delegated (the organization's admins decide)"),
    }.get(mode, mode)
