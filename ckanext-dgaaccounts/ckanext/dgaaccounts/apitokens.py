"""Life cycle of CKAN API tokens: a maximum lifetime, reminders before expiry, renewal with an
overlap, and a signed "revoke all my tokens" link.

The expiry of each token is kept in CKAN's ``api_token.plugin_extras["dgaaccounts"]`` (``exp``,
ISO, naive UTC) and in the token's own JWT ``exp`` claim. Tokens created before this policy
(no ``exp`` anywhere) expire at their creation plus the maximum lifetime.
"""
from __future__ import annotations

import datetime
import hashlib
import hmac
import logging
from typing import Any
from collections.abc import Callable, Mapping

import ckan.model as model
from ckan.types import ErrorDict
from ckan.plugins import toolkit as tk

from . import config, tokens
from .model import utcnow

log = logging.getLogger(__name__)

EXTRA = "dgaaccounts"
NAME_MAX = 200  # characters of a token name
# The clock of the expiry policy. Tests replace it to move time without sleeping.
clock: Callable[[], datetime.datetime] = utcnow


def now() -> datetime.datetime:
    return clock()


# -- the maximum lifetime ----------------------------------------------------------------

def max_lifetime(user: model.User | None) -> datetime.timedelta:
    """The longest a token of ``user`` may live: sysadmins have the shorter cap."""
    if user is not None and user.sysadmin:
        return datetime.timedelta(days=config.token_max_days_sysadmin())
    return datetime.timedelta(days=config.token_max_days())


def cap(user: model.User | None, requested: int | None) -> tuple[int, bool]:
    """Seconds the token will live, and whether the request (or its absence) was cut."""
    limit = int(max_lifetime(user).total_seconds())
    if requested is None or requested > limit:
        return limit, True
    return requested, False


def requested_seconds(data_dict: Mapping[str, Any]) -> int | None:
    """``expires_in`` × ``unit`` (seconds) as asked for, ``None`` when not asked; a
    ``ValidationError`` per field for anything but positive integers."""
    if data_dict.get("expires_in") in (None, ""):
        return None
    errors: ErrorDict = {}
    values: dict[str, int] = {}
    for field, default in (("expires_in", None), ("unit", 1)):
        raw = data_dict.get(field, default)
        try:
            value = int(str(raw).strip())
        except (TypeError, ValueError):
            value = 0
        if value <= 0 or isinstance(raw, bool):
            errors[field] = [tk._("Must be a positive whole number.")]
        values[field] = value
    if errors:
        raise tk.ValidationError(errors)
    return min(values["expires_in"] * values["unit"], 10 ** 12)  # beyond any cap


def required_text(field: str, value: Any) -> str:
    """``value`` of the required ``field`` (``user``, ``name``) of ``api_token_create``, which
    CKAN's own action would take whatever its type: text, or a ValidationError on the field."""
    if value is None or value == "":
        raise tk.ValidationError({field: [tk._("Missing value")]})
    if not isinstance(value, str):
        raise tk.ValidationError({field: [tk._("Must be text.")]})
    return value


def check_name(name: Any) -> None:
    """A token's name: text of at most ``NAME_MAX`` characters (CKAN requires it)."""
    if len(required_text("name", name)) > NAME_MAX:
        raise tk.ValidationError({"name": [
            tk._("A token name can be at most %(max)s characters long.") % {"max": NAME_MAX}]})


def record_expiry(token: model.ApiToken, expires: datetime.datetime, *, capped: bool,
                  renewed_from: str | None = None) -> None:
    """Keep the expiry on the token row (committed: CKAN's own token creation has already
    committed, and nothing else is in this transaction)."""
    extras = dict((token.plugin_extras or {}).get(EXTRA) or {})
    extras.update(exp=expires.isoformat(), capped=capped, reminded=[])
    if renewed_from:
        extras["renewed_from"] = renewed_from
    token.set_extra(EXTRA, extras, commit=True)


def expires_at(token: model.ApiToken, claims: Mapping[str, Any] | None = None
               ) -> datetime.datetime:
    """When ``token`` stops working: the earliest of its recorded expiry, its JWT ``exp`` and
    its creation plus the maximum lifetime (which makes old, unlimited tokens expire too)."""
    candidates = [token.created_at + max_lifetime(token.owner)]
    recorded = ((token.plugin_extras or {}).get(EXTRA) or {}).get("exp")
    if recorded:
        candidates.append(datetime.datetime.fromisoformat(recorded))
    if claims and isinstance(claims.get("exp"), (int, float)):
        candidates.append(datetime.datetime.fromtimestamp(claims["exp"], datetime.timezone.utc)
                          .replace(tzinfo=None))
    return min(candidates)


def token_info(token: model.ApiToken) -> dict[str, Any]:
    """What the tokens page and the usage list show of a token (never the token itself)."""
    extras = (token.plugin_extras or {}).get(EXTRA) or {}
    expires = expires_at(token)
    return {
        "id": token.id, "name": token.name, "user_id": token.user_id,
        "created_at": token.created_at.isoformat(),
        "last_access": token.last_access.isoformat() if token.last_access else None,
        "expires_at": expires.isoformat(), "expired": expires <= now(),
        "renewed_by": extras.get("renewed_by"), "revoke_after": extras.get("revoke_after"),
    }


# -- decoding a presented token ----------------------------------------------------------

TOKEN_INVALID = "token_invalid"
TOKEN_REVOKED = "token_revoked"
TOKEN_EXPIRED = "token_expired"


def decode(raw: str) -> Mapping[str, Any] | None:
    """The claims of a token whose signature is good, expired or not (CKAN's decoder with the
    expiry check left to :func:`check_claims`, so that an expired token can be told apart)."""
    from ckan.lib import api_token  # CKAN's only public token decoder is in ckan.lib

    try:
        return api_token.decode(raw, options={"verify_exp": False})
    except Exception:  # noqa: BLE001 - any undecodable value is an invalid token
        return None


def claims_of(raw: str) -> Mapping[str, Any] | None:
    """The claims of a presented token that is well formed and well signed, else None."""
    claims = decode(raw) if raw and len(raw) <= 4096 else None
    if not claims or not isinstance(claims.get("jti"), str):
        return None
    return claims


# The claims of the token this request presented, once :func:`check_claims` passed them: CKAN
# decodes the token again to find its user (``IApiToken.decode_api_token`` lets a plugin answer
# first), and a JWT decode is a tenth of the cheapest API call. The token's row is kept with
# them: the session's identity map holds rows weakly, and CKAN's own ``ApiToken.get`` then finds
# it there instead of reading it again. Kept in the request's environ, so never beyond it.
_CHECKED = "dgaaccounts.checked_token"


def remember_checked(raw: str, claims: Mapping[str, Any], token: model.ApiToken) -> None:
    from flask import request

    request.environ[_CHECKED] = (raw, claims, token)


def checked_claims(raw: str) -> Mapping[str, Any] | None:
    """The claims :func:`remember_checked` kept for exactly ``raw`` in this request, else None
    (CKAN then decodes it itself)."""
    from flask import has_request_context, request

    if not has_request_context():
        return None
    kept = request.environ.get(_CHECKED)
    return kept[1] if kept is not None and kept[0] == raw else None


def check_claims(claims: Mapping[str, Any] | None) -> tuple[str | None, model.ApiToken | None]:
    """(reason, token) for the claims :func:`claims_of` decoded: reason is ``None`` for a token
    that may be used."""
    if claims is None:
        return TOKEN_INVALID, None
    token = model.ApiToken.get(claims["jti"])
    if token is None:
        return TOKEN_REVOKED, None  # CKAN deletes a revoked token's row
    if expires_at(token, claims) <= now():
        return TOKEN_EXPIRED, token
    return None, token


# -- signed "revoke all my tokens" links ---------------------------------------------------

def _generation(user: model.User) -> int:
    return int(((user.plugin_extras or {}).get(EXTRA) or {}).get("revoke_generation") or 0)


def revoke_all_signature(user: model.User) -> str:
    """HMAC of the user and their revocation generation: a used link (the generation moves
    on) and a link for another user are refused."""
    key = (tk.config.get("SECRET_KEY") or tk.config.get("beaker.session.secret") or "").encode()
    message = f"revoke-all:{user.id}:{_generation(user)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _root(locale: str | None) -> str:
    """The site's root, in ``locale`` when given (the page opens in the reader's language)."""
    from . import mail

    site = tk.config["ckan.site_url"].rstrip("/")
    return mail.localized_root(site, locale) if locale else site


def revoke_all_link(user: model.User, locale: str | None = None) -> str:
    return (f"{_root(locale)}/dgaaccounts/tokens/revoke-all/{user.id}/"
            f"{revoke_all_signature(user)}")


def revoke_all_signature_ok(user: model.User, signature: str) -> bool:
    return tokens.same_secret(signature, revoke_all_signature(user))


def next_generation(user: model.User) -> None:
    extras = dict(user.plugin_extras or {})
    mine = dict(extras.get(EXTRA) or {})
    mine["revoke_generation"] = _generation(user) + 1
    extras[EXTRA] = mine
    user.plugin_extras = extras


def renew_link(token: model.ApiToken, locale: str | None = None) -> str:
    return f"{_root(locale)}/dgaaccounts/tokens/{token.id}/renew"
