"""Housekeeping run by ``ckan dgaaccounts expire`` (from cron)."""
from __future__ import annotations

import datetime

import ckan.model as model

from . import account, config, storage, workflow
from .model import Document, OutboxMessage, Request, Token, utcnow

def expire_unverified(now: datetime.datetime | None = None) -> int:
    """Expire registrations whose email was never confirmed in time, and remove their pending
    accounts, so that the username and the address can be used again. The audit trail keeps
    the registration and its expiry. Returns how many were expired."""
    cutoff = (now or utcnow()) - config.verification_lifetime()
    stale = model.Session.query(Request).filter(
        Request.state == workflow.AWAITING_VERIFICATION,
        Request.kind.in_((workflow.AGENCY, workflow.DEVELOPER)),
        Request.created < cutoff,
    ).all()
    store = storage.get_store()
    for req in stale:
        workflow.transition(req, "expire", None, details={"reference": req.reference})
        keys = _remove_request(req)
        model.Session.commit()
        for key in keys:  # only once no row points to them
            store.delete(key)
    return len(stale)


def _remove_request(req: Request) -> list[str]:
    keys = [d.storage_key for d in model.Session.query(Document).filter(
        Document.request_id == req.id)]
    for table in (Token, Document, OutboxMessage):
        model.Session.query(table).filter(table.request_id == req.id).delete(
            synchronize_session=False)
    user = model.Session.get(model.User, req.user_id)
    model.Session.delete(req)
    model.Session.flush()
    if user is not None and user.state == "pending":
        model.Session.delete(user)
    model.Session.flush()
    return keys


def scrub_cancelled(now: datetime.datetime | None = None) -> int:
    """Erase the personal details of accounts cancelled longer ago than the retention period.

    The user row stays (CKAN and the audit trail refer to it) without name, email or profile;
    the requests keep their kind, states and dates. Returns how many accounts were scrubbed.
    """
    cutoff = (now or utcnow()) - config.cancelled_retention()
    rows = model.Session.query(model.User).join(Request, Request.user_id == model.User.id).filter(
        Request.kind == workflow.CANCELLATION, Request.state == workflow.APPROVED,
        Request.decided < cutoff, model.User.state == "deleted",
    ).distinct().all()
    count = 0
    for user in rows:
        if account.is_scrubbed(user):
            continue
        account.scrub(user)
        for req in model.Session.query(Request).filter(Request.user_id == user.id):
            req.email = ""
            req.details = {k: v for k, v in (req.details or {}).items() if k in _KEPT_DETAILS}
        workflow.audit("scrub", None, target_user_id=user.id)
        model.Session.commit()
        count += 1
    return count


# Not personal: what the request was about, never who.
_KEPT_DETAILS = ("memberships",)
