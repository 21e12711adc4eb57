"""Per-token limits and usage, counted in Redis (shared by every process).

One Redis round trip per token-authenticated call, on every path (CKAN honours the token
header on pages and downloads too, not only ``/api/``): a server-side script makes the hour's
counter of the token (an atomic ``INCR``, so that two processes racing for the last call
serve exactly the limit), the day's usage hash (calls, the action, the last use) and reads the
token's cached limit. The command is sent before the token is looked up in PostgreSQL and its
answer read after, so the two waits overlap: counting adds CPU time, not another wait. Errors
add a second command only when the answer is an error; a token's first call of a day records
whose it is. :func:`rollup` copies the day hashes into PostgreSQL
(``dgaaccounts_token_usage``): no PostgreSQL write per call.
"""
from __future__ import annotations

import datetime
import hashlib
import inspect
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from flask import Response, after_this_request, request
from redis import ConnectionPool
from redis.exceptions import NoScriptError

import ckan.model as model
from ckan.lib.redis import connect_to_redis
from ckan.plugins import toolkit as tk
from sqlalchemy.dialects.postgresql import insert

from . import apitokens, config
from .tokenmodel import TokenTier, TokenUsage, UserTier

log = logging.getLogger(__name__)

HOUR = 3600
TIER_CACHE_SECONDS = 60  # a tier change reaches every process within this (or at once)
USAGE_KEEP_SECONDS = 8 * 86400  # a day hash outlives a week of missed roll-ups
DEFAULT_TIER = "default"
MAX_HOURLY_LIMIT = 10_000_000
_ACTION = re.compile(r"^/api/(?:\d+/)?action/([a-z0-9_]{1,64})/?$")
_ENDPOINT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_LIMIT_KEY = "dgaaccounts:tokenlimit:{token}"
_COUNT_KEY = "dgaaccounts:tokencount:{token}:{hour}"
_USAGE_KEY = "dgaaccounts:tokenusage:{day}:{token}"
_USAGE_INDEX = "dgaaccounts:tokenusage:index"
# One call of a token. KEYS: the hour's counter, the day's usage hash, the token's cached
# limit, the index of usage hashes. ARGV: the counter's lifetime, the action's field, the time,
# the usage hash's lifetime. Returns the hour's count, the cached limit ("" when none) and
# whether the usage hash already says whose token it is.
_SCRIPT = """
local calls = redis.call('INCR', KEYS[1])
if calls == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
redis.call('HINCRBY', KEYS[2], 'calls', 1)
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
redis.call('HSET', KEYS[2], 'last', ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('SADD', KEYS[4], KEYS[2])
return {calls, redis.call('GET', KEYS[3]) or '', redis.call('HEXISTS', KEYS[2], 'user')}
"""
_SCRIPT_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()  # noqa: S324 - Redis names it so
# redis-py before 5.3 wants the command's name to lend a connection; later versions warn on it
_PARAMETER = inspect.signature(ConnectionPool.get_connection).parameters.get("command_name")
_COMMAND_NAME = ("EVALSHA",) if _PARAMETER is not None and \
    _PARAMETER.default is inspect.Parameter.empty else ()


@dataclass
class Verdict:
    limit: int
    count: int
    reset: int  # epoch seconds when the window ends

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def over(self) -> bool:
        return self.count > self.limit

    def headers(self, now: float) -> dict[str, str]:
        found = {"X-RateLimit-Limit": str(self.limit),
                 "X-RateLimit-Remaining": str(self.remaining),
                 "X-RateLimit-Reset": str(self.reset)}
        if self.over:
            found["Retry-After"] = str(max(1, self.reset - int(now)))
        return found


# -- the guard on every token-authenticated request ------------------------------------

def guard() -> Response | None:
    """For a request that carries a token (CKAN honours the token header on every path, not
    only ``/api/``: pages, resource downloads): refuse an invalid, revoked or expired token
    with a JSON error and a reason code, count the call and apply the hourly limit. ``None``
    lets CKAN go on (it then authenticates the token itself)."""
    raw = request.headers.get(tk.config.get("apitoken_header_name") or "Authorization", "")
    if not raw:
        return None
    api = _is_api(request.path)
    if not api and " " in raw.strip():
        # HTTP authentication for a proxy in front of the site ("Basic ..."): no CKAN token
        # has a space, and CKAN ignores such a value too. Pages stay reachable behind it.
        return None
    claims = apitokens.claims_of(str(raw))
    now = time.time()
    pending = None
    if claims is not None and config.token_limits_enabled():
        # sent now, read after the token's lookup in PostgreSQL: the waits overlap
        pending = _Count.send(claims["jti"], _action_name(request.path) if api
                              else _page_name(request), now)
    reason, token = apitokens.check_claims(claims)
    counted = pending.receive() if pending is not None else None
    if reason is not None:
        if counted is not None and claims is not None:  # (counted: claims were read)
            _count_error(claims["jti"])
        return _refusal(reason)
    assert claims is not None
    assert token is not None
    apitokens.remember_checked(str(raw), claims, token)  # CKAN's lookup reads them, not again
    if counted is None:
        return None  # limits off, or Redis down: served without a limit (logged)
    verdict = counted.verdict(token, now)
    headers = verdict.headers(now)
    if verdict.over:
        return _json(429, "Rate Limit Exceeded", tk._(
            "This API key has made more calls this hour than its limit allows."),
            "rate_limited", headers)
    _after(token.id, headers)
    return None


def _is_api(path: str) -> bool:
    return path.startswith("/api/")


def _action_name(path: str) -> str:
    found = _ACTION.match(path)
    return found.group(1) if found else "other"


def _page_name(request: Any) -> str:
    """A page called with a token, by its view (``page:resource.download``)."""
    endpoint = request.endpoint or ""
    return "page:" + endpoint[:64] if _ENDPOINT.match(endpoint) else "page:other"


def _after(token_id: str, headers: dict[str, str]) -> None:
    @after_this_request
    def add_headers(response: Response) -> Response:
        response.headers.update(headers)
        if response.status_code >= 400:
            _count_error(token_id)
        return response


_MESSAGES = {
    apitokens.TOKEN_INVALID: lambda: tk._("The API token is not valid."),
    apitokens.TOKEN_REVOKED: lambda: tk._("The API token has been revoked."),
    apitokens.TOKEN_EXPIRED: lambda: tk._(
        "The API token has expired. Create a new one on your API tokens page."),
}


def _refusal(reason: str) -> Response:
    return _json(401, "Authorization Error", _MESSAGES[reason](), reason,
                 {"WWW-Authenticate": f'Token error="{reason}"'})


def _json(status: int, type_: str, message: str, reason: str,
          headers: dict[str, str]) -> Response:
    body = {"help": request.url, "success": False,
            "error": {"__type": type_, "message": message, "reason": reason}}
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    response.headers.update(headers)
    return response


# -- counting ----------------------------------------------------------------------------

class _Count:
    """One call's count in Redis: the script is sent at once and its answer read later."""

    def __init__(self, pool: Any, connection: Any, keys: list[str], args: list[Any],
                 hour: int) -> None:
        self.pool, self.connection = pool, connection
        self.keys, self.args, self.hour = keys, args, hour
        self.limit: int | None = None
        self.calls = 0
        self.owner_known = True

    @classmethod
    def send(cls, token_id: str, action: str, now: float) -> _Count | None:
        hour = int(now // HOUR)
        day = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).date().isoformat()
        keys = [_COUNT_KEY.format(token=token_id, hour=hour),
                _USAGE_KEY.format(day=day, token=token_id),
                _LIMIT_KEY.format(token=token_id), _USAGE_INDEX]
        args = [HOUR + 60, "a:" + action, repr(now), USAGE_KEEP_SECONDS]
        pool = connection = None
        try:
            pool = _pool()
            connection = pool.get_connection(*_COMMAND_NAME)
            connection.send_command("EVALSHA", _SCRIPT_SHA, len(keys), *keys, *args)
        except Exception:  # noqa: BLE001 - Redis down must not stop the API
            _drop(pool, connection)
            log.warning("Token limits not applied: Redis unavailable")
            return None
        return cls(pool, connection, keys, args, hour)

    def receive(self) -> _Count | None:
        """Read the answer (always, so the connection goes back to the pool clean)."""
        try:
            try:
                reply = self.connection.read_response()
            except NoScriptError:  # a Redis restarted since: EVAL loads the script again
                reply = connect_to_redis().eval(_SCRIPT, len(self.keys), *self.keys,
                                                *self.args)
        except Exception:  # noqa: BLE001
            _drop(self.pool, self.connection)
            log.warning("Token limits not applied: Redis unavailable")
            return None
        self.pool.release(self.connection)
        calls, cached, owner_known = reply
        self.calls = int(calls)
        self.limit = int(cached) if cached else None
        self.owner_known = bool(owner_known)
        return self

    def verdict(self, token: model.ApiToken, now: float) -> Verdict:
        if self.limit is None or not self.owner_known:
            # a minute's first call of the token, or its day's first: one more round trip
            self.limit = _remember(token, self.keys[1], self.limit, self.owner_known)
        return Verdict(limit=self.limit, count=self.calls, reset=(self.hour + 1) * HOUR)


_POOLS: dict[str, Any] = {}


def _pool() -> Any:
    """CKAN's Redis connection pool, kept: a client object per call (``connect_to_redis``)
    costs more CPU than the command it sends."""
    url = tk.config.get("ckan.redis.url") or ""
    pool = _POOLS.get(url)
    if pool is None:
        pool = _POOLS[url] = connect_to_redis().connection_pool
    return pool


def _drop(pool: Any, connection: Any) -> None:
    if connection is not None:
        connection.disconnect()
        pool.release(connection)


def _remember(token: model.ApiToken, usage_key: str, limit: int | None,
              owner_known: bool) -> int:
    """Cache the token's limit for a minute and write whose token it is on its day's usage."""
    if limit is None:
        limit = hourly_limit(token.user_id)
    try:
        pipe = connect_to_redis().pipeline(transaction=False)
        pipe.set(_LIMIT_KEY.format(token=token.id), limit, ex=TIER_CACHE_SECONDS)
        if not owner_known:
            pipe.hset(usage_key, mapping={
                "user": token.user_id or "", "name": (token.name or "")[:apitokens.NAME_MAX]})
        pipe.execute()
    except Exception:  # noqa: BLE001 - read from PostgreSQL again next time
        log.warning("Token limit not cached: Redis unavailable")
    return limit


def _count_error(token_id: str) -> None:
    day = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    try:
        connect_to_redis().hincrby(_USAGE_KEY.format(day=day, token=token_id), "errors", 1)
    except Exception:  # noqa: BLE001
        log.warning("Token error not counted: Redis unavailable")


def hourly_limit(user_id: str | None) -> int:
    """The limit of the user's tier, or the default tier's (the ``default`` row when a
    sysadmin made one, else ``token_default_hourly_limit``)."""
    row = model.Session.query(TokenTier.hourly_limit).join(
        UserTier, UserTier.tier == TokenTier.name).filter(UserTier.user_id == user_id).first()
    if row is None:
        row = model.Session.query(TokenTier.hourly_limit).filter(
            TokenTier.name == DEFAULT_TIER).first()
    return int(row[0]) if row else config.token_default_hourly_limit()


def forget_limits(user_ids: list[str] | None = None) -> None:
    """Drop cached limits (of some users' tokens, or everyone's) so the next call reads the
    tier."""
    try:
        redis = connect_to_redis()
        if user_ids is None:
            keys = list(redis.scan_iter(_LIMIT_KEY.format(token="*")))
        else:
            tokens = model.Session.query(model.ApiToken.id).filter(
                model.ApiToken.user_id.in_(user_ids))
            keys = [_LIMIT_KEY.format(token=t) for (t,) in tokens]
        if keys:
            redis.delete(*keys)
    except Exception:  # noqa: BLE001 - the cache expires within a minute anyway
        log.warning("Cached token limits not cleared: Redis unavailable")


# -- roll-up into PostgreSQL -------------------------------------------------------------

def rollup(today: datetime.date | None = None) -> int:
    """Copy every day hash into ``dgaaccounts_token_usage`` (the totals replace the row, so a
    repeated roll-up changes nothing); hashes of past days are removed once copied. Returns
    how many rows were written."""
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    redis = connect_to_redis()
    written = 0
    for raw_key in sorted(redis.smembers(_USAGE_INDEX)):
        key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
        fields = {_s(k): _s(v) for k, v in redis.hgetall(key).items()}
        day_text, token_id = key.split(":")[-2:]
        day = datetime.date.fromisoformat(day_text)
        if fields:
            _upsert(token_id, day, fields)
            written += 1
        model.Session.commit()
        if day < today:
            redis.srem(_USAGE_INDEX, key)
            redis.delete(key)
    return written


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _upsert(token_id: str, day: datetime.date, fields: dict[str, str]) -> None:
    row = _row(token_id, day, fields)
    values = {c: getattr(row, c) for c in ("token_id", "day", "user_id", "token_name", "calls",
                                           "errors", "actions", "last_used")}
    stmt = insert(TokenUsage.__table__).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["token_id", "day"],
        set_={k: stmt.excluded[k] for k in values if k not in ("token_id", "day")})
    model.Session.execute(stmt)


def purge(today: datetime.date | None = None) -> int:
    """Delete the daily usage older than ``token_usage_retention_days``. Returns how many."""
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    cutoff = today - config.token_usage_retention()
    count_ = model.Session.query(TokenUsage).filter(TokenUsage.day < cutoff).delete(
        synchronize_session=False)
    model.Session.commit()
    return count_


def live_today(user_ids: list[str] | None = None) -> list[TokenUsage]:
    """Today's usage straight from Redis (not yet rolled up), as unsaved rows."""
    today = datetime.datetime.now(datetime.timezone.utc).date()
    wanted = None if user_ids is None else set(user_ids)
    found = []
    try:
        redis = connect_to_redis()
        keys = [_s(k) for k in redis.smembers(_USAGE_INDEX)]
        for key in keys:
            day_text, token_id = key.split(":")[-2:]
            if day_text != today.isoformat():
                continue
            fields = {_s(k): _s(v) for k, v in redis.hgetall(key).items()}
            if not fields or (wanted is not None and fields.get("user") not in wanted):
                continue
            found.append(_row(token_id, today, fields))
    except Exception:  # noqa: BLE001 - the rolled-up days still show
        log.warning("Live token usage not read: Redis unavailable")
    return found


def _row(token_id: str, day: datetime.date, fields: dict[str, str]) -> TokenUsage:
    last = fields.get("last")
    return TokenUsage(
        token_id=token_id, day=day, user_id=fields.get("user", ""),
        token_name=fields.get("name", ""), calls=int(fields.get("calls", 0)),
        errors=int(fields.get("errors", 0)),
        actions={k[2:]: int(v) for k, v in fields.items() if k.startswith("a:")},
        last_used=datetime.datetime.fromtimestamp(float(last), datetime.timezone.utc)
        .replace(tzinfo=None) if last else None)
