"""Per-token limits and usage of the action API, counted in Redis (shared by every process).

One pipelined round trip per token-authenticated call: the hour's counter of the token (an
atomic ``INCR``, so that two processes racing for the last call serve exactly the limit), the
owner's cached limit, and the day's usage hash (calls, the action, the last use). Errors add a
second command only when the answer is an error. :func:`rollup` copies the day hashes into
PostgreSQL (``dgaaccounts_token_usage``): no PostgreSQL write per call.
"""
from __future__ import annotations

import datetime
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from flask import Response, after_this_request

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
_LIMIT_KEY = "dgaaccounts:tokenlimit:{user}"
_COUNT_KEY = "dgaaccounts:tokencount:{token}:{hour}"
_USAGE_KEY = "dgaaccounts:tokenusage:{day}:{token}"
_USAGE_INDEX = "dgaaccounts:tokenusage:index"


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


# -- the guard on /api/ ------------------------------------------------------------------

def guard() -> Response | None:
    """For an API call that carries a token: refuse an invalid, revoked or expired token with a
    JSON error and a reason code, count the call and apply the hourly limit. ``None`` lets
    CKAN go on (it then authenticates the token itself)."""
    request = tk.request
    if not _is_api(request.path):
        return None
    raw = request.headers.get(tk.config.get("apitoken_header_name") or "Authorization", "")
    if not raw:
        return None
    reason, token = apitokens.check(str(raw))
    if reason is not None:
        return _refusal(reason)
    if not config.token_limits_enabled():
        return None
    assert token is not None
    verdict = count(token, _action_name(request.path))
    if verdict is None:
        return None  # Redis down: served without a limit (logged)
    now = time.time()
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
    body = {"help": tk.request.url, "success": False,
            "error": {"__type": type_, "message": message, "reason": reason}}
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    response.headers.update(headers)
    return response


# -- counting ----------------------------------------------------------------------------

def count(token: model.ApiToken, action: str, now: float | None = None) -> Verdict | None:
    """Count one call of ``token`` in one pipelined round trip; the limit comes from the
    owner's tier (cached in Redis, looked up in PostgreSQL at most once a minute)."""
    now = time.time() if now is None else now
    hour = int(now // HOUR)
    day = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).date().isoformat()
    count_key = _COUNT_KEY.format(token=token.id, hour=hour)
    usage_key = _USAGE_KEY.format(day=day, token=token.id)
    try:
        redis = connect_to_redis()
        pipe = redis.pipeline(transaction=False)
        pipe.get(_LIMIT_KEY.format(user=token.user_id))
        pipe.incr(count_key)
        pipe.expire(count_key, HOUR + 60)
        pipe.hincrby(usage_key, "calls", 1)
        pipe.hincrby(usage_key, "a:" + action, 1)
        pipe.hset(usage_key, mapping={"last": str(now), "user": token.user_id or "",
                                      "name": (token.name or "")[:apitokens.NAME_MAX]})
        pipe.expire(usage_key, USAGE_KEEP_SECONDS)
        pipe.sadd(_USAGE_INDEX, usage_key)
        cached, calls = pipe.execute()[:2]
        limit = int(cached) if cached else _remember_limit(redis, token.user_id)
    except Exception:  # noqa: BLE001 - Redis down must not stop the API
        log.warning("Token limits not applied: Redis unavailable")
        return None
    return Verdict(limit=limit, count=int(calls), reset=(hour + 1) * HOUR)


def _count_error(token_id: str) -> None:
    day = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    try:
        connect_to_redis().hincrby(_USAGE_KEY.format(day=day, token=token_id), "errors", 1)
    except Exception:  # noqa: BLE001
        log.warning("Token error not counted: Redis unavailable")


def _remember_limit(redis: Any, user_id: str | None) -> int:
    limit = hourly_limit(user_id)
    redis.set(_LIMIT_KEY.format(user=user_id), limit, ex=TIER_CACHE_SECONDS)
    return limit


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
    """Drop cached limits (of some users, or everyone's) so the next call reads the tier."""
    try:
        redis = connect_to_redis()
        if user_ids is None:
            keys = list(redis.scan_iter(_LIMIT_KEY.format(user="*")))
        else:
            keys = [_LIMIT_KEY.format(user=u) for u in user_ids]
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
