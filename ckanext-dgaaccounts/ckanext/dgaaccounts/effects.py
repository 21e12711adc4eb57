"""What an event does beyond the request's own row: the effects that ``workflow.TRANSITIONS``
names for each event, one function each.

``workflow.transition`` runs an event's effects in order, after its conditional UPDATE has
matched and before it writes the audit event, all in the caller's transaction. An effect reads
and adds to ``applied.details`` (the audit event's details: what the caller gave, such as the
organization and role of an approval, and what the effects did, such as how many API tokens were
revoked); an effect that deletes document rows lists their files in ``applied.files``, which the
caller deletes from the store once it has committed (before, a rollback would keep rows whose
files are gone).

The decision actions re-check the account and the organization first (``recheck``), and lock
them, so these functions find them as the event needs them.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

import ckan.model as model

from . import account, config, signature_store
from .model import Document, OutboxMessage, Request, Token


@dataclasses.dataclass
class Applied:
    """What one transition did: the details its audit event records, and the stored files to
    delete once the caller has committed."""

    details: dict[str, Any]
    files: list[str] = dataclasses.field(default_factory=list)


def _account(req: Request) -> model.User:
    user = model.Session.get(model.User, req.user_id)
    assert user is not None  # user_id is a foreign key
    return user


def activate_account(req: Request, applied: Applied) -> None:
    """The applicant's pending account becomes active (a verified developer, an approved
    officer)."""
    _account(req).state = "active"


def join_organization(req: Request, applied: Applied) -> None:
    """An approved officer becomes a member of the organization with the role the decision
    gave (``organization_id`` and ``role`` in the details), by default the organization the
    applicant chose and the configured default role. (``dgaaccounts_request_approve`` always
    gives a checked organization, ``recheck.organization``; a request approved without any
    joins none.)"""
    org_id = applied.details.get("organization_id") or req.organization_id
    if not org_id:
        return
    role = applied.details.get("role") or config.default_role()
    applied.details.update(organization_id=org_id, role=role)
    req.organization_id = org_id
    # Written directly, in the decision's transaction: member_create would commit on its own.
    member = model.Session.query(model.Member).filter(
        model.Member.group_id == org_id, model.Member.table_name == "user",
        model.Member.table_id == req.user_id, model.Member.state == "active",
    ).one_or_none()
    if member is None:
        member = model.Member(group=model.Session.get(model.Group, org_id), table_name="user",
                              table_id=req.user_id, state="active")
        model.Session.add(member)
    member.capacity = role


def cancel_account(req: Request, applied: Applied) -> None:
    """The account is deleted the CKAN way, signed out, without API tokens or memberships."""
    applied.details.update(account.cancel(_account(req)))


def suspend_account(req: Request, applied: Applied) -> None:
    """The account is blocked (signed out, without API tokens) until a sysadmin reactivates
    it."""
    applied.details.update(account.suspend(_account(req)))


def close_pending_account(req: Request, applied: Applied) -> None:
    """A refused or withdrawn applicant keeps no account: the pending account is deleted (the
    row stays for the request and the audit trail), so the email can be used again."""
    user = model.Session.get(model.User, req.user_id)
    if user is not None and user.state == "pending":
        user.state = "deleted"


def remove_registration(req: Request, applied: Applied) -> None:
    """A registration that was never finished goes with its pending account, so that the
    username and the address can be used again; the audit trail keeps the registration and,
    in the details of this event, its reference."""
    applied.details.setdefault("reference", req.reference)
    documents = select(Document.id).where(Document.request_id == req.id)
    applied.files += [key for (key,) in model.Session.query(Document.storage_key).filter(
        Document.request_id == req.id)]
    for table in (signature_store.Signature, signature_store.SignatureCheck):
        model.Session.query(table).filter(table.document_id.in_(documents)).delete(
            synchronize_session=False)
    for child in (Token, Document, OutboxMessage):
        model.Session.query(child).filter(child.request_id == req.id).delete(
            synchronize_session=False)
    user = model.Session.get(model.User, req.user_id)
    model.Session.delete(req)
    model.Session.flush()
    if user is not None and user.state == "pending":
        model.Session.delete(user)
        model.Session.flush()


Effect = Callable[[Request, Applied], None]

# The names that ``workflow.Event.effects`` may use.
EFFECTS: dict[str, Effect] = {
    "activate_account": activate_account,
    "join_organization": join_organization,
    "cancel_account": cancel_account,
    "suspend_account": suspend_account,
    "close_pending_account": close_pending_account,
    "remove_registration": remove_registration,
}
