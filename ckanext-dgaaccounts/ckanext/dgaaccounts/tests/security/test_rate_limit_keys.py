"""Rate limits fit a real deployment (issue 11, class 10).

The counters are namespaced by ``ckan.site_id`` (two portals on one Redis count apart); a client
is its IPv4 address (``/32``) or its IPv6 ``/64`` by default (both prefix lengths are options);
an email address is counted in its normalized form: case-folded, without a ``+tag``, and for
Gmail without dots (googlemail.com is gmail.com), even though both spellings may hold accounts.
Requests come through CKAN's test app with the client's address as ``REMOTE_ADDR``.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ckan.lib.redis import connect_to_redis
from ckan.plugins import toolkit as tk

from ckanext.dgaaccounts import ratelimit
from ckanext.dgaaccounts.tests.security.conftest import clear_rate_limits

pytestmark = pytest.mark.usefixtures("plugin_loaded")

LIMIT = 3
RESEND = "/api/3/action/dgaaccounts_verification_resend"


@pytest.fixture(autouse=True)
def _limits(monkeypatch) -> Iterator[None]:
    monkeypatch.setitem(tk.config, "ckanext.dgaaccounts.rate_limit", LIMIT)
    clear_rate_limits()
    yield
    clear_rate_limits()


def _resend(app: Any, email: str, client: str) -> int:
    """Ask for the verification email again, from ``client`` (its REMOTE_ADDR)."""
    return app.post(RESEND, json={"email": email},
                    environ_base={"REMOTE_ADDR": client}).status_code


# -- site ids -------------------------------------------------------------------------------

def test_two_sites_on_one_redis_count_apart(module_app, monkeypatch):
    monkeypatch.setitem(tk.config, "ckan.site_id", "portal-a")
    for i in range(LIMIT):
        assert _resend(module_app, f"site{i}@example.com", "192.0.2.10") == 200
    assert _resend(module_app, "site-over@example.com", "192.0.2.10") == 409
    # Another portal on the same Redis: the same client starts from zero there.
    monkeypatch.setitem(tk.config, "ckan.site_id", "portal-b")
    assert _resend(module_app, "site-b@example.com", "192.0.2.10") == 200
    keys = {k.decode() for k in connect_to_redis().scan_iter("dgaaccounts:rate:resend:*")}
    assert {k.split(":")[3] for k in keys} == {"portal-a", "portal-b"}
    # No address in the keys, hashed or not in clear.
    assert not any("example.com" in k or "192.0.2.10" in k for k in keys)


# -- networks -------------------------------------------------------------------------------

def test_ipv6_addresses_in_one_64_share_a_count(module_app):
    for i in range(LIMIT):
        assert _resend(module_app, f"v6-{i}@example.com", f"2001:db8:1:2::{i + 1}") == 200
    # Another address of the same /64: the same client.
    assert _resend(module_app, "v6-over@example.com", "2001:db8:1:2:ffff:ffff:ffff:ffff") == 409
    # The next /64 is another client.
    assert _resend(module_app, "v6-next@example.com", "2001:db8:1:3::1") == 200


def test_ipv4_addresses_count_apart_by_default(module_app):
    for i in range(LIMIT):
        assert _resend(module_app, f"v4-{i}@example.com", "198.51.100.7") == 200
    assert _resend(module_app, "v4-over@example.com", "198.51.100.7") == 409
    assert _resend(module_app, "v4-next@example.com", "198.51.100.8") == 200
    # An IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d) is the same client.
    assert _resend(module_app, "v4-mapped@example.com", "::ffff:198.51.100.7") == 409


def test_the_prefix_lengths_are_options(module_app, monkeypatch):
    monkeypatch.setitem(tk.config, "ckanext.dgaaccounts.rate_limit_ipv6_prefix", 128)
    monkeypatch.setitem(tk.config, "ckanext.dgaaccounts.rate_limit_ipv4_prefix", 24)
    for i in range(LIMIT + 1):  # each IPv6 address its own client
        assert _resend(module_app, f"p6-{i}@example.com", f"2001:db8:9:9::{i + 1}") == 200
    for i in range(LIMIT):  # a whole /24 one client
        assert _resend(module_app, f"p4-{i}@example.com", f"203.0.113.{i + 1}") == 200
    assert _resend(module_app, "p4-over@example.com", "203.0.113.200") == 409
    assert _resend(module_app, "p4-next@example.com", "203.0.114.1") == 200


# -- email addresses --------------------------------------------------------------------------

@pytest.mark.parametrize("spellings", [
    ["Somchai+one@Example.com", "somchai@example.com", "SOMCHAI+two@EXAMPLE.COM",
     "somchai+@example.com"],
    ["so.m.chai@gmail.com", "somchai@googlemail.com", "SomChai+x@Gmail.com",
     "s.o.m.c.h.a.i@gmail.com"],
])
def test_spellings_of_one_mailbox_share_a_count(module_app, spellings):
    # Each attempt from another client: only the address is counted.
    for i, address in enumerate(spellings[:LIMIT]):
        assert _resend(module_app, address, f"192.0.2.{i + 20}") == 200
    assert _resend(module_app, spellings[LIMIT], "192.0.2.99") == 409


def test_dots_count_apart_outside_gmail(module_app):
    for i in range(LIMIT):
        assert _resend(module_app, "so.mchai@example.com", f"192.0.2.{i + 40}") == 200
    assert _resend(module_app, "somchai@example.com", "192.0.2.60") == 200


@pytest.mark.parametrize(("address", "normalized"), [
    ("A+x@B.example", "a@b.example"),
    ("  Somchai+tag+more@Example.COM. ", "somchai@example.com"),
    ("first.last@gmail.com", "firstlast@gmail.com"),
    ("First.Last+news@GoogleMail.com", "firstlast@gmail.com"),
    ("first.last@example.com", "first.last@example.com"),
    ("สมชาย+x@ตัวอย่าง.ไทย", "สมชาย@ตัวอย่าง.ไทย"),
])
def test_normalize_email(address, normalized):
    assert ratelimit.normalize_email(address) == normalized
