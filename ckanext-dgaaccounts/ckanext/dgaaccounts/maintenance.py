"""Housekeeping run by ``ckan dgaaccounts expire`` (from cron)."""
from __future__ import annotations

import datetime

import ckan.model as model

from . import config, storage, workflow
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
