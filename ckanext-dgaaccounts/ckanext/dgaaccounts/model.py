"""Tables of the extension. Created by alembic migrations (ckan db upgrade -p dgaaccounts)."""
from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy.orm
from sqlalchemy import (
    BigInteger, Column, DateTime, ForeignKey, Integer, Text, Index, Table,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped

from ckan.plugins import toolkit as tk

# Tables are declared the SQLAlchemy 2.0 way, ``name: Mapped[T] = mapped_column(...)``, so that
# the type checker (run on CKAN 2.12, SQLAlchemy 2.0) sees T on a row and a column expression
# on the class. SQLAlchemy 1.4 (CKAN 2.11) has no mapped_column: there it is Column, which
# takes the same arguments, and declarative reads the Column, never the annotation. On 2.0 an
# annotation without "| None" makes a column NOT NULL: each one says what its column says.
if TYPE_CHECKING:
    from sqlalchemy.orm import DeclarativeBase, mapped_column as mapped_column

    class BaseModel(DeclarativeBase):
        """``tk.BaseModel`` as the type checker should see it: SQLAlchemy types the
        ``registry.generate_base()`` CKAN makes it with as Any."""

        __table__: ClassVar[Table]  # every model here declares its table
else:
    BaseModel = tk.BaseModel
    mapped_column = getattr(sqlalchemy.orm, "mapped_column", Column)


def _uuid() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime.datetime:
    """Naive UTC, as CKAN stores its own timestamps."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class Request(BaseModel):
    """One workflow instance: a registration, a cancellation or a suspension."""

    __tablename__ = "dgaaccounts_request"

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=_uuid)
    reference: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(Text, nullable=False)
    user_id: Mapped[str] = mapped_column(Text, ForeignKey("user.id"), nullable=False, index=True)
    # canonical (lower-cased) address of the applicant
    email: Mapped[str] = mapped_column(Text, nullable=False)
    organization_id: Mapped[str | None] = mapped_column(Text, ForeignKey("group.id"), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    locale: Mapped[str] = mapped_column(Text, nullable=False, default="th")
    created: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    verified: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    submitted: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    due: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    decided: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    decided_by: Mapped[str | None] = mapped_column(Text, ForeignKey("user.id"))
    decision_note: Mapped[str | None] = mapped_column(Text)
    # The agency's answer in the "endorse" approval mode (approval.py, migration 0009).
    endorsement: Mapped[str | None] = mapped_column(Text)  # endorsed, declined or None
    endorsed: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    endorsed_by: Mapped[str | None] = mapped_column(Text, ForeignKey("user.id"))
    endorsement_note: Mapped[str | None] = mapped_column(Text)

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


class Document(BaseModel):
    """An uploaded scan of a signed form. The file itself lives in private storage."""

    __tablename__ = "dgaaccounts_document"

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=_uuid)
    request_id: Mapped[str] = mapped_column(
        Text, ForeignKey("dgaaccounts_request.id"), nullable=False, index=True)
    original_name: Mapped[str] = mapped_column(Text, nullable=False)
    mimetype: Mapped[str] = mapped_column(Text, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(Text, nullable=False)
    storage_key: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    uploaded: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    uploaded_by: Mapped[str | None] = mapped_column(Text)
    purged: Mapped[datetime.datetime | None] = mapped_column(DateTime)

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


class AuditEvent(BaseModel):
    """Append-only record of every state change (the table refuses UPDATE and DELETE)."""

    __tablename__ = "dgaaccounts_audit"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    created: Mapped[datetime.datetime] = mapped_column(
        DateTime, nullable=False, default=utcnow, index=True)
    actor_id: Mapped[str | None] = mapped_column(Text, index=True)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    request_id: Mapped[str | None] = mapped_column(Text, index=True)
    target_user_id: Mapped[str | None] = mapped_column(Text, index=True)
    from_state: Mapped[str | None] = mapped_column(Text)
    to_state: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    client_addr: Mapped[str | None] = mapped_column(Text)

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


class Token(BaseModel):
    """A link token sent by email. Only its sha256 is stored."""

    __tablename__ = "dgaaccounts_token"

    token_hash: Mapped[str] = mapped_column(Text, primary_key=True)
    # "verify" (single use) or "applicant"
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    request_id: Mapped[str] = mapped_column(
        Text, ForeignKey("dgaaccounts_request.id"), nullable=False, index=True)
    created: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    expires: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False)
    used: Mapped[datetime.datetime | None] = mapped_column(DateTime)


class OutboxMessage(BaseModel):
    """An email to send, written in the transaction of the change that causes it."""

    __tablename__ = "dgaaccounts_outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    created: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    request_id: Mapped[str | None] = mapped_column(Text, index=True)
    recipient: Mapped[str] = mapped_column(Text, nullable=False)
    recipient_name: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(Text, nullable=False, default="th")
    template: Mapped[str] = mapped_column(Text, nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    # Secrets are minted at delivery time, so no link token ever rests in this table.
    mint: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text, nullable=False, default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt: Mapped[datetime.datetime] = mapped_column(
        DateTime, nullable=False, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent: Mapped[datetime.datetime | None] = mapped_column(DateTime)


class Escalation(BaseModel):
    """A request escalated to the sysadmins (escalation.py): once per request and submission."""

    __tablename__ = "dgaaccounts_escalation"

    request_id: Mapped[str] = mapped_column(
        Text, ForeignKey("dgaaccounts_request.id", ondelete="CASCADE"), primary_key=True)
    # the submission it belongs to
    clock_start: Mapped[datetime.datetime] = mapped_column(DateTime, primary_key=True)
    # when it became due for escalation
    threshold: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False)
    escalated: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)  # "threshold" or "no_admin"
    organization_id: Mapped[str | None] = mapped_column(Text)


class ApprovalMode(BaseModel):
    """The approval mode a sysadmin set for an organization (approval.py); an organization
    without a row follows ``ckanext.dgaaccounts.approval_mode_default``."""

    __tablename__ = "dgaaccounts_approval_mode"

    organization_id: Mapped[str] = mapped_column(
        Text, ForeignKey("group.id", ondelete="CASCADE"), primary_key=True)
    mode: Mapped[str] = mapped_column(Text, nullable=False)  # central, endorse or delegated
    updated: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(Text, ForeignKey("user.id"))
