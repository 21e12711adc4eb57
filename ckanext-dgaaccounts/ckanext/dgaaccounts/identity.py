"""Identity links: which CKAN account a provider's identity (issuer + ``sub``) signs in to.

Never matched by email. The citizen id (ThaID's ``pid``) is kept only as a keyed hash
(:func:`pid_hmac`). Linking and unlinking are audited; everything joins the caller's
transaction.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import uuid
from typing import Any, Final, TypeGuard

from sqlalchemy import DateTime, ForeignKey, Text, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.types import Context

from .model import BaseModel, mapped_column, utcnow


class IdentityLink(BaseModel):
    """One provider identity linked to one CKAN account (table from migration 0007)."""

    __tablename__ = "dgaaccounts_identity_link"

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=lambda: str(uuid.uuid4()))
    user_id: Mapped[str] = mapped_column(Text, ForeignKey("user.id"), nullable=False, index=True)
    provider: Mapped[str] = mapped_column(Text, nullable=False)
    issuer: Mapped[str] = mapped_column(Text, nullable=False)
    sub: Mapped[str] = mapped_column(Text, nullable=False)
    pid_hmac: Mapped[str | None] = mapped_column(Text, index=True)
    linked: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    linked_by: Mapped[str | None] = mapped_column(Text)
    last_used: Mapped[datetime.datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        UniqueConstraint("issuer", "sub", name="dgaaccounts_identity_link_issuer_sub_key"),
        UniqueConstraint("user_id", "issuer", name="dgaaccounts_identity_link_user_issuer_key"),
    )

    def as_dict(self) -> dict[str, Any]:
        def iso(value: Any) -> str | None:
            return value.isoformat() if value else None

        return {"id": self.id, "user_id": self.user_id, "provider": self.provider,
                "issuer": self.issuer, "linked": iso(self.linked),
                "linked_by": self.linked_by, "last_used": iso(self.last_used)}


def pid_hmac(pid: str | None) -> str | None:
    """HMAC-SHA256 of a citizen id with ``ckanext.dgaaccounts.identity_hmac_secret``.

    Without a configured secret nothing is kept (None): an unkeyed hash of a 13-digit number
    is as good as the number itself.
    """
    secret = tk.config.get("ckanext.dgaaccounts.identity_hmac_secret") or ""
    digits = "".join(ch for ch in str(pid or "") if ch.isdigit())
    if not secret or not digits:
        return None
    return hmac.new(secret.encode("utf-8"), digits.encode("ascii"), hashlib.sha256).hexdigest()


NAMES_SEPARATOR: Final = " / "  # a verified full name: "ไทย / English"


def joined_names(*names: Any) -> str:
    """The full name of a verified identity: its Thai and English names, joined."""
    return NAMES_SEPARATOR.join(str(n) for n in names if n)


def names_of(fullname: str) -> tuple[str, ...]:
    """Each name a verified full name (:func:`joined_names`) stands for, and itself."""
    parts = [p.strip() for p in fullname.split(NAMES_SEPARATOR) if p.strip()]
    return tuple(dict.fromkeys([fullname, *parts]))


def find(issuer: str, sub: str) -> IdentityLink | None:
    return model.Session.query(IdentityLink).filter(
        IdentityLink.issuer == issuer, IdentityLink.sub == sub).one_or_none()


def of_user(user_id: str) -> list[IdentityLink]:
    return model.Session.query(IdentityLink).filter(
        IdentityLink.user_id == user_id).order_by(IdentityLink.linked).all()


def link(user: model.User, provider: str, issuer: str, sub: str, pid: str | None,
         actor_id: str | None, *, digest: str | None = None) -> IdentityLink:
    """Link ``issuer``/``sub`` to ``user`` (``pid``: the citizen id, or ``digest``: its
    :func:`pid_hmac`). Raises ValidationError when the identity is linked to any account
    already, or the user has another identity of that issuer."""
    if find(issuer, sub) is not None:
        raise tk.ValidationError({"identity": [tk._(
            "This identity is already linked to an account on this portal.")]})
    if any(existing.issuer == issuer for existing in of_user(user.id)):
        raise tk.ValidationError({"identity": [tk._(
            "Your account is already linked to an identity of this provider. Unlink it first.")]})
    row = IdentityLink(user_id=user.id, provider=provider, issuer=issuer, sub=sub,
                       pid_hmac=digest or pid_hmac(pid), linked_by=actor_id)
    model.Session.add(row)
    try:
        model.Session.flush()
    except IntegrityError as exc:  # linked at the same moment by another request
        model.Session.rollback()
        raise tk.ValidationError({"identity": [tk._(
            "This identity is already linked to an account on this portal.")]}) from exc
    _audit("identity_linked", actor_id, user.id, row)
    return row


def signed_in(row: IdentityLink) -> None:
    """A sign-in through the link's provider: its last use and the audit trail, committed."""
    row.last_used = utcnow()
    _audit("oidc_sign_in", row.user_id, row.user_id, row)
    model.Session.commit()


def sign_in_refused(provider: str, reason: str, purpose: str, actor_id: str | None,
                    user_id: str | None) -> None:
    """A provider sign-in or link refused (``reason``: a code, never the token or the claims):
    nothing of the attempt is kept but the audit trail's record of it."""
    from . import workflow

    model.Session.rollback()
    workflow.audit("oidc_refused", actor_id, target_user_id=user_id,
                   details={"provider": provider, "reason": reason, "purpose": purpose})
    model.Session.commit()


def no_account(provider: str, issuer: str) -> None:
    """A verified identity that no account is linked to (audited, then it may register)."""
    from . import workflow

    workflow.audit("oidc_no_account", None, details={"provider": provider, "issuer": issuer})
    model.Session.commit()


def _audit(action: str, actor_id: str | None, user_id: str, row: IdentityLink) -> None:
    from . import workflow

    workflow.audit(action, actor_id, target_user_id=user_id,
                   details={"provider": row.provider, "issuer": row.issuer})


# -- a verified identity handed to an action ----------------------------------------------------

CONTEXT_KEY: Final = "dgaaccounts_verified_identity"


def handing(context: Context, verified: Verified) -> Context:
    """``context`` that hands ``verified`` to the action (:func:`verified_from`)."""
    # (the extension's own key: CKAN's Context type lists only core keys)
    return {**context, CONTEXT_KEY: verified}  # type: ignore[typeddict-unknown-key]


@dataclasses.dataclass(frozen=True)
class Verified:
    """An identity a provider has just verified, handed by the provider sign-in's views to an
    action through the action's context (``CONTEXT_KEY``), never through its data: an API
    caller cannot set it, so over the API these actions behave as without an identity.

    ``record`` is what a request made from it keeps (``details.identity``: provider, issuer,
    titles, assurance level, the fields that came verified); never the ``sub`` or the citizen
    id. ``email`` is the address only when the provider asserted it verified."""

    provider: str
    issuer: str
    sub: str
    pid_hmac: str | None = None
    record: dict[str, Any] = dataclasses.field(default_factory=dict)
    email: str | None = None


def verified_from(context: Any) -> Verified | None:
    found = context.get(CONTEXT_KEY) if isinstance(context, dict) else None
    return found if isinstance(found, Verified) else None


def email_confirmed_by(verified: Verified | None, email: str | None) -> TypeGuard[Verified]:
    """Whether the provider asserted ``email`` (as the account will have it) verified."""
    return bool(verified is not None and verified.email and email
                and verified.email.strip().lower() == email.strip().lower())


def link_verified(user: model.User, verified: Verified, actor_id: str | None) -> IdentityLink:
    """:func:`link` for a :class:`Verified` identity (its citizen id already a digest)."""
    return link(user, verified.provider, verified.issuer, verified.sub, None, actor_id,
                digest=verified.pid_hmac)


def unlink_row(row: IdentityLink, actor_id: str | None) -> None:
    """Remove one link (audited), whoever's it is: the caller has checked who may."""
    _audit("identity_unlinked", actor_id, row.user_id, row)
    model.Session.delete(row)


def get(link_id: str) -> IdentityLink | None:
    return model.Session.get(IdentityLink, link_id)


ORG_EXTRA = "dgaaccounts_organization_id"  # the organization field sysadmins set


def organization_for(organization_id: str | None) -> str | None:
    """The name of the active organization whose ``dgaaccounts_organization_id`` extra is
    ``organization_id`` (DGA Digital ID's agency number), or None."""
    if not organization_id:
        return None
    query = model.Session.query(model.Group.name).filter(
        model.Group.state == "active", model.Group.is_organization.is_(True))
    extra = getattr(model, "GroupExtra", None)
    if extra is not None:  # CKAN 2.11: extras are rows of their own table
        query = query.join(extra, extra.group_id == model.Group.id).filter(
            extra.key == ORG_EXTRA, extra.value == str(organization_id), extra.state == "active")
    else:  # CKAN 2.12: extras are a JSONB column of the group
        # (the table's column: CKAN 2.12 maps Group.extras without a type)
        query = query.filter(
            model.group_table.c.extras[ORG_EXTRA].astext == str(organization_id))
    row = query.first()
    return row[0] if row else None
