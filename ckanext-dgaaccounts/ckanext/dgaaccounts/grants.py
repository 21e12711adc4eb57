"""What this browser's session holds for the applicant pages: the applicant links it opened,
and the verification links whose API token it was shown.

An opened applicant link is a grant in the session: it lasts ``applicant_grant_lifetime`` from
the opening (the link in the email opens it again while the link itself is valid), and every
sign-in and sign-out clears every grant, so the next person at the same browser inherits none.

A developer's token is shown once. A second press of the verification button (a double click, a
reload that posts again) finds the link used: from the same browser, within
TOKEN_SHOWN_WINDOW, the page says that the token was shown and where to make another, instead
of "invalid link". The token itself is never kept; only hashes of the link and of the
browser's CSRF secret.
"""
from __future__ import annotations

import datetime
import hashlib
import logging
import time
from typing import Any

from flask import current_app, session

from ckan.plugins import toolkit as tk
from ckan.types import Context

from . import config
from .model import utcnow

log = logging.getLogger(__name__)

_SESSION_KEY = "dgaaccounts_applicant"
_GRANTED_AT_KEY = "dgaaccounts_applicant_at"  # when each link grant was made (epoch seconds)
_TOKEN_SHOWN_KEY = "dgaaccounts_token_shown"  # hashes of verification links redeemed here
TOKEN_SHOWN_WINDOW = 600  # seconds in which a repeated confirmation says "already shown"


# -- applicant links -----------------------------------------------------------------------

def remember_applicant(request_id: str, token: str) -> None:
    grants = dict(session.get(_SESSION_KEY) or {})
    granted_at = dict(session.get(_GRANTED_AT_KEY) or {})
    grants[request_id] = token
    granted_at[request_id] = int(time.time())
    session[_SESSION_KEY] = grants
    session[_GRANTED_AT_KEY] = granted_at


def applicant_token(request_id: str) -> str | None:
    """The applicant token this browser holds for ``request_id``, while its grant lasts."""
    token: str | None = (session.get(_SESSION_KEY) or {}).get(request_id)
    granted = (session.get(_GRANTED_AT_KEY) or {}).get(request_id)
    if token is None:
        return None
    lifetime = config.applicant_grant_lifetime().total_seconds()
    if not isinstance(granted, int) or not 0 <= time.time() - granted < lifetime:
        _drop_grant(request_id)
        return None
    return token


def _drop_grant(request_id: str) -> None:
    for key in (_SESSION_KEY, _GRANTED_AT_KEY):
        found = dict(session.get(key) or {})
        if found.pop(request_id, None) is not None:
            session[key] = found


def forget_applicant_links(sender: Any, **kwargs: Any) -> None:
    """At every sign-in and sign-out (CKAN's user_logged_in / user_logged_out signals)."""
    for key in (_SESSION_KEY, _GRANTED_AT_KEY, _TOKEN_SHOWN_KEY):
        session.pop(key, None)


# -- a developer's token, shown once -------------------------------------------------------

def _link_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def mark_token_shown(token: str) -> None:
    shown = dict(session.get(_TOKEN_SHOWN_KEY) or {})
    shown[_link_hash(token)] = int(time.time())
    session[_TOKEN_SHOWN_KEY] = shown


def token_shown_here(token: str) -> bool:
    shown: int | None = (session.get(_TOKEN_SHOWN_KEY) or {}).get(_link_hash(token))
    if not shown:
        return False
    return time.time() - shown < TOKEN_SHOWN_WINDOW


def _browser_key() -> str | None:
    secret = session.get(current_app.config.get("WTF_CSRF_FIELD_NAME") or "_csrf_token")
    return hashlib.sha256(str(secret).encode()).hexdigest() if secret else None


def claim_redemption(token: str) -> str | None:
    """Before redeeming: note (in Redis, for TOKEN_SHOWN_WINDOW) that this browser presses the
    button of this link. Two presses of one browser carry the same session cookie, even when
    the second leaves before the first has answered."""
    from ckan.lib.redis import connect_to_redis

    browser = _browser_key()
    if browser is None:
        return None
    key = f"dgaaccounts:redeem:{_link_hash(token)}"
    try:
        redis = connect_to_redis()
        redis.set(key, browser, nx=True, ex=TOKEN_SHOWN_WINDOW)
    except Exception:  # noqa: BLE001 - without Redis the page says "invalid", as before
        log.warning("could not note a verification attempt in Redis")
        return None
    return browser


def redeemed_by_this_browser(context: Context, token: str, claim: str | None) -> str | None:
    """The kind of request whose link this browser pressed first and which was redeemed within
    the window (by that press); None otherwise."""
    from ckan.lib.redis import connect_to_redis

    if claim is None:
        return None
    try:
        first = connect_to_redis().get(f"dgaaccounts:redeem:{_link_hash(token)}")
    except Exception:  # noqa: BLE001
        return None
    if isinstance(first, bytes):
        first = first.decode()
    if first is None or first != claim:
        return None
    try:
        found = tk.get_action("dgaaccounts_verification_show")(context, {"token": token})
    except (tk.ObjectNotFound, tk.ValidationError):
        return None
    if found["used"] is None:
        return None
    used = datetime.datetime.fromisoformat(found["used"])
    if (utcnow() - used).total_seconds() >= TOKEN_SHOWN_WINDOW:
        return None
    kind: str = found["kind"]
    return kind
