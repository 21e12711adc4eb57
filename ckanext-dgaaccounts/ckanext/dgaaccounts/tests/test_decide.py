"""Decisions from the email: the links of the notification emails (new request, escalation) and
the confirmation page they open (views_decide.py), through CKAN's test app signed in by its
login form and a real SMTP server on loopback."""
from __future__ import annotations

import re
from typing import Any

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import escalation, mail, workflow
from ckanext.dgaaccounts.model import AuditEvent, Request
from ckanext.dgaaccounts.tests.conftest import csrf_token, sign_in, snapshot
from ckanext.dgaaccounts.tests.logic.test_delegation import submitted_registration

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins"),
]

PASSWORD = "Decide-Passw0rd-2026"
LINK = re.compile(r"(https?://\S+/dgaaccounts/decide/(\S+)/(\w+))")


class World:
    def __init__(self, app: Any) -> None:
        factories.Sysadmin(name="root", email="root@dga.or.th", password=PASSWORD,
                           plugin_extras={"dgaaccounts": {"locale": "th"}})
        factories.Sysadmin(name="boss", email="boss@dga.or.th", password=PASSWORD,
                           plugin_extras={"dgaaccounts": {"locale": "en"}})
        for name in ("dga_admin", "nso_admin", "officer"):
            factories.User(name=name, email=f"{name}@dga.or.th", password=PASSWORD)
        factories.Organization(name="dga", title="DGA", users=[
            {"name": "dga_admin", "capacity": "admin"}, {"name": "officer", "capacity": "editor"}])
        factories.Organization(name="nso", title="NSO", users=[
            {"name": "nso_admin", "capacity": "admin"}])
        self.app = app

    def request(self, name: str = "somchai", org: str = "dga") -> str:
        return submitted_registration(name, org)

    def browser(self, name: str) -> Any:
        return sign_in(self.app, name, PASSWORD)

    @staticmethod
    def mode(mode: str, org: str = "dga") -> None:
        helpers.call_action("dgaaccounts_approval_mode_update", organization=org, mode=mode)


@pytest.fixture
def world(clean_db, app) -> World:
    return World(app)


def path(request_id: str, event: str) -> str:
    return f"/dgaaccounts/decide/{request_id}/{event}"


def state(request_id: str) -> str:
    model.Session.expire_all()
    return model.Session.get(Request, request_id).state


def trail(request_id: str) -> list[tuple[str, str | None]]:
    model.Session.expire_all()
    return [(e.action, e.actor_id) for e in model.Session.query(AuditEvent).filter(
        AuditEvent.request_id == request_id).order_by(AuditEvent.id)]


def unchanged() -> Any:
    snap = snapshot()
    return snap["tables"], snap["members"]


def submit(client: Any, request_id: str, event: str, **data: Any) -> Any:
    page = client.get(path(request_id, event))
    assert page.status_code == 200, page.body
    return client.post(path(request_id, event), data={
        "_csrf_token": csrf_token(page.body), **data}, follow_redirects=False)


# -- the emails ---------------------------------------------------------------------------------

class TestEmailLinks:
    def test_the_new_request_email_links_each_decision_in_the_recipients_language(
            self, world, smtp, deliver):
        request_id = world.request()
        deliver()
        th = smtp.body(smtp.to("root@dga.or.th")[-1])
        en = smtp.body(smtp.to("boss@dga.or.th")[-1])
        site = tk.config["ckan.site_url"].rstrip("/")
        for event in ("approve", "return", "reject"):
            # Thai is not the default language of the test site: its links carry /th.
            assert f"/th/dgaaccounts/decide/{request_id}/{event}" in th
            assert f"/dgaaccounts/decide/{request_id}/{event}" in en
            assert f"/th/dgaaccounts/decide/{request_id}/{event}" not in en
        assert {m.group(3) for m in LINK.finditer(en)} == {"approve", "return", "reject"}
        assert "Or decide here" in en
        assert "Or decide here" not in th
        assert "อนุมัติ" in th  # "Approve" in Thai
        assert all(url.startswith(site) for url, _i, _e in LINK.findall(th + en))
        assert "token=" not in th + en  # nothing secret: the page needs a sign-in

    def test_organization_admins_get_the_endorsement_links_in_endorse_mode(
            self, world, smtp, deliver):
        world.mode("endorse")
        request_id = world.request()
        deliver()
        body = smtp.body(smtp.to("dga_admin@dga.or.th")[-1])
        assert [m.group(3) for m in LINK.finditer(body)] == ["endorse", "decline"]
        assert all(m.group(2) == request_id for m in LINK.finditer(body))

    def test_delegated_admins_get_the_decision_links(self, world, smtp, deliver):
        world.mode("delegated")
        world.request()
        deliver()
        body = smtp.body(smtp.to("dga_admin@dga.or.th")[-1])
        assert {m.group(3) for m in LINK.finditer(body)} == {"approve", "return", "reject"}

    def test_the_escalation_email_links_the_decisions(self, world, smtp, deliver):
        request_id = world.request()
        deliver()
        req = model.Session.get(Request, request_id)
        escalation.escalate(now=escalation.threshold_of(req))
        deliver()
        en = [m for m in smtp.to("boss@dga.or.th") if "Escalated" in m["Subject"]]
        assert en, [m["Subject"] for m in smtp.to("boss@dga.or.th")]
        body = smtp.body(en[-1])
        assert {m.group(3) for m in LINK.finditer(body)} == {"approve", "return", "reject"}

    def test_no_decision_links_once_the_request_is_decided(self, world):
        request_id = world.request()
        helpers.call_action("dgaaccounts_request_reject", context={"user": "root"},
                            id=request_id, reason="ไม่ใช่เจ้าหน้าที่")
        req = model.Session.get(Request, request_id)
        assert mail.decide_links("new_request", req, "http://x") == []
        assert mail.decide_links("approved", req, "http://x") == []


# -- the page -------------------------------------------------------------------------------------

class TestSignIn:
    def test_anonymous_goes_to_the_login_and_back_to_the_page(self, world):
        request_id = world.request()
        client = world.app.test_client()
        resp = client.get(path(request_id, "approve"), follow_redirects=False)
        assert resp.status_code == 302
        assert "/user/login" in resp.headers["Location"]
        assert "came_from=" in resp.headers["Location"]
        login = client.get(resp.headers["Location"])
        back = client.post(resp.headers["Location"], data={
            "_csrf_token": csrf_token(login.body), "login": "root", "password": PASSWORD},
            follow_redirects=False)
        assert back.headers["Location"].endswith(path(request_id, "approve"))
        page = client.get(back.headers["Location"])
        assert page.status_code == 200
        assert 'id="dgaaccounts-decide-form"' in page.body

    def test_anonymous_post_changes_nothing(self, world):
        request_id = world.request()
        before = unchanged()
        resp = world.app.test_client().post(path(request_id, "approve"), data={})
        assert resp.status_code in (400, 403)
        assert unchanged() == before

    def test_a_user_who_may_not_decide_gets_a_clear_403(self, world):
        request_id = world.request()
        for name in ("officer", "dga_admin", "nso_admin"):  # dga: central mode
            resp = world.browser(name).get(path(request_id, "approve"))
            assert resp.status_code == 403, name
            assert "You cannot decide on this request" in resp.body

    def test_the_organization_admin_is_told_why_the_sysadmins_decide(self, world):
        world.mode("endorse")
        request_id = world.request()
        resp = world.browser("dga_admin").get(path(request_id, "approve"))
        assert resp.status_code == 403
        assert "decided by the portal&#39;s sysadmins" in resp.body or (
            "decided by the portal's sysadmins" in resp.body)
        other = world.browser("nso_admin").get(path(request_id, "endorse"))
        assert other.status_code == 403


class TestPage:
    def test_get_shows_the_request_and_changes_nothing(self, world):
        request_id = world.request()
        reference = model.Session.get(Request, request_id).reference
        client = world.browser("root")
        before, audit = unchanged(), trail(request_id)
        for event in ("approve", "return", "reject"):
            page = client.get(path(request_id, event))
            assert page.status_code == 200
            assert reference in page.body
            assert "somchai" in page.body
            assert f'data-event="{event}"' in page.body
            title = re.search(r"<title>\s*(.*?)\s*</title>", page.body, re.S).group(1)
            assert title.startswith(f"{reference} - ") or f": {reference} - " in title
            assert " -  - " not in title
            assert "- -" not in title
        assert unchanged() == before
        assert trail(request_id) == audit
        assert state(request_id) == workflow.SUBMITTED

    def test_the_page_asks_for_what_each_decision_needs(self, world):
        request_id = world.request()
        client = world.browser("root")
        approve = client.get(path(request_id, "approve")).body
        assert 'name="role"' in approve
        assert 'value="admin"' in approve
        assert 'name="reason"' not in approve
        for event in ("return", "reject"):
            assert 'name="reason"' in client.get(path(request_id, event)).body
        assert 'name="confirm"' in client.get(path(request_id, "reject")).body

    def test_an_organization_admin_may_grant_at_most_editor(self, world):
        world.mode("delegated")
        request_id = world.request()
        page = world.browser("dga_admin").get(path(request_id, "approve")).body
        assert 'value="editor"' in page
        assert 'value="member"' in page
        assert 'value="admin"' not in page

    def test_unknown_request_and_unknown_event_are_404(self, world):
        request_id = world.request()
        client = world.browser("root")
        assert client.get(path("no-such-request", "approve")).status_code == 404
        assert client.get(path(request_id, "delete")).status_code == 404
        assert client.get(path(request_id, "withdraw")).status_code == 404  # not a decision

    def test_an_event_not_allowed_in_the_state_shows_a_clear_page(self, world):
        result = helpers.call_action("dgaaccounts_agency_register", **_registration("somsak"))
        page = world.browser("root").get(path(result["request_id"], "approve"))
        assert page.status_code == 200
        assert 'id="dgaaccounts-decide-closed"' in page.body
        assert "cannot be taken while the request is" in page.body
        assert 'id="dgaaccounts-decide-form"' not in page.body

    def test_a_decided_request_says_by_whom_and_when(self, world):
        request_id = world.request()
        helpers.call_action("dgaaccounts_request_reject", context={"user": "boss"},
                            id=request_id, reason="ไม่ใช่เจ้าหน้าที่")
        page = world.browser("root").get(path(request_id, "approve"))
        assert page.status_code == 200
        assert "This decision can no longer be taken: Rejected by boss" in page.body
        assert 'id="dgaaccounts-decide-form"' not in page.body


class TestPost:
    def test_the_sysadmin_approves_and_lands_on_the_review_page(self, world):
        request_id = world.request()
        resp = submit(world.browser("root"), request_id, "approve", role="member",
                      note="ตรวจแล้ว")
        assert resp.status_code == 302
        assert resp.headers["Location"].endswith(f"/ckan-admin/dgaaccounts/request/{request_id}")
        assert state(request_id) == workflow.APPROVED
        root = model.User.by_name("root")
        assert ("approve", root.id) in trail(request_id)
        member = model.Session.query(model.Member).filter(
            model.Member.table_id == model.User.by_name("somchai").id,
            model.Member.state == "active").one()
        assert member.capacity == "member"

    def test_a_reason_is_required_and_nothing_changes_without_it(self, world):
        request_id = world.request()
        client = world.browser("root")
        before = unchanged()
        for event in ("reject", "return"):
            resp = submit(client, request_id, event, reason="  ", confirm="yes")
            assert resp.status_code == 302
            assert resp.headers["Location"].endswith(path(request_id, event))
            assert "give the reason" in client.get(resp.headers["Location"]).body
        assert unchanged() == before

    def test_a_rejection_needs_the_box_ticked(self, world):
        request_id = world.request()
        client = world.browser("root")
        before = unchanged()
        resp = submit(client, request_id, "reject", reason="ไม่ใช่เจ้าหน้าที่")
        assert resp.headers["Location"].endswith(path(request_id, "reject"))
        assert unchanged() == before
        resp = submit(client, request_id, "reject", reason="ไม่ใช่เจ้าหน้าที่", confirm="yes")
        assert resp.headers["Location"].endswith(f"/ckan-admin/dgaaccounts/request/{request_id}")
        assert state(request_id) == workflow.REJECTED

    def test_the_organization_admin_endorses_and_declines_through_the_actions(self, world):
        world.mode("endorse")
        first, second = world.request(), world.request("somsri")
        client = world.browser("dga_admin")
        resp = submit(client, first, "endorse", note="ทำงานที่นี่")
        assert resp.headers["Location"].endswith(f"/organization/requests/dga/{first}")
        resp = submit(client, second, "decline", reason="ไม่รู้จัก")
        assert resp.status_code == 302
        model.Session.expire_all()
        assert model.Session.get(Request, first).endorsement == workflow.ENDORSED
        assert model.Session.get(Request, second).endorsement == workflow.DECLINED
        # Answered once: the link now says so.
        again = client.get(path(first, "decline"))
        assert 'id="dgaaccounts-decide-closed"' in again.body
        assert "Endorsed by the organization by dga_admin" in again.body

    def test_a_post_without_the_csrf_token_changes_nothing(self, world):
        request_id = world.request()
        client = world.browser("root")
        before = unchanged()
        resp = client.post(path(request_id, "approve"), data={"role": "member"})
        assert resp.status_code in (400, 403)
        assert unchanged() == before

    def test_a_post_on_a_decided_request_changes_nothing(self, world):
        request_id = world.request()
        client = world.browser("root")
        token = csrf_token(client.get(path(request_id, "approve")).body)
        helpers.call_action("dgaaccounts_request_reject", context={"user": "boss"},
                            id=request_id, reason="ไม่ใช่เจ้าหน้าที่")
        before = unchanged()
        resp = client.post(path(request_id, "approve"), data={"_csrf_token": token})
        assert resp.status_code == 200
        assert 'id="dgaaccounts-decide-closed"' in resp.body
        assert unchanged() == before
        assert state(request_id) == workflow.REJECTED


def _registration(name: str) -> dict[str, Any]:
    from ckanext.dgaaccounts.tests.conftest import registration

    return registration(name=name, email=f"{name}@dga.or.th", organization="dga",
                        agency_name="")
