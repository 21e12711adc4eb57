"""Reminders to the sysadmins about requests awaiting their decision (``ckan dgaaccounts remind``).

Two thresholds: **due soon** (due within ``reminder_due_soon_hours``) and **overdue** (past the
due time). Each request is reminded at most once per threshold and submission: the reminder is
recorded as an audit event (``reminder_due_soon``, ``reminder_overdue``) in the transaction that
queues the emails, and a request with such an event since its (last) submission is skipped. A
corrected resubmission starts a new service clock, and so its own reminders.

Developer sign-ups are left out: no sysadmin decides them. Each sysadmin receives one email per
run, listing every request reminded in it.
"""
from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import and_, exists

import ckan.model as model

from . import config, mail, workflow
from .model import AuditEvent, Request, utcnow

DUE_SOON = "reminder_due_soon"
OVERDUE = "reminder_overdue"
_DECIDED_BY_SYSADMINS = tuple(k for k in workflow.KINDS if k != workflow.DEVELOPER)


def _pending(action: str, condition: Any) -> list[Request]:
    already = exists().where(
        AuditEvent.request_id == Request.id,
        AuditEvent.action == action,
        AuditEvent.created >= Request.submitted,
    )
    return (
        model.Session.query(Request)
        .filter(Request.state == workflow.SUBMITTED, Request.kind.in_(_DECIDED_BY_SYSADMINS),
                Request.due.isnot(None), condition, ~already)
        .order_by(Request.due, Request.id)
        # Two runs at once: a row locked by the other run is its to remind.
        .with_for_update(skip_locked=True, of=Request)
        .all()
    )


def due(now: datetime.datetime | None = None) -> dict[str, list[Request]]:
    """The requests to remind now, by threshold (locks their rows until the commit)."""
    now = now or utcnow()
    soon = now + config.reminder_due_soon()
    return {
        OVERDUE: _pending(OVERDUE, Request.due <= now),
        DUE_SOON: _pending(DUE_SOON, and_(Request.due > now, Request.due <= soon)),
    }


def _due(req: Request) -> str:
    assert req.due is not None  # due() finds requests by their due time
    return req.due.isoformat()


def _item(req: Request) -> dict[str, Any]:
    user = model.Session.get(model.User, req.user_id)
    return {
        "id": req.id, "reference": req.reference, "kind": req.kind,
        "username": user.name if user is not None else "",
        "due": _due(req),  # written for each reader in the email (mail "when")
    }


def send(now: datetime.datetime | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Queue one reminder email per active sysadmin listing the requests due soon and overdue,
    and record each reminder. Returns ``overdue`` and ``due_soon`` (the requests, as listed in
    the email) and ``emails`` (how many were queued; none with ``dry_run``)."""
    found = due(now)
    listed = {
        "overdue": [_item(r) for r in found[OVERDUE]],
        "due_soon": [_item(r) for r in found[DUE_SOON]],
    }
    admins = [(a, a.email) for a in model.Session.query(model.User).filter(
        model.User.sysadmin.is_(True), model.User.state == "active") if a.email]
    if dry_run or not (found[OVERDUE] or found[DUE_SOON]) or not admins:
        model.Session.rollback()
        return dict(listed, emails=0)
    for admin, address in admins:
        mail.queue(None, "reminder", address, recipient_name=admin.fullname or admin.name,
                   locale=mail.user_locale(admin), params=listed)
    for action, requests in found.items():
        for req in requests:
            workflow.audit(action, None, req, details={
                "due": _due(req), "recipients": len(admins)})
    model.Session.commit()
    mail.dispatch()
    return dict(listed, emails=len(admins))
