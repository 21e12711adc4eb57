"""The pages of delegated approval: an organization's queue and review page (a tab of its
pages) and the sysadmins' page of approval modes, through CKAN's test app with cookie sessions
signed in by CKAN's login form."""
from __future__ import annotations

from typing import Any

import pytest

import ckan.model as model
from ckan.tests import factories, helpers

from ckanext.dgaaccounts.model import Document, Request
from ckanext.dgaaccounts.tests.conftest import csrf_token, sign_in, snapshot
from ckanext.dgaaccounts.tests.logic.test_delegation import submitted_registration

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    # No with_request_context: its app context would be shared by the test client's requests,
    # and Flask-Login's user cached in ``g`` would follow one browser into the next.
    pytest.mark.usefixtures("with_plugins"),
]

PASSWORD = "Org-Passw0rd-2026"


class World:
    def __init__(self, app: Any) -> None:
        factories.Sysadmin(name="root", email="root@dga.or.th", password=PASSWORD)
        for name in ("dga_admin", "nso_admin", "officer"):
            factories.User(name=name, email=f"{name}@dga.or.th", password=PASSWORD)
        factories.Organization(name="dga", title="DGA", users=[
            {"name": "dga_admin", "capacity": "admin"},
            {"name": "officer", "capacity": "editor"}])
        factories.Organization(name="nso", title="NSO", users=[
            {"name": "nso_admin", "capacity": "admin"}])
        self.dga_request = submitted_registration("somchai", "dga")
        self.nso_request = submitted_registration("somsri", "nso")
        self.reference = model.Session.get(Request, self.dga_request).reference
        self.nso_reference = model.Session.get(Request, self.nso_request).reference
        self.app = app

    def browser(self, name: str) -> Any:
        return sign_in(self.app, name, PASSWORD)

    @staticmethod
    def mode(mode: str, org: str = "dga") -> None:
        helpers.call_action("dgaaccounts_approval_mode_update", organization=org, mode=mode)


@pytest.fixture
def world(clean_db, app) -> World:
    return World(app)


def post(client: Any, path: str, page: str, **data: Any) -> Any:
    token = csrf_token(client.get(page).body)
    return client.post(path, data={"_csrf_token": token, **data}, follow_redirects=False)


def _state(request_id: str) -> dict[str, Any]:
    model.Session.expire_all()
    return model.Session.get(Request, request_id).as_dict()


class TestQueue:
    def test_the_tab_and_the_queue_show_the_organizations_requests_only(self, world):
        world.mode("delegated")
        client = world.browser("dga_admin")
        read = client.get("/organization/dga").body
        assert "/organization/requests/dga" in read
        page = client.get("/organization/requests/dga")
        assert page.status_code == 200
        assert world.reference in page.body
        assert world.nso_reference not in page.body
        assert 'data-mode="delegated"' in page.body

    def test_in_central_mode_there_is_no_tab_and_no_queue_for_the_admins(self, world):
        client = world.browser("dga_admin")
        assert "/organization/requests/dga" not in client.get("/organization/dga").body
        assert client.get("/organization/requests/dga").status_code == 403
        # Sysadmins see every organization's queue.
        root = world.browser("root")
        assert "/organization/requests/dga" in root.get("/organization/dga").body
        assert world.reference in root.get("/organization/requests/dga").body

    def test_another_organizations_admin_and_an_editor_are_refused(self, world):
        world.mode("delegated")
        assert world.browser("nso_admin").get("/organization/requests/dga").status_code == 403
        assert world.browser("officer").get("/organization/requests/dga").status_code == 403
        # signed out (a link from an email): the login page first, then back here
        signed_out = world.app.get("/organization/requests/dga", follow_redirects=False)
        assert signed_out.status_code == 302
        assert "/user/login" in signed_out.headers["Location"]
        assert "came_from=/organization/requests/dga" in signed_out.headers["Location"]
        assert world.browser("dga_admin").get(
            "/organization/requests/no-such-org").status_code == 404


class TestReview:
    def test_the_review_page_has_the_scan_history_and_the_delegated_decisions(self, world):
        world.mode("delegated")
        client = world.browser("dga_admin")
        page = client.get(f"/organization/requests/dga/{world.dga_request}").body
        doc = model.Session.query(Document.id).filter(
            Document.request_id == world.dga_request).scalar()
        assert f"/dgaaccounts/request/{world.dga_request}/document/{doc}" in page
        assert 'id="dgaaccounts-history"' in page
        assert 'id="dgaaccounts-approve"' in page
        assert 'id="dgaaccounts-reject"' in page
        assert 'value="admin"' not in page  # only member or editor to grant
        assert 'id="dgaaccounts-endorse"' not in page
        # The scan itself opens for the organization's admin.
        assert client.get(f"/dgaaccounts/request/{world.dga_request}/document/{doc}"
                          ).status_code == 200

    def test_an_organization_admin_approves_from_the_page(self, world):
        world.mode("delegated")
        client = world.browser("dga_admin")
        page = f"/organization/requests/dga/{world.dga_request}"
        resp = post(client, f"{page}/approve", page, role="editor", note="ok")
        assert resp.status_code == 302
        assert _state(world.dga_request)["state"] == "approved"
        assert "approved" in client.get(page).body

    def test_a_crafted_admin_role_is_refused_and_changes_nothing(self, world):
        world.mode("delegated")
        client = world.browser("dga_admin")
        page = f"/organization/requests/dga/{world.dga_request}"
        token = csrf_token(client.get(page).body)
        before = snapshot()
        resp = client.post(f"{page}/approve", data={"_csrf_token": token, "role": "admin"})
        assert resp.status_code == 403
        assert snapshot() == before

    def test_endorse_mode_shows_endorse_and_decline_and_records_the_answer(self, world):
        world.mode("endorse")
        client = world.browser("dga_admin")
        page = f"/organization/requests/dga/{world.dga_request}"
        body = client.get(page).body
        assert 'id="dgaaccounts-endorse"' in body
        assert 'id="dgaaccounts-decline"' in body
        assert 'id="dgaaccounts-approve"' not in body
        post(client, f"{page}/endorse", page, note="เจ้าหน้าที่ของเรา")
        assert _state(world.dga_request)["endorsement"] == "endorsed"
        assert 'data-endorsement="endorsed"' in client.get(page).body
        # The sysadmins' page shows the agency's answer too.
        admin_page = world.browser("root").get(
            f"/ckan-admin/dgaaccounts/request/{world.dga_request}").body
        assert 'data-endorsement="endorsed"' in admin_page

    def test_a_request_is_reached_under_its_own_organization_only(self, world):
        world.mode("delegated")
        world.mode("delegated", "nso")
        root = world.browser("root")
        assert root.get(f"/organization/requests/dga/{world.nso_request}").status_code == 404
        client = world.browser("dga_admin")
        assert client.get(f"/organization/requests/dga/{world.nso_request}").status_code == 403
        before = snapshot()
        page = f"/organization/requests/dga/{world.dga_request}"
        resp = post(client, f"/organization/requests/dga/{world.nso_request}/approve", page)
        assert resp.status_code == 403
        assert snapshot() == before

    def test_unknown_decision_is_not_found(self, world):
        world.mode("delegated")
        client = world.browser("dga_admin")
        page = f"/organization/requests/dga/{world.dga_request}"
        assert post(client, f"{page}/delete", page).status_code == 404

    def test_a_post_without_csrf_token_changes_nothing(self, world):
        world.mode("delegated")
        client = world.browser("dga_admin")
        before = snapshot()
        resp = client.post(f"/organization/requests/dga/{world.dga_request}/approve",
                           data={"role": "editor"})
        assert resp.status_code in (400, 403)
        assert snapshot() == before


class TestModesPage:
    def test_sysadmin_sets_a_mode_from_the_page(self, world):
        client = world.browser("root")
        page = "/ckan-admin/dgaaccounts/approval-modes"
        body = client.get(page).body
        assert 'data-organization="dga"' in body
        assert 'data-organization="nso"' in body
        resp = post(client, f"{page}/dga", page, mode="endorse")
        assert resp.status_code == 302
        assert 'data-organization="dga" data-mode="endorse"' in client.get(page).body
        post(client, f"{page}/dga", page, mode="nonsense")
        assert 'data-organization="dga" data-mode="endorse"' in client.get(page).body

    def test_the_page_is_for_sysadmins_only(self, world):
        client = world.browser("dga_admin")
        assert client.get("/ckan-admin/dgaaccounts/approval-modes").status_code == 403
