"""Sign-in with a government OpenID Connect provider (ThaID, DGA Digital ID): the client side.

Authorization code flow with PKCE (S256), ``state`` and ``nonce`` kept in the session, each
``state`` usable once (remembered in Redis). Authlib's OAuth 2 client builds the authorization
request (PKCE) and redeems the code; the ID token is checked with joserfc, the JOSE library by
Authlib's author that Authlib itself moved to (``authlib.jose`` is deprecated): signature
against the provider's JWKS with an allow-list of algorithms (never ``none``), a key that is
not in the JWKS refused, issuer, audience (and ``azp``), expiry, not-before, issued-at, nonce.
No hand-written JWT code.

Providers come from the configuration: ``ckanext.dgaaccounts.oidc.providers`` names them, and
``ckanext.dgaaccounts.oidc.<name>.<option>`` configures each (README, "Sign in with ThaID /
Digital ID"). Tokens from the provider are never logged or stored.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

import ckan.model as model
from ckan.common import session
from ckan.plugins import toolkit as tk

from . import account

if TYPE_CHECKING:
    from joserfc.jwk import KeySetSerialization

log = logging.getLogger(__name__)

PREFIX = "ckanext.dgaaccounts.oidc."
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
_FLOWS = "dgaaccounts_oidc_flows"
SESSION_PROVIDER = "dgaaccounts_oidc_provider"
_MAX_FLOWS = 5
_FLOW_LIFETIME = 600  # seconds from the redirect to the provider until the callback
# Our field -> the provider's claim; a provider's ``claims`` option overrides entries.
DEFAULT_CLAIMS = {
    "name_th": "name_th", "name_en": "name_en", "email": "email",
    "email_verified": "email_verified", "ial": "ial", "pid": "pid",
    "organization_id": "organization_id",
    "organization_id_verified": "organization_id_verified",
}


@dataclasses.dataclass(frozen=True)
class Provider:
    name: str
    discovery_url: str
    client_id: str
    client_secret: str
    scopes: str
    claims: dict[str, str]
    title_th: str
    title_en: str
    min_ial: float | None


@dataclasses.dataclass(frozen=True)
class Identity:
    """A verified identity: the checked ID token's claims, mapped to our fields."""

    provider: str
    issuer: str
    sub: str
    purpose: str
    fields: dict[str, Any]


class SignInError(Exception):
    """A refused provider sign-in: ``reason`` for the audit trail, ``message`` for the user."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


# -- configuration -----------------------------------------------------------------------

def _option(name: str, key: str, default: str = "") -> str:
    return str(tk.config.get(f"{PREFIX}{name}.{key}", "") or default).strip()


def _claims(text: str) -> dict[str, str]:
    mapping = dict(DEFAULT_CLAIMS)
    for pair in text.split():
        field, _, claim = pair.partition("=")
        if field and claim:
            mapping[field] = claim
    return mapping


def providers() -> list[Provider]:
    """The configured providers, in the order of ``ckanext.dgaaccounts.oidc.providers``."""
    names = tk.config.get(PREFIX + "providers") or []
    if isinstance(names, str):
        names = names.split()
    found = []
    for name in names:
        url, client_id = _option(name, "discovery_url"), _option(name, "client_id")
        if not url or not client_id:
            log.warning("OIDC provider %s lacks discovery_url or client_id: not offered", name)
            continue
        min_ial = _option(name, "min_ial")
        found.append(Provider(
            name=name, discovery_url=url, client_id=client_id,
            client_secret=_option(name, "client_secret"),
            scopes=_option(name, "scopes", "openid profile email"),
            claims=_claims(_option(name, "claims")),
            title_th=_option(name, "title_th", name), title_en=_option(name, "title_en", name),
            min_ial=float(min_ial) if min_ial else None,
        ))
    return found


def get(name: str) -> Provider:
    for provider in providers():
        if provider.name == name:
            return provider
    raise tk.ObjectNotFound(tk._("Unknown identity provider."))


def timeout() -> float:
    return float(tk.config.get(PREFIX + "timeout") or 10)


# -- talking to the provider ---------------------------------------------------------------

def _unavailable() -> SignInError:
    return SignInError("provider_unavailable", tk._(
        "The identity provider did not answer. Try again later, or sign in with your password."))


def _get_json(url: str) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=timeout())
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError) as e:
        log.warning("OIDC: %s did not answer: %s", url, type(e).__name__)
        raise _unavailable() from None
    if not isinstance(data, dict):
        raise _unavailable()
    return data


# The providers' discovery documents and key sets, kept in each process for ``cache_seconds``:
# a sign-in costs the provider one code exchange, not three more requests. url -> (when, data).
_CACHE: dict[str, tuple[float, dict[str, Any]]] = {}
_REFETCH_AFTER = 5.0  # a key set this old is fetched again for an ID token with an unknown key


def cache_seconds() -> float:
    return float(tk.config.get(PREFIX + "cache_seconds") or 0)


def _cached_json(url: str, check: Callable[[dict[str, Any]], bool] = lambda _data: True, *,
                 older_than: float | None = None) -> dict[str, Any]:
    """The JSON document at ``url``, from this process's cache while it is younger than
    ``cache_seconds`` (and, with ``older_than``, not fetched again unless it is older than
    that); only a document that passes ``check`` is kept."""
    hit = _CACHE.get(url)
    age = time.monotonic() - hit[0] if hit else None
    limit = cache_seconds() if older_than is None else min(older_than, cache_seconds())
    if hit and age is not None and age < limit:
        return hit[1]
    data = _get_json(url)
    if not check(data):
        raise _unavailable()
    _CACHE[url] = (time.monotonic(), data)
    return data


def _has_endpoints(meta: dict[str, Any]) -> bool:
    return all(isinstance(meta.get(key), str)
               for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"))


def metadata(provider: Provider) -> dict[str, Any]:
    """The provider's discovery document (checked for the endpoints we use)."""
    return _cached_json(provider.discovery_url, _has_endpoints)


def _key_set(jwks_uri: str, id_token: str) -> KeySet:
    """The provider's keys; fetched again if the token names a key they lack (the provider
    rotated its keys since they were kept), at most every few seconds."""
    kept = _CACHE.get(jwks_uri)
    keys = _cached_json(jwks_uri)
    kid = _kid(id_token)
    if _CACHE.get(jwks_uri) is kept and kid and kid not in {
            k.get("kid") for k in keys.get("keys") or [] if isinstance(k, dict)}:
        keys = _cached_json(jwks_uri, older_than=_REFETCH_AFTER)
    # the provider's JSON as it came: import_key_set checks it (its errors caught by the caller)
    key_set: KeySet = KeySet.import_key_set(cast("KeySetSerialization", keys))
    return key_set


def _kid(id_token: str) -> str | None:
    """The ``kid`` of a compact JWS's protected header, unverified (only to pick a key)."""
    try:
        head = id_token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except ValueError:
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


def _session_client(provider: Provider, redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(provider.client_id, provider.client_secret, scope=provider.scopes,
                         redirect_uri=redirect_uri, code_challenge_method="S256")


def start(provider: Provider, purpose: str, redirect_uri: str) -> str:
    """Remember a new flow (state, nonce, PKCE verifier) in the session; the provider's URL."""
    meta = metadata(provider)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(48)
    flows = dict(session.get(_FLOWS) or {})
    flows[state] = {"provider": provider.name, "nonce": nonce, "verifier": verifier,
                    "purpose": purpose, "at": int(time.time())}
    # A few flows at once (two tabs); the oldest go.
    session[_FLOWS] = dict(sorted(flows.items(), key=lambda kv: kv[1]["at"])[-_MAX_FLOWS:])
    url: str
    url, _ = _session_client(provider, redirect_uri).create_authorization_url(
        meta["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier)
    return url


def _bad_state() -> SignInError:
    return SignInError("bad_state", tk._(
        "This sign-in link is not valid any more (it was used, has expired, or was started in "
        "another browser). Start the sign-in again."))


def _take_flow(provider: Provider, state: str | None) -> dict[str, Any]:
    """The flow of ``state``, once: out of the session and marked used in Redis."""
    flows = dict(session.get(_FLOWS) or {})
    flow: dict[str, Any] | None = flows.pop(state, None) if state else None
    session[_FLOWS] = flows
    if (state is None or flow is None or flow.get("provider") != provider.name
            or time.time() - flow.get("at", 0) > _FLOW_LIFETIME):
        raise _bad_state()
    from ckan.lib.redis import connect_to_redis

    key = "dgaaccounts:oidc:state:" + hashlib.sha256(state.encode()).hexdigest()
    if not connect_to_redis().set(key, 1, nx=True, ex=_FLOW_LIFETIME * 2):
        raise _bad_state()  # an old cookie brought back a used state
    return flow


def finish(provider: Provider, args: dict[str, str], redirect_uri: str) -> Identity:
    """The callback: check ``state``, exchange the code (with the PKCE verifier), verify the
    ID token. Raises SignInError for anything wrong."""
    flow = _take_flow(provider, args.get("state"))
    if args.get("error") or not args.get("code"):
        raise SignInError("provider_error", tk._(
            "The identity provider did not sign you in. Try again, or sign in with your "
            "password."))
    meta = metadata(provider)
    try:
        token = _session_client(provider, redirect_uri).fetch_token(
            meta["token_endpoint"], code=args["code"], code_verifier=flow["verifier"],
            timeout=timeout())
    except requests.RequestException:
        raise _unavailable() from None
    except Exception as e:  # OAuthError: invalid_grant (a used or unknown code), ...
        log.warning("OIDC %s: code exchange refused: %s", provider.name, type(e).__name__)
        raise SignInError("code_refused", tk._(
            "The identity provider refused this sign-in (the code was used or has expired). "
            "Start the sign-in again.")) from None
    claims = verify_id_token(provider, meta, token.get("id_token"), flow["nonce"])
    return Identity(provider=provider.name, issuer=claims["iss"], sub=str(claims["sub"]),
                    purpose=flow["purpose"], fields=map_claims(provider, claims))


def _bad_token() -> SignInError:
    return SignInError("bad_id_token", tk._(
        "The identity provider's answer could not be verified. Nothing was changed; start the "
        "sign-in again."))


def verify_id_token(provider: Provider, meta: dict[str, Any], id_token: Any,
                    nonce: str) -> dict[str, Any]:
    """The ID token's claims once signature, iss, aud, azp, exp, nbf, iat and nonce hold."""
    if not isinstance(id_token, str) or not id_token:
        raise _bad_token()
    try:
        keys = _key_set(meta["jwks_uri"], id_token)
    except (JoseError, ValueError, TypeError, KeyError):
        raise _unavailable() from None
    try:
        token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": meta["issuer"]},
            aud={"essential": True, "value": provider.client_id},
            sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
        claims = dict(token.claims)
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != provider.client_id:
            raise ValueError("azp")
    except (JoseError, ValueError, KeyError, TypeError) as e:
        # The reason (never the token) for the operator.
        log.warning("OIDC %s: ID token refused: %s", provider.name, type(e).__name__)
        raise _bad_token() from None
    return claims


def map_claims(provider: Provider, claims: dict[str, Any]) -> dict[str, Any]:
    return {field: claims.get(claim) for field, claim in provider.claims.items()
            if claims.get(claim) is not None}


def end_session_url(provider_name: str, post_logout_redirect_uri: str) -> str | None:
    """The provider's RP-initiated logout address, or None (no endpoint, or not answering)."""
    try:
        provider = get(provider_name)
        meta = metadata(provider)
    except (tk.ObjectNotFound, SignInError):
        return None
    endpoint = meta.get("end_session_endpoint")
    if not isinstance(endpoint, str):
        return None
    from urllib.parse import urlencode

    query = urlencode({"client_id": provider.client_id,
                       "post_logout_redirect_uri": post_logout_redirect_uri})
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


# -- a verified identity with no account, until it registers ----------------------------------
# Kept here, never in the session cookie (which a browser can keep and bring back): the
# session holds a random handle; the identity lasts as long as a flow and is taken once.

def _verified_key(handle: str) -> str:
    return "dgaaccounts:oidc:verified:" + hashlib.sha256(handle.encode()).hexdigest()


def _redis() -> Any:
    from ckan.lib.redis import connect_to_redis

    return connect_to_redis()


def keep_verified(verified: dict[str, Any]) -> str:
    """Keep ``verified`` (JSON) for ``_FLOW_LIFETIME`` seconds; its handle."""
    handle: str = generate_token(32)
    _redis().set(_verified_key(handle), json.dumps(verified), ex=_FLOW_LIFETIME)
    return handle


def kept_verified(handle: Any) -> dict[str, Any] | None:
    """The identity kept under ``handle``, if it is still there (not taken, not expired)."""
    raw = _redis().get(_verified_key(handle)) if isinstance(handle, str) else None
    return json.loads(raw) if raw else None


def take_verified(handle: Any) -> tuple[dict[str, Any], int] | None:
    """The identity kept under ``handle`` and its remaining lifetime, taken away at once (of
    two requests with the same handle, one gets it); None when it is not there."""
    if not isinstance(handle, str):
        return None
    key = _verified_key(handle)
    raw, ttl, _ = _redis().pipeline(transaction=True).get(key).ttl(key).delete(key).execute()
    return (json.loads(raw), max(int(ttl), 1)) if raw else None


def give_back_verified(handle: str, taken: tuple[dict[str, Any], int]) -> None:
    """Keep again what :func:`take_verified` took (nothing was made with it), for the rest of
    its lifetime."""
    verified, ttl = taken
    _redis().set(_verified_key(handle), json.dumps(verified), ex=ttl, nx=True)


# -- the account-state gate ------------------------------------------------------------------

def refusal(user: model.User) -> str | None:
    """Why ``user`` may not sign in through a provider, or None. The one check of the account
    state for provider sign-ins: only an active, not suspended account passes; a provider
    sign-in never reactivates or activates anything."""
    if user.state == "deleted":
        return tk._("This account has been cancelled. It cannot be used to sign in.")
    if account.is_suspended(user):
        return tk._("Your account is suspended. Contact the portal administrators to "
                    "reactivate it.")
    if user.state != "active":
        return tk._("Your account is not open yet: it is waiting for the email confirmation "
                    "or the approval of your application.")
    return None
