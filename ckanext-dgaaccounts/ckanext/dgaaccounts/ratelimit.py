"""Abuse limits for the anonymous entry points.

Counted in Redis, so that every CKAN process shares them.
"""
from __future__ import annotations

import hashlib
import logging

from ckan.lib.redis import connect_to_redis
from ckan.plugins import toolkit as tk

from . import config, workflow

log = logging.getLogger(__name__)


def hit(scope: str, *subjects: str | None) -> None:
    """Count one attempt at ``scope`` for the calling client and each subject (an email, a
    request id...); raise ``ValidationError`` once any of them is over the limit.

    If Redis cannot be reached the attempt is allowed: the workflows keep working, and the
    failure is logged.
    """
    limit, window = config.rate_limit()
    keys = [
        f"dgaaccounts:rate:{scope}:{hashlib.sha256(s.encode('utf-8', 'replace')).hexdigest()}"
        for s in (workflow.client_addr(), *subjects) if s
    ]
    if not keys:
        return
    try:
        pipe = connect_to_redis().pipeline()
        for key in keys:
            pipe.set(key, 0, ex=window, nx=True)
            pipe.incr(key)
        counts = pipe.execute()[1::2]
    except Exception:  # noqa: BLE001 - Redis down must not stop registrations
        log.warning("Rate limit not checked: Redis unavailable")
        return
    if max(counts) > limit:
        raise tk.ValidationError({"rate_limit": [
            tk._("Too many attempts. Please wait a while and try again.")]})
