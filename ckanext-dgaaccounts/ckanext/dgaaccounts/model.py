"""Tables of the extension. Created by alembic migrations (ckan db upgrade -p dgaaccounts)."""
from __future__ import annotations

import datetime
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger, Column, DateTime, ForeignKey, Integer, Text, Index,
)
from sqlalchemy.dialects.postgresql import JSONB

from ckan.plugins import toolkit as tk


def _uuid() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime.datetime:
    """Naive UTC, as CKAN stores its own timestamps."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class Request(tk.BaseModel):
    """One workflow instance: a registration, a cancellation or a suspension."""

    __tablename__ = "dgaaccounts_request"

    id = Column(Text, primary_key=True, default=_uuid)
    reference = Column(Text, nullable=False, unique=True)
    kind = Column(Text, nullable=False)
    state = Column(Text, nullable=False)
    user_id = Column(Text, ForeignKey("user.id"), nullable=False, index=True)
    email = Column(Text, nullable=False)  # canonical (lower-cased) address of the applicant
    organization_id = Column(Text, ForeignKey("group.id"), nullable=True)
    details = Column(JSONB, nullable=False, default=dict)
    locale = Column(Text, nullable=False, default="th")
    created = Column(DateTime, nullable=False, default=utcnow)
    updated = Column(DateTime, nullable=False, default=utcnow)
    verified = Column(DateTime)
    submitted = Column(DateTime)
    due = Column(DateTime)
    decided = Column(DateTime)
    decided_by = Column(Text, ForeignKey("user.id"))
    decision_note = Column(Text)
    # The agency's answer in the "endorse" approval mode (approval.py, migration 0009).
    endorsement = Column(Text)  # endorsed, declined or None
    endorsed = Column(DateTime)
    endorsed_by = Column(Text, ForeignKey("user.id"))
    endorsement_note = Column(Text)

    __table_args__ = (
        Index("dgaaccounts_request_queue_idx", "due", "created"),
        Index("dgaaccounts_request_state_idx", "state", "kind"),
        Index("dgaaccounts_request_email_idx", "email"),
        # Report, exports and retention (migration 0003).
        Index("dgaaccounts_request_created_idx", "created"),
        Index("dgaaccounts_request_submitted_idx", "submitted"),
        Index("dgaaccounts_request_decided_idx", "decided"),
        # An organization's queue (migration 0009).
        Index("dgaaccounts_request_org_queue_idx", "organization_id", "due", "created"),
    )

    def as_dict(self) -> dict[str, Any]:
        def iso(value: datetime.datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "reference": self.reference,
            "kind": self.kind,
            "state": self.state,
            "user_id": self.user_id,
            "email": self.email,
            "organization_id": self.organization_id,
            "details": dict(self.details or {}),
            "locale": self.locale,
            "created": iso(self.created),
            "updated": iso(self.updated),
            "verified": iso(self.verified),
            "submitted": iso(self.submitted),
            "due": iso(self.due),
            "decided": iso(self.decided),
            "decided_by": self.decided_by,
            "decision_note": self.decision_note,
            "endorsement": self.endorsement,
            "endorsed": iso(self.endorsed),
            "endorsed_by": self.endorsed_by,
            "endorsement_note": self.endorsement_note,
        }


class Document(tk.BaseModel):
    """An uploaded scan of a signed form. The file itself lives in private storage."""

    __tablename__ = "dgaaccounts_document"

    id = Column(Text, primary_key=True, default=_uuid)
    request_id = Column(Text, ForeignKey("dgaaccounts_request.id"), nullable=False, index=True)
    original_name = Column(Text, nullable=False)
    mimetype = Column(Text, nullable=False)
    size = Column(BigInteger, nullable=False)
    sha256 = Column(Text, nullable=False)
    storage_key = Column(Text, nullable=False, unique=True)
    uploaded = Column(DateTime, nullable=False, default=utcnow)
    uploaded_by = Column(Text)
    purged = Column(DateTime)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request_id": self.request_id,
            "original_name": self.original_name,
            "mimetype": self.mimetype,
            "size": self.size,
            "sha256": self.sha256,
            "uploaded": self.uploaded.isoformat(),
            "purged": self.purged.isoformat() if self.purged else None,
        }


class AuditEvent(tk.BaseModel):
    """Append-only record of every state change (the table refuses UPDATE and DELETE)."""

    __tablename__ = "dgaaccounts_audit"

    id = Column(BigInteger, primary_key=True, autoincrement=True)
    created = Column(DateTime, nullable=False, default=utcnow, index=True)
    actor_id = Column(Text, index=True)
    action = Column(Text, nullable=False)
    request_id = Column(Text, index=True)
    target_user_id = Column(Text, index=True)
    from_state = Column(Text)
    to_state = Column(Text)
    details = Column(JSONB, nullable=False, default=dict)
    client_addr = Column(Text)

    __table_args__ = (
        Index("dgaaccounts_audit_request_action_idx", "request_id", "action"),
    )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": self.created.isoformat(),
            "actor_id": self.actor_id,
            "action": self.action,
            "request_id": self.request_id,
            "target_user_id": self.target_user_id,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "details": dict(self.details or {}),
        }


class Token(tk.BaseModel):
    """A link token sent by email. Only its sha256 is stored."""

    __tablename__ = "dgaaccounts_token"

    token_hash = Column(Text, primary_key=True)
    purpose = Column(Text, nullable=False)  # "verify" (single use) or "applicant"
    request_id = Column(Text, ForeignKey("dgaaccounts_request.id"), nullable=False, index=True)
    created = Column(DateTime, nullable=False, default=utcnow)
    expires = Column(DateTime, nullable=False)
    used = Column(DateTime)


class OutboxMessage(tk.BaseModel):
    """An email to send, written in the transaction of the change that causes it."""

    __tablename__ = "dgaaccounts_outbox"

    id = Column(BigInteger, primary_key=True, autoincrement=True)
    created = Column(DateTime, nullable=False, default=utcnow)
    request_id = Column(Text, index=True)
    recipient = Column(Text, nullable=False)
    recipient_name = Column(Text)
    locale = Column(Text, nullable=False, default="th")
    template = Column(Text, nullable=False)
    params = Column(JSONB, nullable=False, default=dict)
    # Secrets are minted at delivery time, so no link token ever rests in this table.
    mint = Column(Text)
    state = Column(Text, nullable=False, default="pending", index=True)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt = Column(DateTime, nullable=False, default=utcnow)
    last_error = Column(Text)
    sent = Column(DateTime)


class Escalation(tk.BaseModel):
    """A request escalated to the sysadmins (escalation.py): once per request and submission."""

    __tablename__ = "dgaaccounts_escalation"

    request_id = Column(Text, ForeignKey("dgaaccounts_request.id", ondelete="CASCADE"),
                        primary_key=True)
    clock_start = Column(DateTime, primary_key=True)  # the submission it belongs to
    threshold = Column(DateTime, nullable=False)  # when it became due for escalation
    escalated = Column(DateTime, nullable=False)
    reason = Column(Text, nullable=False)  # "threshold" or "no_admin"
    organization_id = Column(Text)


class ApprovalMode(tk.BaseModel):
    """The approval mode a sysadmin set for an organization (approval.py); an organization
    without a row follows ``ckanext.dgaaccounts.approval_mode_default``."""

    __tablename__ = "dgaaccounts_approval_mode"

    organization_id = Column(Text, ForeignKey("group.id", ondelete="CASCADE"), primary_key=True)
    mode = Column(Text, nullable=False)  # central, endorse or delegated
    updated = Column(DateTime, nullable=False, default=utcnow)
    updated_by = Column(Text, ForeignKey("user.id"))
