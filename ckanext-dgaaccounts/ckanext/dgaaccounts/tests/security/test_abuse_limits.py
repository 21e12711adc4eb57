"""Abuse limits, across two CKAN web processes sharing PostgreSQL and Redis.

The limits (registration, resend, verification, upload) count per client address and per
subject (the email address, or the request) in Redis, so a client cannot get twice the limit by
being balanced over two processes. The servers run with a limit of ``SERVER_RATE_LIMIT``
attempts per 10 minutes; each test alternates its attempts between the two processes, so a
limit kept in process memory would let every attempt through.

Each client is a loopback source address (127.0.0.x): that is CKAN's ``remote_addr``.
"""
from __future__ import annotations

import itertools
import json
import os
from typing import Any

import pytest

import ckan.model as model
from ckan.lib.redis import connect_to_redis
from ckan.tests import factories

from ckanext.dgaaccounts.model import Document, Request
from ckanext.dgaaccounts.tests.conftest import PDF, registration, stored_files
from ckanext.dgaaccounts.tests.security.conftest import (
    agency_request, api, clear_rate_limits, count, developer_request, http_call,
)

pytestmark = [pytest.mark.stress, pytest.mark.usefixtures("plugin_loaded", "clean_db")]

_clients = itertools.count(20)


def new_client() -> str:
    """A loopback address no other test used: a new client for CKAN."""
    n = next(_clients)
    return f"127.0.{n // 250}.{n % 250 + 2}"


def _developer(i: Any, **extra: str) -> dict[str, str]:
    return {"name": f"rl_dev{i}", "fullname": "Rate Limited", "email": f"rl_dev{i}@example.com",
            "password": "Dev-Passw0rd-42", **extra}


@pytest.fixture
def servers(ckan_servers):
    clear_rate_limits()
    return ckan_servers


def test_registrations_are_limited_per_client_across_processes(servers):
    limit, client = servers.rate_limit, new_client()
    for i in range(limit):
        # Agency and developer registrations share the limit; the forwarded-for header a
        # client sends is not its address.
        if i % 2:
            data = registration(name=f"rl_agency{i}", email=f"rl_agency{i}@dga.or.th")
            action = "dgaaccounts_agency_register"
        else:
            data, action = _developer(i), "dgaaccounts_developer_register"
        answer = api(servers[i % 2].url, action, data, source=client)
        assert answer.status == 200, answer.json
    refused = api(servers[limit % 2].url, "dgaaccounts_developer_register",
                  _developer("over"), source=client)
    assert refused.status == 409
    assert refused.error_keys() == {"rate_limit"}
    assert count('"user"', "name = 'rl_devover'") == 0
    # Another client is not affected.
    assert api(servers[1].url, "dgaaccounts_developer_register", _developer("other"),
               source=new_client()).status == 200
    # The counters are Redis keys that expire.
    redis = connect_to_redis()
    keys = list(redis.scan_iter("dgaaccounts:rate:register:*"))
    assert keys
    assert all(0 < redis.ttl(k) <= 600 for k in keys)


def test_a_spoofed_forwarded_for_header_does_not_make_a_new_client(servers):
    limit, client = servers.rate_limit, new_client()
    statuses = []
    for i in range(limit + 1):
        answer = http_call(
            f"{servers[i % 2].url}/api/3/action/dgaaccounts_verification_resend", "POST",
            body=json.dumps({"email": f"rl_xff{i}@example.com"}).encode(), source=client,
            headers={"Content-Type": "application/json", "X-Forwarded-For": f"10.9.8.{i}",
                     "X-Real-IP": f"10.9.7.{i}"})
        statuses.append(answer.status)
    assert statuses == [200] * limit + [409]


def test_registrations_are_limited_per_address_across_processes(servers):
    limit, email = servers.rate_limit, "rl_target@example.com"
    for i in range(limit):
        # Each attempt from another client, each refused for its password: they still count.
        answer = api(servers[i % 2].url, "dgaaccounts_developer_register",
                     _developer(f"addr{i}", email=email, password="short"), source=new_client())
        assert answer.error_keys() == {"password"}
    refused = api(servers[limit % 2].url, "dgaaccounts_developer_register",
                  _developer("addr_ok", email=email.upper()), source=new_client())
    assert refused.error_keys() == {"rate_limit"}
    assert count("dgaaccounts_request", "email = :e", e=email) == 0
    assert api(servers[0].url, "dgaaccounts_developer_register", _developer("addr_other"),
               source=new_client()).status == 200


def test_resends_are_limited_per_client_and_per_address(servers):
    limit, client = servers.rate_limit, new_client()
    for i in range(limit):
        assert api(servers[i % 2].url, "dgaaccounts_verification_resend",
                   {"email": f"rl_r{i}@example.com"}, source=client).status == 200
    assert api(servers[limit % 2].url, "dgaaccounts_verification_resend",
               {"email": "rl_r_over@example.com"}, source=client).error_keys() == {"rate_limit"}
    developer_request("rl_pending", "rl_pending@example.com")
    outbox = count("dgaaccounts_outbox")
    for i in range(limit):
        assert api(servers[i % 2].url, "dgaaccounts_verification_resend",
                   {"email": "rl_pending@example.com"}, source=new_client()).status == 200
    over = api(servers[limit % 2].url, "dgaaccounts_verification_resend",
               {"email": "RL_pending@example.com "}, source=new_client())
    assert over.error_keys() == {"rate_limit"}
    assert count("dgaaccounts_outbox") == outbox + limit, "the refused resend sent nothing"


def test_verification_attempts_are_limited_per_client(servers):
    limit, client = servers.rate_limit, new_client()
    dev = developer_request("rl_verify", "rl_verify@example.com")
    for i in range(limit):
        answer = api(servers[i % 2].url, "dgaaccounts_email_verify",
                     {"token": f"guess-{i}"}, source=client)
        assert answer.error_keys() == {"token"}
    # Over the limit, even the right token is refused, and not used up...
    refused = api(servers[limit % 2].url, "dgaaccounts_email_verify", {"token": dev["verify"]},
                  source=client)
    assert refused.error_keys() == {"rate_limit"}
    model.Session.remove()
    assert model.Session.get(Request, dev["id"]).state == "awaiting_verification"
    # ...so another client (the real owner) can still use it.
    ok = api(servers[0].url, "dgaaccounts_email_verify", {"token": dev["verify"]},
             source=new_client())
    assert ok.status == 200
    assert ok.json["result"]["api_token"]


def test_uploads_are_limited_per_request_and_per_client(servers):
    limit = servers.rate_limit
    factories.Organization(name="dga")
    reqs = [agency_request(f"rl_up{i}", f"rl_up{i}@dga.or.th") for i in range(limit + 2)]
    first, client = reqs[0], new_client()
    for i in range(limit):
        bad = api(servers[i % 2].url, "dgaaccounts_request_document_upload",
                  {"id": first["id"], "token": first["token"]},
                  files={"signed_form": ("form.pdf", b"<html>not a scan</html>")},
                  source=client)
        assert bad.error_keys() == {"signed_form"}
    for source in (client, new_client()):  # per request: any client
        over = api(servers[1].url, "dgaaccounts_request_document_upload",
                   {"id": first["id"], "token": first["token"]},
                   files={"signed_form": ("form.pdf", PDF)}, source=source)
        assert over.error_keys() == {"rate_limit"}
    assert count("dgaaccounts_document") == 0
    assert not os.path.isdir(servers.storage_path) or stored_files(servers.storage_path) == []
    # Per client: one upload to each of several requests.
    other = new_client()
    statuses = []
    for i, req in enumerate(reqs[1:]):
        answer = api(servers[i % 2].url, "dgaaccounts_request_document_upload",
                     {"id": req["id"], "token": req["token"]},
                     files={"signed_form": ("form.pdf", PDF)}, source=other)
        statuses.append(answer.status)
    assert statuses == [200] * limit + [409]
    model.Session.remove()
    assert model.Session.query(Document).count() == limit
    assert model.Session.get(Request, reqs[-1]["id"]).state == "awaiting_document"

