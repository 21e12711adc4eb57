"""Races over real concurrent HTTP connections to two CKAN web processes.

Each trial releases two requests at the same instant (a thread barrier), one to each process,
which share PostgreSQL: two sysadmins deciding the same request, the same email registered twice,
the same verification link used twice. Whatever the interleaving, each request is decided once,
one address makes one account, one link makes one API token, and no answer is a 500.
"""
from __future__ import annotations

import itertools
from typing import Any

import pytest

import sqlalchemy as sa

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories

from ckanext.dgaaccounts.model import Request
from ckanext.dgaaccounts.tests.conftest import PDF, registration
from ckanext.dgaaccounts.tests.security.conftest import (
    agency_request, api, clear_rate_limits, count, developer_request, together,
)

pytestmark = [pytest.mark.stress, pytest.mark.usefixtures("plugin_loaded", "clean_db")]

TRIALS = 6
_clients = itertools.count(10)


def _client() -> str:
    n = next(_clients)
    return f"127.1.{n // 250}.{n % 250 + 2}"


@pytest.fixture
def servers(ckan_servers):
    clear_rate_limits()
    return ckan_servers


@pytest.fixture
def site_user() -> None:
    """CKAN makes its site user on first use; a portal in service has it long since."""
    from ckan.tests import helpers

    helpers.call_action("get_site_user")
    model.Session.commit()


def test_two_sysadmins_deciding_the_same_requests_decide_each_once(servers):
    org = factories.Organization(name="dga")
    first, second = factories.SysadminWithToken(), factories.SysadminWithToken()
    reqs = [agency_request(f"race_a{i}", f"race_a{i}@dga.or.th", document=PDF)
            for i in range(TRIALS)]
    outcomes = []
    for i, req in enumerate(reqs):
        # Half the trials: both approve (a double click by two people); half: approve/reject.
        other = "approve" if i % 2 else "reject"
        answers = together(
            lambda r=req: api(servers[0].url, "dgaaccounts_request_approve",
                              {"id": r["id"], "role": "editor"}, token=first["token"]),
            lambda r=req, o=other: api(servers[1].url, f"dgaaccounts_request_{o}",
                                       {"id": r["id"], "reason": "ซ้ำ"}, token=second["token"]),
        )
        outcomes.append((req, other, answers))

    for req, other, (approve, decision) in outcomes:
        statuses = sorted([approve.status, decision.status])
        assert statuses == [200, 409], (approve.body, decision.body)
        loser = approve if approve.status == 409 else decision
        assert loser.error_keys() == {"state"}
        winner = "approve" if approve.status == 200 else other
        state = {"approve": "approved", "reject": "rejected"}[winner]
        rid = req["id"]
        assert count("dgaaccounts_request", "id = :i AND state = :s", i=rid, s=state) == 1
        assert count("dgaaccounts_audit", "request_id = :i AND action IN ('approve', 'reject')",
                     i=rid) == 1
        assert count("dgaaccounts_outbox", "request_id = :i AND template IN "
                     "('approved', 'rejected')", i=rid) == 1
        members = count("member", "table_id = :u AND group_id = :g AND state = 'active'",
                        u=req["user_id"], g=org["id"])
        assert members == (1 if state == "approved" else 0)
        model.Session.remove()
        assert model.Session.get(model.User, req["user_id"]).state == (
            "active" if state == "approved" else "deleted")


def _sign_up(action: str, name: str, email: str) -> dict[str, Any]:
    if action == "dgaaccounts_agency_register":
        return registration(name=name, email=email)
    return {"name": name, "fullname": "Race", "email": email, "password": "Dev-Passw0rd-42"}


@pytest.mark.parametrize(("action", "same_name"), [
    ("dgaaccounts_agency_register", False),
    ("dgaaccounts_agency_register", True),
    ("dgaaccounts_developer_register", False),
    ("dgaaccounts_developer_register", True),
], ids=["agency-two-usernames", "agency-double-click", "developer-two-usernames",
        "developer-double-click"])
def test_the_same_email_registered_twice_at_once_makes_one_account(servers, site_user, action,
                                                                   same_name):
    for trial in range(TRIALS):
        clear_rate_limits()
        tag = f"{action[12:15]}{int(same_name)}{trial}"
        email = f"race_{tag}@dga.or.th"
        bodies = [_sign_up(action, f"race_{tag}" if same_name else f"race_{tag}_{n}", email)
                  for n in (1, 2)]
        answers = together(*[
            lambda s=server, b=body: api(s.url, action, b, source=_client())
            for server, body in zip(servers, bodies, strict=True)])
        statuses = [a.status for a in answers]
        assert all(s in (200, 409) for s in statuses), (trial, statuses, answers[0].body[:300],
                                                        answers[1].body[:300])
        assert 200 in statuses
        for answer in answers:
            if answer.status == 409:
                assert answer.error_keys() <= {"email", "name"}, answer.json
        if statuses == [200, 200]:  # a developer's second sign-up resends the first one's link
            ids = {a.json["result"]["request_id"] for a in answers}
            assert len(ids) == 1
        assert count('"user"', "lower(email) = :e AND state IN ('pending', 'active')",
                     e=email) == 1
        assert count("dgaaccounts_request", "email = :e", e=email) == 1


@pytest.mark.parametrize("kind", ["developer", "agency"])
def test_the_same_link_used_twice_at_once_works_once(servers, site_user, kind):
    if kind == "agency":
        factories.Organization(name="dga")
    for trial in range(TRIALS):
        clear_rate_limits()
        if kind == "developer":
            req = developer_request(f"race_v{trial}", f"race_v{trial}@example.com")
        else:
            req = agency_request(f"race_g{trial}", f"race_g{trial}@dga.or.th", verify=False)
        answers = together(*[
            lambda s=server, t=req["verify"]: api(s.url, "dgaaccounts_email_verify",
                                                  {"token": t}, source=_client())
            for server in servers])
        statuses = sorted(a.status for a in answers)
        assert statuses == [200, 409], [a.body[:300] for a in answers]
        loser = next(a for a in answers if a.status == 409)
        assert loser.error_keys() == {"token"}
        rid = req["id"]
        assert count("dgaaccounts_audit", "request_id = :i AND action = 'verify_email'",
                     i=rid) == 1
        model.Session.remove()
        if kind == "developer":
            assert count("api_token", "user_id = :u", u=req["user_id"]) == 1
            assert count("dgaaccounts_outbox", "request_id = :i AND template = "
                         "'developer_welcome'", i=rid) == 1
            assert model.Session.get(Request, rid).state == "approved"
        else:
            assert count("dgaaccounts_outbox", "request_id = :i AND template = "
                         "'verified_agency'", i=rid) == 1
            assert model.Session.get(Request, rid).state == "awaiting_document"


def test_the_first_two_registrations_of_a_new_portal_at_once(servers):
    """On a new portal (no site user yet, as after ``ckan db init``), the first two sign-ups
    arrive together: both are registered, neither is a 500."""
    site_id = model.Session.execute(sa.text(
        "SELECT count(*) FROM \"user\" WHERE name = :n"), {"n": tk.config["ckan.site_id"]})
    assert site_id.scalar() == 0
    model.Session.rollback()
    answers = together(*[
        lambda s=server, i=i: api(s.url, "dgaaccounts_developer_register", {
            "name": f"first{i}", "fullname": "First", "email": f"first{i}@example.com",
            "password": "Dev-Passw0rd-42"}, source=_client())
        for i, server in enumerate(servers)])
    assert [a.status for a in answers] == [200, 200], [a.body[:200] for a in answers]
    assert count("dgaaccounts_request") == 2
