"""Signature results in the database, and the hook that checks an upload (signatures.py).

``check_upload`` runs in the upload's own transaction, after the document row is added: it
verifies the stored file's signatures, applies ``signature_policy`` (raising a ValidationError
the caller rolls back) and writes one result row per signature; the caller puts
``audit_details`` of the result into the upload's audit event. The stored file is never
changed.
"""
from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import Boolean, BigInteger, DateTime, ForeignKey, Integer, Text, Index
from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Mapped

import ckan.model as model
from ckan.plugins import toolkit as tk

from . import identity, signatures, states, storage
from .model import BaseModel, Document, Request, mapped_column, utcnow


class SignatureCheck(BaseModel):
    """The verification of one uploaded document."""

    __tablename__ = "dgaaccounts_signature_check"

    document_id: Mapped[str] = mapped_column(
        Text, ForeignKey("dgaaccounts_document.id"), primary_key=True)
    request_id: Mapped[str] = mapped_column(
        Text, ForeignKey("dgaaccounts_request.id"), nullable=False)
    form: Mapped[str] = mapped_column(Text, nullable=False)
    verified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    signature_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    checked: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    __table_args__ = (
        Index("dgaaccounts_signature_check_request_idx", "request_id", "verified"),
    )


class Signature(BaseModel):
    """One signature (or empty signature field) of a document, as verified."""

    __tablename__ = "dgaaccounts_signature"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(
        Text, ForeignKey("dgaaccounts_document.id"), nullable=False, index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    field: Mapped[str] = mapped_column(Text, nullable=False)
    signer_subject: Mapped[str | None] = mapped_column(Text)
    signer_name: Mapped[str | None] = mapped_column(Text)
    issuer: Mapped[str | None] = mapped_column(Text)
    serial: Mapped[str | None] = mapped_column(Text)
    # as claimed by the signer
    signing_time: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    # of the RFC 3161 signature timestamp, if any
    timestamp_time: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    timestamp_authority: Mapped[str | None] = mapped_column(Text)
    # signatures.TIMESTAMP_STATES, NULL without a timestamp
    timestamp_status: Mapped[str | None] = mapped_column(Text)
    # the time the certificates were judged at
    validity_time: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    # signatures.TIME_SOURCES (NULL: checked before 0009)
    time_source: Mapped[str | None] = mapped_column(Text)
    intact: Mapped[bool] = mapped_column(Boolean, nullable=False)
    trusted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    valid: Mapped[bool] = mapped_column(Boolean, nullable=False)
    modification_level: Mapped[str | None] = mapped_column(Text)
    matched: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    checked: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field, "signer_subject": self.signer_subject,
            "signer_name": self.signer_name, "issuer": self.issuer, "serial": self.serial,
            "signing_time": _iso(self.signing_time),
            "timestamp_time": _iso(self.timestamp_time),
            "timestamp_authority": self.timestamp_authority,
            "timestamp_status": self.timestamp_status,
            "validity_time": _iso(self.validity_time), "time_source": self.time_source,
            "intact": self.intact, "trusted": self.trusted, "valid": self.valid,
            "modification_level": self.modification_level, "matched": self.matched,
            "reason": self.reason, "checked": self.checked.isoformat(),
        }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


# -- the hook -------------------------------------------------------------------------------

def expected_for(req: Request) -> signatures.Expected:
    """Who must sign the form of ``req``: the applicant, and the superior named on it."""
    details = dict(req.details or {})
    if req.kind == states.AGENCY:
        superior = details.get("superior_name")
    else:
        officer = model.Session.query(Request).filter(
            Request.user_id == req.user_id, Request.kind == states.AGENCY,
            Request.state == states.APPROVED).order_by(Request.decided.desc()).first()
        superior = (officer.details or {}).get("superior_name") if officer else None
    return signatures.Expected(
        request_id=req.id,
        applicant_names=_applicant_names(req.user_id),
        superior_names=(superior,) if superior else (),
        superior_required=bool(superior),
        issued_after=req.created,
    )


def _applicant_names(user_id: str) -> tuple[str, ...]:
    """The applicant's full name; one an identity provider verified at the registration
    ("ไทย / English") stands for each of its names too."""
    user = model.User.get(user_id)
    if user is None or not user.fullname:
        return ()
    registrations = model.Session.query(Request.details).filter(
        Request.user_id == user_id, Request.kind.in_(states.REGISTRATIONS))
    if any("fullname" in (((details or {}).get("identity") or {}).get("verified") or ())
           for (details,) in registrations):
        return identity.names_of(user.fullname)
    return (user.fullname,)


def check_upload(req: Request, doc: Document) -> signatures.DocumentResult:
    """Verify the just-stored ``doc`` of ``req``; refuse it (ValidationError on
    ``signed_form``) where the policy or the limits say so; record the result."""
    if doc.mimetype != "application/pdf":
        result = signatures.DocumentResult([], "not_pdf")
    else:
        with storage.get_store().open(doc.storage_key) as f:
            result = signatures.verify(f.read(), expected_for(req))
    _enforce(result)
    _record(req, doc, result)
    return result


def audit_details(result: signatures.DocumentResult) -> dict[str, Any]:
    """The verification, as the upload's audit event records it."""
    return {"form": result.form, "verified": result.verified,
            # no names: the audit trail is append-only, and outlives a scrubbed account
            "signatures": [{"field": s.field, "serial": s.serial, "matched": s.matched,
                            "reason": s.reason, "time_source": s.time_source,
                            "timestamp": s.timestamp_status}
                           for s in result.signatures]}


def _enforce(result: signatures.DocumentResult) -> None:
    if result.form == "too_many_signatures":
        raise tk.ValidationError({"signed_form": [tk._(
            "The PDF carries more than %(limit)s signature fields or signatures."
        ) % {"limit": signatures.max_signatures()}]})
    if signatures.policy() == "digital_required" and not result.signed:
        raise tk.ValidationError({"signed_form": [tk._(
            "Upload the form signed digitally (PDF with digital signatures): a scan or an"
            " unsigned PDF is not accepted.")]})


def _record(req: Request, doc: Document, result: signatures.DocumentResult) -> None:
    now = utcnow()
    model.Session.add(SignatureCheck(
        document_id=doc.id, request_id=req.id, form=result.form, verified=result.verified,
        signature_count=sum(1 for s in result.signatures if s.signer_subject), checked=now))
    for position, sig in enumerate(result.signatures):
        model.Session.add(Signature(
            document_id=doc.id, position=position, field=sig.field,
            signer_subject=sig.signer_subject, signer_name=sig.signer_name,
            issuer=sig.issuer, serial=sig.serial, signing_time=sig.signing_time,
            timestamp_time=sig.timestamp_time, timestamp_authority=sig.timestamp_authority,
            timestamp_status=sig.timestamp_status, validity_time=sig.validity_time,
            time_source=sig.time_source or None, intact=sig.intact, trusted=sig.trusted,
            valid=sig.valid,
            modification_level=sig.modification_level, matched=sig.matched,
            reason=sig.reason, checked=now))
    model.Session.flush()


def scrub_request(request_id: str) -> None:
    """Erase the signers' names and subjects of a request's documents (``ckan dgaaccounts
    scrub``); the issuer, serial, times and results stay."""
    documents = select(Document.id).where(Document.request_id == request_id)
    model.Session.query(Signature).filter(Signature.document_id.in_(documents)).update(
        {Signature.signer_subject: None, Signature.signer_name: None},
        synchronize_session=False)


# -- reading --------------------------------------------------------------------------------

def with_signatures(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each document dict gains ``signatures`` (a list) and ``signature_check`` (or None)."""
    ids = [d["id"] for d in documents]
    checks = {c.document_id: c for c in model.Session.query(SignatureCheck).filter(
        SignatureCheck.document_id.in_(ids))} if ids else {}
    rows: dict[str, list[dict[str, Any]]] = {}
    if ids:
        for sig in model.Session.query(Signature).filter(
                Signature.document_id.in_(ids)).order_by(Signature.position):
            rows.setdefault(sig.document_id, []).append(sig.as_dict())
    for doc in documents:
        check = checks.get(doc["id"])
        doc["signatures"] = rows.get(doc["id"], [])
        doc["signature_check"] = None if check is None else {
            "form": check.form, "verified": check.verified,
            "signature_count": check.signature_count, "checked": check.checked.isoformat()}
    return documents


def verified_condition(entity: Any) -> Any:
    """SQL: the latest document of the request carries verified signatures."""
    latest = (select(Document.id).where(Document.request_id == entity.id)
              .order_by(Document.uploaded.desc()).limit(1).scalar_subquery())
    return exists().where(and_(SignatureCheck.request_id == entity.id,
                               SignatureCheck.verified.is_(True),
                               SignatureCheck.document_id == latest))


def verified_request_ids(request_ids: list[str]) -> set[str]:
    """Which of these requests' latest documents carry verified signatures."""
    if not request_ids:
        return set()
    rows = model.Session.query(Request.id).filter(
        Request.id.in_(request_ids), verified_condition(Request))
    return {r[0] for r in rows}
