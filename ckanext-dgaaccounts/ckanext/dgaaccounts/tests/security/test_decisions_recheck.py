"""A decision re-checks the world at decision time, and the last-sysadmin guard holds under
concurrency.

A request waits days for its decision; meanwhile a sysadmin may delete the account or the
organization through CKAN. Every decision is refused with a field error then, and changes
nothing. The approve page makes the sysadmin choose the organization. Two sysadmins approving
each other's cancellation (or suspension) at the same moment leave one of them.
"""
from __future__ import annotations

import html
import re
import threading
from typing import Any

import pytest
import sqlalchemy as sa

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import account
from ckanext.dgaaccounts.model import Request
from ckanext.dgaaccounts.tests.conftest import PDF
from ckanext.dgaaccounts.tests.security.conftest import (
    account_request, agency_request, csrf_token, decide, sign_in, snapshot,
)

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db", "_no_rate_limit"),
]

PASSWORD = "Decide-Passw0rd-55"


@pytest.fixture
def root() -> dict[str, Any]:
    return factories.Sysadmin(name="d_root", email="d_root@dga.or.th", password=PASSWORD)


def _refused(sysadmin: str, decision: str, request_id: str, field: str, **extra: Any) -> None:
    before = snapshot()
    with pytest.raises(tk.ValidationError) as err:
        decide(sysadmin, decision, request_id, **extra)
    assert field in err.value.error_dict, err.value.error_dict
    assert snapshot() == before, "a refused decision changed something"


def _delete_user(sysadmin: str, user_id: str) -> None:
    helpers.call_action("user_delete", context={"user": sysadmin}, id=user_id)


@pytest.mark.parametrize("decision", ["approve", "reject", "return"])
def test_decision_on_a_deleted_applicant_is_refused(root, decision):
    factories.Organization(name="dga")
    req = agency_request("d_gone", "d_gone@dga.or.th", document=PDF)
    _delete_user(root["name"], req["user_id"])
    _refused(root["name"], decision, req["id"], "account")
    assert model.User.get(req["user_id"]).state == "deleted"
    assert model.Session.get(Request, req["id"]).state == "submitted"


def test_approval_of_a_suspended_applicant_account_is_refused(root):
    factories.Organization(name="dga")
    req = agency_request("d_susp", "d_susp@dga.or.th", document=PDF)
    user = model.Session.get(model.User, req["user_id"])
    account.suspend(user)
    model.Session.commit()
    _refused(root["name"], "approve", req["id"], "account")


def test_approval_after_the_applicants_organization_was_deleted_is_refused(root):
    org = factories.Organization(name="dga")
    req = agency_request("d_orgless", "d_orgless@dga.or.th", document=PDF)
    helpers.call_action("organization_delete", context={"user": root["name"]}, id=org["id"])
    _refused(root["name"], "approve", req["id"], "organization")
    assert model.User.get(req["user_id"]).state == "pending"


def test_approval_into_a_group_that_is_not_an_organization_is_refused(root):
    factories.Organization(name="dga")
    group = factories.Group(name="not-an-org")
    req = agency_request("d_group", "d_group@dga.or.th", document=PDF)
    _refused(root["name"], "approve", req["id"], "organization", organization=group["id"])


@pytest.mark.parametrize("kind", ["cancellation", "suspension"])
@pytest.mark.parametrize("decision", ["approve", "reject", "return"])
def test_decision_on_an_account_request_of_a_deleted_account_is_refused(root, kind, decision):
    factories.User(name="d_leaver", password=PASSWORD)
    req = account_request("d_leaver", kind, document=PDF)
    _delete_user(root["name"], req["user_id"])
    _refused(root["name"], decision, req["id"], "account")


def test_a_new_agency_is_approved_only_into_an_organization_the_sysadmin_chose(app, root):
    """The applicant named an agency not on the portal: the approve form selects nothing, is
    required, and a form sent without an organization changes nothing."""
    factories.Organization(name="aaa-first", title="AAA First Agency")
    factories.Organization(name="dga", title="DGA")
    req = _new_agency_request("d_newagency", "d_newagency@dga.or.th")
    browser = sign_in(app, root["name"], PASSWORD)
    page = browser.get(f"/ckan-admin/dgaaccounts/request/{req['id']}").body
    select = re.search(r'<select[^>]*name="organization"[^>]*>(.*?)</select>', page, re.S)
    assert select
    assert "required" in select.group(0)
    options = re.findall(r'<option value="([^"]*)"\s*(selected)?', select.group(1))
    chosen = next((v for v, sel in options if sel), options[0][0])  # what a browser sends
    assert chosen == ""
    before = snapshot()
    resp = browser.post(f"/ckan-admin/dgaaccounts/request/{req['id']}/approve",
                        data={"_csrf_token": csrf_token(page), "organization": chosen,
                              "role": "editor"}, follow_redirects=True)
    assert resp.status_code == 200
    assert "Choose the organization" in html.unescape(resp.body)
    assert snapshot() == before
    # Chosen explicitly, it works.
    org = model.Group.get("dga")
    browser.post(f"/ckan-admin/dgaaccounts/request/{req['id']}/approve",
                 data={"_csrf_token": csrf_token(page), "organization": org.id,
                       "role": "editor"})
    model.Session.expire_all()
    assert model.Session.get(Request, req["id"]).state == "approved"
    assert [g.name for g in model.User.get(req["user_id"]).get_groups("organization")] == ["dga"]


def _new_agency_request(name: str, email: str) -> dict[str, Any]:
    """A submitted registration naming an agency that is not on the portal."""
    from ckanext.dgaaccounts import tokens
    from ckanext.dgaaccounts.tests.conftest import Upload, registration

    anonymous = {"user": "", "ignore_auth": False}
    result = helpers.call_action(
        "dgaaccounts_agency_register", context=dict(anonymous),
        **registration(name=name, email=email, agency_name="New Agency"),
        signed_form=Upload(PDF, "signed.pdf"))
    req = model.Session.get(Request, result["request_id"])
    secret = tokens.mint(req, tokens.VERIFY)
    model.Session.commit()
    helpers.call_action("dgaaccounts_email_verify", context=dict(anonymous), token=secret)
    req = model.Session.get(Request, result["request_id"])
    assert req.organization_id is None
    assert req.state == "submitted"
    return {"id": req.id, "user_id": req.user_id}


def test_applicants_own_organization_is_preselected(app, root):
    factories.Organization(name="aaa-first", title="AAA First Agency")
    org = factories.Organization(name="dga", title="DGA")
    req = agency_request("d_known", "d_known@dga.or.th", document=PDF)
    page = sign_in(app, root["name"], PASSWORD).get(
        f"/ckan-admin/dgaaccounts/request/{req['id']}").body
    assert re.search(rf'<option value="{org["id"]}"\s*selected', page)
    assert not re.search(r'<option value=""\s*selected', page)


# -- the last-sysadmin guard under concurrency -----------------------------------------------

def _someone_waits_for_a_lock(conn: Any) -> bool:
    return conn.execute(sa.text(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE NOT l.granted AND a.datname = current_database()")).scalar() > 0


@pytest.mark.parametrize("kind", ["cancellation", "suspension"])
def test_two_sysadmins_closing_each_other_at_once_leave_one(app, monkeypatch, kind):
    """Each approval, once past the last-sysadmin check, waits until the other approval has
    either passed its check too (no serialization: both would win) or is blocked on a lock
    (serialized: it will count after this one commits). No sleeps decide the outcome."""
    factories.Sysadmin(name="d_alpha", password=PASSWORD)
    factories.Sysadmin(name="d_beta", password=PASSWORD)
    for_alpha = account_request("d_alpha", kind, document=PDF)
    for_beta = account_request("d_beta", kind, document=PDF)
    model.Session.remove()

    real = account.cancel if kind == "cancellation" else account.suspend
    past_check: list[str] = []
    cond = threading.Condition()

    def held_after_the_check(user: model.User) -> dict[str, int]:
        with cond:
            past_check.append(user.name)
            cond.notify_all()
        with model.meta.engine.connect() as watcher:
            for _ in range(3000):  # a minute at most: a hang fails, never passes
                with cond:
                    if len(past_check) == 2:
                        break
                if _someone_waits_for_a_lock(watcher):
                    break
                with cond:
                    cond.wait(0.02)
            else:
                raise AssertionError("neither the other approval nor a lock came")
        return real(user)

    monkeypatch.setattr(account, kind == "cancellation" and "cancel" or "suspend",
                        held_after_the_check)
    outcomes: dict[str, Any] = {}
    start = threading.Barrier(2)

    def approve(actor: str, request_id: str) -> None:
        with app.flask_app.test_request_context():
            try:
                start.wait(timeout=30)
                outcomes[actor] = decide(actor, "approve", request_id)
            except Exception as exc:  # noqa: BLE001 - asserted below
                outcomes[actor] = exc
            finally:
                model.Session.remove()

    threads = [threading.Thread(target=approve, args=("d_beta", for_alpha["id"])),
               threading.Thread(target=approve, args=("d_alpha", for_beta["id"]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    model.Session.remove()

    refused = [o for o in outcomes.values() if isinstance(o, Exception)]
    assert len(outcomes) == 2
    assert len(refused) == 1, outcomes
    assert isinstance(refused[0], tk.ValidationError)
    assert "id" in refused[0].error_dict
    active = model.Session.query(model.User).filter(
        model.User.sysadmin.is_(True), model.User.state == "active",
        model.User.name.in_(["d_alpha", "d_beta"])).count()
    assert active == 1
