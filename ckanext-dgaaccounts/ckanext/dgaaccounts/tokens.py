"""Link tokens sent by email. Only a sha256 of each token is stored."""
from __future__ import annotations

import hashlib
import secrets

import ckan.model as model

from . import config
from .model import Request, Token, utcnow

VERIFY = "verify"
APPLICANT = "applicant"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def mint(req: Request, purpose: str) -> str:
    """Create a token for ``req`` in the current transaction and return it (never stored)."""
    token = secrets.token_urlsafe(32)
    lifetime = (
        config.verification_lifetime() if purpose == VERIFY else config.applicant_link_lifetime()
    )
    now = utcnow()
    if purpose == VERIFY:
        # Only the newest verification link works: a resend retires the older ones.
        model.Session.query(Token).filter(
            Token.request_id == req.id, Token.purpose == VERIFY, Token.used.is_(None)
        ).update({"used": now}, synchronize_session=False)
    model.Session.add(
        Token(token_hash=_hash(token), purpose=purpose, request_id=req.id, created=now,
              expires=now + lifetime)
    )
    return token


def find(token: str, purpose: str, *, lock: bool = False) -> Token | None:
    """The unexpired, unused token row for ``token``, or None."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None  # JSON callers can send any type: a non-string token is no token
    query = model.Session.query(Token).filter(
        Token.token_hash == _hash(token),
        Token.purpose == purpose,
        Token.expires > utcnow(),
    )
    if purpose == VERIFY:
        query = query.filter(Token.used.is_(None))
    if lock:
        query = query.with_for_update()
    return query.one_or_none()


def applicant_may_access(token: str | None, request_id: str) -> bool:
    row = find(token or "", APPLICANT)
    return row is not None and row.request_id == request_id
