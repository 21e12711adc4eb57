"""Abuse limits for the anonymous entry points.

Counted in Redis, so that every CKAN process shares them. Keys are namespaced by
``ckan.site_id`` (two portals on one Redis count apart). A client is counted by its network:
an IPv4 address by default (``/32``), an IPv6 client by its ``/64`` (a host gets a whole /64
from its provider, so counting single IPv6 addresses would let it change address for free).
An email address is counted in its normalized form (see :func:`normalize_email`).
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging

from ckan.lib.redis import connect_to_redis
from ckan.plugins import toolkit as tk

from . import config, workflow

log = logging.getLogger(__name__)

# Providers where dots in the local part do not matter (and googlemail.com is gmail.com).
_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def hit(scope: str, *subjects: str | None) -> None:
    """Count one attempt at ``scope`` for the calling client and each subject (an email, a
    request id...); raise ``ValidationError`` once any of them is over the limit.

    If Redis cannot be reached the attempt is allowed: the workflows keep working, and the
    failure is logged.
    """
    limit, window = config.rate_limit()
    keys = [key(scope, s) for s in (client_network(), *map(subject, subjects)) if s]
    if not keys:
        return
    try:
        pipe = connect_to_redis().pipeline()
        for k in keys:
            pipe.set(k, 0, ex=window, nx=True)
            pipe.incr(k)
        counts = pipe.execute()[1::2]
    except Exception:  # noqa: BLE001 - Redis down must not stop registrations
        log.warning("Rate limit not checked: Redis unavailable")
        return
    if max(counts) > limit:
        raise tk.ValidationError({"rate_limit": [
            tk._("Too many attempts. Please wait a while and try again.")]})


def key(scope: str, counted: str) -> str:
    """The Redis key of ``counted`` (a network or a subject) at ``scope``, for this site."""
    digest = hashlib.sha256(counted.encode("utf-8", "replace")).hexdigest()
    site = tk.config.get("ckan.site_id") or "default"
    return f"dgaaccounts:rate:{scope}:{site}:{digest}"


def client_network() -> str | None:
    """The calling client's network: its address with the configured prefix length."""
    addr = workflow.client_addr()
    if not addr:
        return None
    try:
        ip = ipaddress.ip_address(addr.strip().split("%", 1)[0])
    except ValueError:
        return addr  # not an address (a unix socket, a proxy's label): counted as it is
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = config.rate_limit_prefix(ip.version)
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def subject(value: str | None) -> str | None:
    """What a subject is counted as: an email address normalized, anything else as given."""
    if value and "@" in value:
        return normalize_email(value)
    return value


def normalize_email(address: str) -> str:
    """The address that all spellings of one mailbox share: case-folded, without a ``+tag``
    in the local part, and for Gmail without dots (Gmail ignores them) and with
    googlemail.com as gmail.com. Used for counting only: accounts keep the address given."""
    local, _sep, domain = address.strip().casefold().rpartition("@")
    local = local.split("+", 1)[0]
    domain = domain.rstrip(".")
    if domain in _DOTLESS:
        local, domain = local.replace(".", ""), _DOTLESS[domain]
    return f"{local}@{domain}"
