"""Housekeeping run from cron: ``ckan dgaaccounts expire``, ``scrub`` and ``purge``."""
from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import case

import ckan.model as model

from . import account, config, storage, workflow
from . import signature_store
from .model import Document, Request, utcnow

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
        # The event's effect removes the request and its pending account (workflow.TRANSITIONS).
        applied = workflow.transition(req, "expire", None)
        model.Session.commit()
        for key in applied.files:  # only once no row points to them
            store.delete(key)
    return len(stale)


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
            signature_store.scrub_request(req.id)
        workflow.audit("scrub", None, target_user_id=user.id)
        model.Session.commit()
        count += 1
    return count


# Not personal: what the request was about, never who.
_KEPT_DETAILS = ("memberships",)


def documents_to_purge(now: datetime.datetime | None = None) -> list[dict[str, Any]]:
    """The scans kept longer than ``document_retention_days`` after their request was closed
    (approved or rejected: from the decision; withdrawn or expired: from then), oldest first.
    Open requests keep every scan, returned ones included."""
    cutoff = (now or utcnow()) - config.document_retention()
    closed = _closed_at()
    rows = (
        model.Session.query(Document, Request.reference, closed)
        .join(Request, Request.id == Document.request_id)
        .filter(Document.purged.is_(None), Request.state.in_(workflow.CLOSED_STATES),
                closed < cutoff)
        .order_by(closed, Document.uploaded, Document.id)
    )
    return [
        {"document_id": doc.id, "request_id": doc.request_id, "reference": reference,
         "closed": closed_at, "uploaded": doc.uploaded, "size": doc.size,
         "mimetype": doc.mimetype}
        for doc, reference, closed_at in rows
    ]


def purge_documents(now: datetime.datetime | None = None,
                    dry_run: bool = False) -> list[dict[str, Any]]:
    """Delete the files of the scans past their retention period (PDPA: keep personal data no
    longer than needed). The document's row stays, with ``purged`` set, and each deletion is
    audited (``purge_document``). Returns what was (with ``dry_run``: would be) purged.

    The file goes first, then the row is marked and committed: a failure in between leaves a
    row that the next run purges again (deleting a missing file is not an error), never a row
    that claims a file is gone while it is still there.
    """
    due = documents_to_purge(now)
    if dry_run:
        model.Session.rollback()
        return due
    store = storage.get_store()
    done = []
    for item in due:
        doc = model.Session.query(Document).filter(
            Document.id == item["document_id"], Document.purged.is_(None)
        ).with_for_update(skip_locked=True).one_or_none()
        if doc is None:  # purged meanwhile by another run
            model.Session.rollback()
            continue
        store.delete(doc.storage_key)
        doc.purged = utcnow()
        req = model.Session.get(Request, doc.request_id)
        workflow.audit("purge_document", None, req, details={
            "document_id": doc.id, "sha256": doc.sha256, "size": doc.size,
            "retention_days": config.document_retention().days,
        })
        model.Session.commit()
        done.append(item)
    return done


def _closed_at() -> Any:
    # Approved and rejected requests close at their decision; withdrawn and expired ones at
    # their last change (the decided column of those may hold an earlier return).
    return case((Request.state.in_(workflow.DECIDED_STATES), Request.decided),
                else_=Request.updated)
