"""One decision on several requests from the queue: each decided and audited on its own, a
failure on one reported without stopping the others; the action and the queue's pages."""
from __future__ import annotations

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import tokens
from ckanext.dgaaccounts.model import AuditEvent, OutboxMessage, Request
from ckanext.dgaaccounts.tests.conftest import PDF, Upload, csrf_token, registration, sign_in

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db"),
]

PASSWORD = "Bulk-Passw0rd-2026"
ADMIN = "/ckan-admin/dgaaccounts/decide"  # the bulk form of the sysadmins' queue
ORG = "/organization/requests/dga/decide"  # and of the DGA organization's


@pytest.fixture
def world():
    admin = factories.Sysadmin(name="bulk_admin", email="bulk_admin@dga.or.th",
                               password=PASSWORD)
    factories.Organization(name="dga", title="DGA")
    ids = [submitted(f"bulk{n}", f"bulk{n}@dga.or.th") for n in range(3)]
    return {"admin": admin, "ids": ids}


def submitted(name: str, email: str) -> str:
    result = helpers.call_action("dgaaccounts_agency_register", **registration(
        name=name, email=email, organization="dga", agency_name="",
        signed_form=Upload(PDF, "form.pdf")))
    req = model.Session.get(Request, result["request_id"])
    secret = tokens.mint(req, tokens.VERIFY)
    model.Session.commit()
    assert helpers.call_action("dgaaccounts_email_verify", token=secret)["state"] == "submitted"
    return result["request_id"]


def as_admin() -> dict:
    return {"user": "bulk_admin", "ignore_auth": False}


def states(ids: list[str]) -> list[str]:
    model.Session.expire_all()
    return [model.Session.get(Request, i).state for i in ids]


def ticked(app, name: str, queue_path: str, ids: list[str]):
    """``name`` signed in, on the queue page, where each of ``ids`` has its tick box."""
    browser = sign_in(app, name, PASSWORD)
    queue = browser.get(queue_path)
    for request_id in ids:
        assert f'name="ids" value="{request_id}"' in queue.body
    return browser, queue


def bulk_review(browser, path: str, page, ids: list[str], decision: str, **form: str):
    """The queue's bulk form sent from ``page``: the confirmation page (nothing decided yet)."""
    return browser.post(path, data={"_csrf_token": csrf_token(page.body), "ids": ids,
                                    "decision": decision, **form})


def bulk_confirm(browser, path: str, page, ids: list[str], decision: str, **form: str):
    """The confirmation page's form sent with its box ticked; the queue it leads back to."""
    return browser.post(path, data={"_csrf_token": csrf_token(page.body), "ids": ids,
                                    "decision": decision, "confirm": "yes", **form},
                        follow_redirects=True)


def roles_offered(html: str) -> list[str]:
    """The roles of the confirmation page's role box, in order ([] without the box)."""
    import re

    box = re.search(r'<select[^>]*id="field-bulk-role".*?</select>', html, re.S)
    return re.findall(r'<option value="([a-z]+)"', box.group(0)) if box else []


def capacities(organization: str, names: list[str]) -> list[str]:
    model.Session.expire_all()
    group = model.Group.get(organization)
    found = {m.table_id: m.capacity for m in model.Session.query(model.Member).filter(
        model.Member.group_id == group.id, model.Member.table_name == "user",
        model.Member.state == "active")}
    return [found.get(model.User.get(name).id, "") for name in names]


def events(action: str) -> list[str]:
    return sorted(e.request_id for e in model.Session.query(AuditEvent).filter(
        AuditEvent.action == action))


@pytest.mark.usefixtures("with_request_context")
class TestAction:
    def test_each_request_decided_and_audited_on_its_own(self, world):
        ids = world["ids"]
        result = helpers.call_action("dgaaccounts_requests_decide", context=as_admin(),
                                     ids=ids, decision="reject", reason="ไม่ใช่เจ้าหน้าที่")
        assert (result["decided"], result["failed"]) == (3, 0)
        assert [r["state"] for r in result["results"]] == ["rejected"] * 3
        assert states(ids) == ["rejected"] * 3
        assert events("reject") == sorted(ids)
        for request_id in ids:
            req = model.Session.get(Request, request_id)
            assert req.decision_note == "ไม่ใช่เจ้าหน้าที่"
            assert req.decided_by == world["admin"]["id"]
            assert model.Session.query(OutboxMessage).filter_by(
                request_id=request_id, template="rejected").count() == 1

    def test_a_failure_on_one_does_not_stop_the_others(self, world):
        first, second, third = world["ids"]
        helpers.call_action("dgaaccounts_request_return", context=as_admin(), id=second,
                            reason="สแกนไม่ชัด")
        result = helpers.call_action("dgaaccounts_requests_decide", context=as_admin(),
                                     ids=[first, second, "no-such-request", third],
                                     decision="approve", role="editor")
        assert (result["decided"], result["failed"]) == (2, 2)
        by_id = {r["id"]: r for r in result["results"]}
        assert by_id[first]["success"]
        assert by_id[third]["success"]
        assert not by_id[second]["success"]
        assert "returned for correction" in by_id[second]["error"]
        assert by_id[second]["reference"] == model.Session.get(Request, second).reference
        assert by_id["no-such-request"] == {
            "id": "no-such-request", "reference": None, "success": False,
            "error": "Request not found."}
        assert states([first, second, third]) == ["approved", "returned", "approved"]
        assert events("approve") == sorted([first, third])
        member = model.Session.query(model.Member).filter_by(
            table_id=model.Session.get(Request, first).user_id, state="active").one()
        assert member.capacity == "editor"

    def test_return_and_reject_need_a_reason_and_nothing_changes(self, world):
        for decision in ("return", "reject"):
            with pytest.raises(tk.ValidationError) as error:
                helpers.call_action("dgaaccounts_requests_decide", context=as_admin(),
                                    ids=world["ids"], decision=decision)
            assert "reason" in error.value.error_dict
        assert states(world["ids"]) == ["submitted"] * 3

    @pytest.mark.parametrize(("field", "value"), [
        ("ids", []), ("ids", 7), ("ids", [["x"]]), ("ids", ["a\nb"]), ("ids", ["x"] * 0),
        ("ids", [f"id-{n}" for n in range(101)]), ("decision", "delete"), ("decision", 1),
        ("role", "owner"),
    ])
    def test_bad_input_is_a_field_error(self, world, field, value):
        data = {"ids": world["ids"], "decision": "approve", field: value}
        with pytest.raises(tk.ValidationError) as error:
            helpers.call_action("dgaaccounts_requests_decide", context=as_admin(), **data)
        assert field in error.value.error_dict
        assert states(world["ids"]) == ["submitted"] * 3

    def test_repeated_ids_are_decided_once(self, world):
        first = world["ids"][0]
        result = helpers.call_action("dgaaccounts_requests_decide", context=as_admin(),
                                     ids=[first, first], decision="approve")
        assert [r["id"] for r in result["results"]] == [first]

    def test_others_are_refused_and_nothing_changes(self, world):
        user = factories.User()
        for context in ({"user": user["name"], "ignore_auth": False},
                        {"user": "", "ignore_auth": False}):
            with pytest.raises(tk.NotAuthorized):
                helpers.call_action("dgaaccounts_requests_decide", context=context,
                                    ids=world["ids"], decision="approve")
        assert states(world["ids"]) == ["submitted"] * 3


class TestPages:
    def test_tick_review_confirm(self, world, app):
        ids = world["ids"]
        browser, queue = ticked(app, "bulk_admin", "/ckan-admin/dgaaccounts/", ids)
        review = bulk_review(browser, ADMIN, queue, ids[:2], "return", reason="แนบหนังสือรับรอง")
        assert review.status_code == 200
        assert "dgaaccounts-bulk-confirm" in review.body
        refs = [model.Session.get(Request, i).reference for i in ids]
        assert refs[0] in review.body
        assert refs[1] in review.body
        assert refs[2] not in review.body
        assert states(ids) == ["submitted"] * 3  # the review changed nothing
        done = bulk_confirm(browser, ADMIN, review, ids[:2], "return", reason="แนบหนังสือรับรอง")
        assert done.status_code == 200
        assert states(ids) == ["returned", "returned", "submitted"]
        assert "2 requests decided. Each applicant will be emailed." in done.body

    def test_an_approval_chooses_the_role_on_the_confirmation_page(self, world, app):
        ids = world["ids"][:2]
        browser, queue = ticked(app, "bulk_admin", "/ckan-admin/dgaaccounts/", ids)
        review = bulk_review(browser, ADMIN, queue, ids, "approve")
        assert roles_offered(review.body) == ["editor", "member", "admin"]
        assert 'value="editor" selected' in review.body  # the configured default
        assert "with the role chosen below" in review.body
        done = bulk_confirm(browser, ADMIN, review, ids, "approve", role="member")
        assert done.status_code == 200
        assert states(ids) == ["approved", "approved"]
        assert capacities("dga", ["bulk0", "bulk1"]) == ["member", "member"]

    def test_no_role_to_choose_when_returning(self, world, app):
        browser, queue = ticked(app, "bulk_admin", "/ckan-admin/dgaaccounts/", world["ids"])
        review = bulk_review(browser, ADMIN, queue, world["ids"], "return", reason="แนบหนังสือรับรอง")
        assert roles_offered(review.body) == []

    def test_a_failure_is_reported_on_the_queue(self, world, app):
        ids = world["ids"]
        helpers.call_action("dgaaccounts_request_approve", context=as_admin(), id=ids[0])
        browser = sign_in(app, "bulk_admin", PASSWORD)
        queue = browser.get("/ckan-admin/dgaaccounts/")
        done = bulk_confirm(browser, ADMIN, queue, ids, "reject", reason="ซ้ำ")
        ref = model.Session.get(Request, ids[0]).reference
        assert f"{ref} was not decided" in done.body
        assert states(ids) == ["approved", "rejected", "rejected"]

    def test_nothing_ticked_is_explained(self, world, app):
        browser = sign_in(app, "bulk_admin", PASSWORD)
        queue = browser.get("/ckan-admin/dgaaccounts/")
        done = browser.post("/ckan-admin/dgaaccounts/decide", data={
            "_csrf_token": csrf_token(queue.body), "decision": "approve"},
            follow_redirects=True)
        assert done.status_code == 200
        assert states(world["ids"]) == ["submitted"] * 3

    def test_without_the_csrf_token_nothing_happens(self, world, app):
        browser = sign_in(app, "bulk_admin", PASSWORD)
        resp = browser.post("/ckan-admin/dgaaccounts/decide", data={
            "ids": world["ids"], "decision": "approve", "confirm": "yes"})
        assert resp.status_code in (400, 403)
        assert states(world["ids"]) == ["submitted"] * 3


@pytest.fixture
def delegated(world):
    """The DGA organization decides its own requests; its admin, and another organization's
    request beside."""
    boss = factories.User(name="dga_boss", email="boss@dga.or.th", password=PASSWORD)
    helpers.call_action("member_create", id="dga", object=boss["id"], object_type="user",
                        capacity="admin")
    factories.Organization(name="nso", title="NSO")
    helpers.call_action("dgaaccounts_approval_mode_update", organization="dga", mode="delegated")
    result = helpers.call_action("dgaaccounts_agency_register", **registration(
        name="nso1", email="nso1@dga.or.th", organization="nso", agency_name="",
        signed_form=Upload(PDF, "form.pdf")))
    req = model.Session.get(Request, result["request_id"])
    secret = tokens.mint(req, tokens.VERIFY)
    model.Session.commit()
    helpers.call_action("dgaaccounts_email_verify", token=secret)
    return dict(world, other=result["request_id"])


def as_boss() -> dict:
    return {"user": "dga_boss", "ignore_auth": False}


@pytest.mark.usefixtures("with_request_context")
class TestOrganizationAdmins:
    def test_they_decide_their_organizations_requests_only(self, delegated):
        ids = delegated["ids"][:2] + [delegated["other"]]
        result = helpers.call_action("dgaaccounts_requests_decide", context=as_boss(), ids=ids,
                                     decision="approve", role="editor")
        assert (result["decided"], result["failed"]) == (2, 1)
        assert [r["success"] for r in result["results"]] == [True, True, False]
        assert states(ids) == ["approved", "approved", "submitted"]
        assert sorted(events("approve")) == sorted(ids[:2])

    def test_never_a_role_above_editor(self, delegated):
        result = helpers.call_action("dgaaccounts_requests_decide", context=as_boss(),
                                     ids=delegated["ids"][:1], decision="approve", role="admin")
        assert (result["decided"], result["failed"]) == (0, 1)
        assert states(delegated["ids"][:1]) == ["submitted"]

    def test_not_in_the_central_mode(self, delegated):
        helpers.call_action("dgaaccounts_approval_mode_update", organization="dga",
                            mode="central")
        with pytest.raises(tk.NotAuthorized):
            helpers.call_action("dgaaccounts_requests_decide", context=as_boss(),
                                ids=delegated["ids"], decision="approve")
        assert states(delegated["ids"]) == ["submitted"] * 3


class TestOrganizationQueuePage:
    def test_tick_review_confirm_on_the_organizations_queue(self, delegated, app):
        ids = delegated["ids"]
        browser, queue = ticked(app, "dga_boss", "/organization/requests/dga", ids)
        assert delegated["other"] not in queue.body
        review = bulk_review(browser, ORG, queue, ids[:2] + [delegated["other"]], "reject",
                        reason="ไม่ใช่เจ้าหน้าที่ของเรา")
        assert review.status_code == 200
        assert "dgaaccounts-bulk-confirm" in review.body
        refs = [model.Session.get(Request, i).reference for i in ids + [delegated["other"]]]
        assert refs[0] in review.body
        assert refs[1] in review.body
        assert refs[3] not in review.body  # another organization's: not even shown
        assert states(ids) == ["submitted"] * 3
        done = bulk_confirm(browser, ORG, review, ids[:2], "reject", reason="ไม่ใช่เจ้าหน้าที่ของเรา")
        assert done.status_code == 200
        assert "2 requests decided. Each applicant will be emailed." in done.body
        assert states(ids) == ["rejected", "rejected", "submitted"]

    def test_an_organization_admin_chooses_a_role_up_to_editor(self, delegated, app):
        ids = delegated["ids"][:1]
        browser, queue = ticked(app, "dga_boss", "/organization/requests/dga", ids)
        review = bulk_review(browser, ORG, queue, ids, "approve")
        assert roles_offered(review.body) == ["editor", "member"]
        assert "sysadmins can make an officer an admin" in review.body
        done = bulk_confirm(browser, ORG, review, ids, "approve", role="member")
        assert done.status_code == 200
        assert states(ids) == ["approved"]
        assert capacities("dga", ["bulk0"]) == ["member"]

    def test_no_ticks_where_the_organization_does_not_decide(self, delegated, app):
        helpers.call_action("dgaaccounts_approval_mode_update", organization="dga",
                            mode="endorse")
        browser = sign_in(app, "dga_boss", PASSWORD)
        queue = browser.get("/organization/requests/dga")
        assert queue.status_code == 200
        assert 'name="ids"' not in queue.body
        resp = browser.post("/organization/requests/dga/decide", data={
            "_csrf_token": csrf_token(queue.body), "ids": delegated["ids"],
            "decision": "approve", "confirm": "yes"}, follow_redirects=True)
        assert states(delegated["ids"]) == ["submitted"] * 3
        assert resp.status_code in (200, 403)
