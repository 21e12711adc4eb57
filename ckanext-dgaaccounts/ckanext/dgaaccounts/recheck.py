"""What every decision re-checks at decision time, in the decision's transaction.

A request waits hours or days for its decision; meanwhile a sysadmin may delete the account or
the organization through CKAN. Each decision (approve, reject, return; reactivation) locks the
account's row and finds it in the state the request needs, and an agency approval locks the
organization (it must exist, be an organization, be active). Otherwise the decision is refused
with a field error and nothing changes.

The last-sysadmin guard takes one transaction-level advisory lock before it counts, so two
sysadmins cancelling or suspending each other at the same moment are serialized: the second
counts after the first has committed, and is refused.
"""
from __future__ import annotations

from typing import Any, NoReturn

from sqlalchemy import text

import ckan.model as model
from ckan.plugins import toolkit as tk

from . import account, approval, workflow
from .model import Request

# pg_advisory_xact_lock key of the last-sysadmin guard ("dgaaccounts sysadmins", as an int8).
SYSADMINS_LOCK = 0x6467_6173_7973_6164


def _refuse(field: str, message: str) -> NoReturn:
    # Nothing was changed yet: the action rolls back (releasing the locks) unless its caller
    # holds the transaction (defer_commit).
    raise tk.ValidationError({field: [message]})


def account_for(req: Request) -> model.User:
    """The request's account, locked, in the state the request's decision needs.

    A registration (agency officer) waits with a pending, unsuspended account; a cancellation or
    suspension was asked by an active account.
    """
    user = model.Session.query(model.User).filter(
        model.User.id == req.user_id).with_for_update().one_or_none()
    if user is None or user.state == "deleted" or account.is_scrubbed(user):
        _refuse("account", tk._(
            "The account of this request was deleted after the request was made. Nothing was "
            "changed."))
    if req.kind in (workflow.AGENCY, workflow.DEVELOPER):
        expected = user.state == "pending" and not account.is_suspended(user)
    else:
        expected = user.state == "active"
    if not expected:
        _refuse("account", tk._(
            "The account of this request changed after the request was made (it is now "
            "%(state)s). Nothing was changed.") % {"state": account_state_label(user)})
    return user


def account_state_label(user: model.User) -> str:
    if user.state == "pending" and account.is_suspended(user):
        return tk._("suspended")
    return {"active": tk._("active"), "pending": tk._("pending"),
            "deleted": tk._("deleted")}.get(user.state, user.state)


def organization(org_id: str | None) -> model.Group:
    """The organization an officer is approved into: it exists, is an organization and is
    active. Locked (shared) until the decision commits, so it cannot be deleted meanwhile."""
    if not org_id:
        _refuse("organization", tk._("Choose the organization the officer will publish in."))
    group = model.Session.query(model.Group).filter(
        model.Group.id == org_id).with_for_update(read=True).one_or_none()
    if group is None or not group.is_organization or group.state != "active":
        _refuse("organization", tk._(
            "This organization no longer exists or is not active. Choose another one."))
    return group


def lock_sysadmins() -> None:
    """Serialize every change that may leave the portal without an active sysadmin (held until
    the transaction ends)."""
    model.Session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SYSADMINS_LOCK})


def decider(req: Request, actor_id: str | None, event: str,
            data: dict[str, Any] | None = None) -> str:
    """The actor may still fire ``event`` on ``req`` (approval.py), checked under locks held
    until the decision commits; returns the capacity they act in (``sysadmin`` or
    ``organization_admin``), for the audit trail. Otherwise NotAuthorized, nothing changed.

    An organization admin's power can change while the request waits, or while they decide: the
    organization's row is locked (shared), so a change of approval mode (which locks it for
    update) waits for this decision or comes before it; the memberships of the actor and of the
    applicant are locked (shared), so a demotion or promotion does the same.
    """
    actor = model.Session.get(model.User, actor_id) if actor_id else None
    if (actor is not None and actor.sysadmin and actor.state == "active"
            and approval.SYSADMIN in approval.decider_roles(req, event)):
        return approval.SYSADMIN
    if req.organization_id:
        model.Session.query(model.Group.id).filter(
            model.Group.id == req.organization_id).with_for_update(read=True).all()
    for user_id in {actor_id, req.user_id} - {None}:
        model.Session.query(model.Member.id).filter(
            model.Member.table_name == "user", model.Member.table_id == user_id,
        ).with_for_update(read=True).all()
    refused = approval.delegated_refusal(actor, req, event, data)
    if refused:
        model.Session.rollback()
        raise tk.NotAuthorized(refused)
    return approval.ORGANIZATION_ADMIN
