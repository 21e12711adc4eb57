"""Link tokens sent by email. Only a sha256 of each token is stored."""
from __future__ import annotations

import datetime
import hashlib
import hmac
import logging
import re
import secrets

from sqlalchemy import delete, insert
from sqlalchemy.engine import Row

import ckan.model as model

from . import config
from .model import Request, Token, utcnow

VERIFY = "verify"
APPLICANT = "applicant"
RESET = "password_reset"  # CKAN's own reset key (user.reset_key), checked by CKAN's reset page


def same_secret(given: str, expected: str) -> bool:
    """A secret given by a caller (any text: a forged one may be anything) equals the one
    expected, compared in constant time (``hmac.compare_digest`` refuses non-ASCII text)."""
    return isinstance(given, str) and hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


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


def mint_committed(req: Request, purpose: str) -> tuple[str, str]:
    """Create a token in a transaction of its own, committed at once, and return it with its
    hash. For emails: the link must work by the time the email can arrive, and the caller
    withdraws the token (:func:`withdraw`) if the email could not be sent. Older verification
    links are retired by the caller's transaction (see :func:`retire_older`)."""
    token = secrets.token_urlsafe(32)
    lifetime = (
        config.verification_lifetime() if purpose == VERIFY else config.applicant_link_lifetime()
    )
    now = utcnow()
    with model.ensure_engine().begin() as conn:
        conn.execute(insert(Token.__table__).values(
            token_hash=_hash(token), purpose=purpose, request_id=req.id, created=now,
            expires=now + lifetime))
    return token, _hash(token)


def reset_key_committed(user_id: str) -> str | None:
    """A new CKAN password-reset key for an active user, committed at once (as CKAN's own
    ``create_reset_key`` does); ``None`` when the account is no longer active."""
    key = secrets.token_hex(16)
    with model.ensure_engine().begin() as conn:
        changed = conn.execute(
            model.user_table.update()
            .where(model.user_table.c.id == user_id, model.user_table.c.state == "active")
            .values(reset_key=key)
        ).rowcount
    return key if changed else None


def retire_older(req: Request, purpose: str, keep_hash: str) -> None:
    """Only the newest verification link works: a resend retires the older ones."""
    if purpose == VERIFY:
        model.Session.query(Token).filter(
            Token.request_id == req.id, Token.purpose == VERIFY, Token.used.is_(None),
            Token.token_hash != keep_hash,
        ).update({"used": utcnow()}, synchronize_session=False)


def withdraw(token_hash: str) -> None:
    """Delete a token whose email never left."""
    with model.ensure_engine().begin() as conn:
        conn.execute(delete(Token.__table__).where(Token.__table__.c.token_hash == token_hash))


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


def verification_use(token: str) -> Row[tuple[datetime.datetime | None, str]] | None:
    """When the verification link ``token`` was used (None: not yet), and the kind of its
    request; None for a link that was never issued."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    return model.Session.query(Token.used, Request.kind).join(
        Request, Request.id == Token.request_id).filter(
        Token.token_hash == _hash(token), Token.purpose == VERIFY).first()


def applicant_may_access(token: str | None, request_id: str) -> bool:
    row = find(token or "", APPLICANT)
    return row is not None and row.request_id == request_id


# -- keeping link tokens out of the logs -------------------------------------------------

# The secrets a URL of the portal may carry: the verification link's token, the revoke-all
# link's signature (after the user's id), and the query's tokens, keys and signatures and a
# provider's authorization code and state on the sign-in callback.
_IN_URL = re.compile(r"(/dgaaccounts/verify/|/dgaaccounts/tokens/revoke-all/[^/\s?]+/"
                     r"|[?&](?:token|key|signature|code|state|id_token_hint)=)[^\s&\"'?#]+")
# CKAN writes one line per request with its path; the development server adds the request line.
REQUEST_LOGGERS = ("ckan.config.middleware.flask_app", "werkzeug")


class RedactLinkTokens(logging.Filter):
    """Replaces the secret in a URL (``_IN_URL``) with ``***`` in a log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _IN_URL.sub(r"\1***", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_IN_URL.sub(r"\1***", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def redact_request_logs() -> None:
    """Add the filter to the loggers that write request paths (once per logger)."""
    for name in REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactLinkTokens) for f in logger.filters):
            logger.addFilter(RedactLinkTokens())
