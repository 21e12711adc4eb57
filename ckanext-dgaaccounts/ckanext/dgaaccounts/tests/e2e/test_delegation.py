"""Approval delegated to agencies, end to end: ckanapi over real HTTP as an outside client, and
an organization admin deciding in a real (headless) browser, against a live CKAN, with the
emails read from a real SMTP server."""
from __future__ import annotations

import re

import ckanapi
import pytest

import ckan.model as model
from ckan.tests import factories, helpers

from ckanext.dgaaccounts.model import Request
from ckanext.dgaaccounts.tests.conftest import registration
from ckanext.dgaaccounts.tests.e2e.conftest import fresh, login, state, submit, tick

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.ckan_config("ckan.gravatar_default", "disabled"),
    pytest.mark.usefixtures("with_plugins"),
]
PASSWORD = "Org-Admin-Passw0rd-42"


def _people() -> dict[str, dict]:
    people = {
        "root": factories.SysadminWithToken(name="root", email="root@dga.or.th"),
        # The DGA admin reads Thai; their emails come in Thai.
        "dga_admin": factories.UserWithToken(
            name="dga_admin", fullname="ผู้ดูแล สพร.", email="dga_admin@dga.or.th",
            password=PASSWORD, plugin_extras={"dgaaccounts": {"locale": "th"}}),
        "nso_admin": factories.UserWithToken(name="nso_admin", email="nso_admin@nso.go.th"),
    }
    factories.Organization(name="dga", title="สำนักงานพัฒนารัฐบาลดิจิทัล",
                           users=[{"name": "dga_admin", "capacity": "admin"}])
    factories.Organization(name="nso", title="สำนักงานสถิติแห่งชาติ",
                           users=[{"name": "nso_admin", "capacity": "admin"}])
    return people


def _client(live_server, person: dict | None = None) -> ckanapi.RemoteCKAN:
    return ckanapi.RemoteCKAN(live_server.url, apikey=(person or {}).get("token"),
                              user_agent="dgaaccounts-e2e")


def _about(smtp, address: str, request_id: str) -> list:
    """The emails to ``address`` about the request (not, e.g., CKAN's API token notices)."""
    return [m for m in smtp.to(address) if request_id in smtp.body(m)]


def _register_and_verify(live_server, smtp, deliver, pdf_file, name: str) -> str:
    """An agency officer registers over HTTP with the signed form, and confirms the email."""
    anonymous = _client(live_server)
    with open(pdf_file(), "rb") as scan:
        result = anonymous.call_action(
            "dgaaccounts_agency_register",
            registration(name=name, email=f"{name}@dga.or.th", organization="dga",
                         agency_name=""), files={"signed_form": scan})
    deliver()
    token = smtp.link(f"{name}@dga.or.th")
    assert anonymous.call_action("dgaaccounts_email_verify", {"token": token})[
        "state"] == "submitted"
    return result["request_id"]


def test_an_organization_admin_decides_over_http_in_delegated_mode(
        live_server, smtp, deliver, pdf_file):
    people = _people()
    root, dga_admin, nso_admin = (_client(live_server, people[k])
                                  for k in ("root", "dga_admin", "nso_admin"))
    mode = root.call_action("dgaaccounts_approval_mode_update",
                            {"organization": "dga", "mode": "delegated"})
    assert mode["mode"] == "delegated"
    assert dga_admin.call_action("dgaaccounts_approval_mode_show",
                                 {"organization": "dga"})["mode"] == "delegated"

    request_id = _register_and_verify(live_server, smtp, deliver, pdf_file, "somchai")

    # The organization's admin is told, in Thai, with a link to the organization's page.
    deliver()
    [told] = _about(smtp, "dga_admin@dga.or.th", request_id)
    assert "สำนักงานพัฒนารัฐบาลดิจิทัล" in told["Subject"]
    assert re.search(re.escape(live_server.url) + r"(/th)?/organization/requests/dga/"
                     + re.escape(request_id), smtp.body(told))
    assert _about(smtp, "root@dga.or.th", request_id) == []  # delegated: sysadmins not asked

    listed = dga_admin.call_action("dgaaccounts_request_list", {"organization": "dga"})
    assert [r["id"] for r in listed["results"]] == [request_id]
    with pytest.raises(ckanapi.NotAuthorized):
        nso_admin.call_action("dgaaccounts_request_list", {"organization": "dga"})
    with pytest.raises(ckanapi.NotAuthorized):
        nso_admin.call_action("dgaaccounts_request_approve", {"id": request_id})
    with pytest.raises(ckanapi.NotAuthorized):
        dga_admin.call_action("dgaaccounts_request_approve", {"id": request_id, "role": "admin"})
    with pytest.raises(ckanapi.NotAuthorized):
        dga_admin.call_action("dgaaccounts_approval_mode_update",
                              {"organization": "dga", "mode": "central"})

    approved = dga_admin.call_action("dgaaccounts_request_approve",
                                     {"id": request_id, "role": "editor", "note": "ok"})
    assert approved["state"] == "approved"
    assert approved["decided_by"] == people["dga_admin"]["id"]
    fresh()
    assert model.Session.query(model.Member.capacity).filter(
        model.Member.group_id == model.Group.get("dga").id, model.Member.state == "active",
        model.Member.table_id == model.User.get("somchai").id).scalar() == "editor"
    deliver()
    assert any("approved" in m["Subject"] or "อนุมัติ" in m["Subject"]
               for m in smtp.to("somchai@dga.or.th"))


def test_an_agency_endorses_over_http_then_a_sysadmin_decides(
        live_server, smtp, deliver, pdf_file):
    people = _people()
    root, dga_admin = (_client(live_server, people[k]) for k in ("root", "dga_admin"))
    root.call_action("dgaaccounts_approval_mode_update", {"organization": "dga",
                                                          "mode": "endorse"})
    request_id = _register_and_verify(live_server, smtp, deliver, pdf_file, "somsri")
    deliver()
    assert len(_about(smtp, "dga_admin@dga.or.th", request_id)) == 1
    with pytest.raises(ckanapi.NotAuthorized):
        dga_admin.call_action("dgaaccounts_request_approve", {"id": request_id})
    with pytest.raises(ckanapi.ValidationError):
        dga_admin.call_action("dgaaccounts_request_decline", {"id": request_id, "reason": ""})

    shown = dga_admin.call_action("dgaaccounts_request_endorse",
                                  {"id": request_id, "note": "เจ้าหน้าที่ของเรา"})
    assert (shown["state"], shown["endorsement"]) == ("submitted", "endorsed")
    deliver()
    [endorsed] = _about(smtp, "root@dga.or.th", request_id)
    assert f"/ckan-admin/dgaaccounts/request/{request_id}" in smtp.body(endorsed)
    assert root.call_action("dgaaccounts_request_approve", {"id": request_id})[
        "state"] == "approved"


def test_an_organization_admin_approves_in_the_browser(
        new_page, live_server, smtp, deliver, pdf_file, screenshot_dir):
    people = _people()
    helpers.call_action("dgaaccounts_approval_mode_update", organization="dga",
                        mode="delegated")
    request_id = _register_and_verify(live_server, smtp, deliver, pdf_file, "somchai")
    fresh()
    reference = model.Session.get(Request, request_id).reference

    page = new_page()
    login(page, live_server, "dga_admin", PASSWORD)
    page.goto(live_server("/organization/dga"))
    page.get_by_role("link", name="Account requests").click()
    page.wait_for_url(live_server("/organization/requests/dga"))
    row = page.locator(f"#dgaaccounts-org-queue tr[data-reference='{reference}']")
    assert row.count() == 1
    submit(page, row.get_by_role("link", name=reference))
    assert page.url == live_server(f"/organization/requests/dga/{request_id}")
    assert state(page) == "submitted"
    assert page.locator("iframe.dgaaccounts-document").count() == 1
    assert page.locator("#dgaaccounts-history tr").count() >= 3
    # At most editor: the role list has no "admin".
    assert page.locator("#field-role option").all_inner_texts() == ["Editor", "Member"]
    page.screenshot(path=f"{screenshot_dir}/organization-review.png", full_page=True)
    page.select_option("#field-role", "editor")
    page.fill("#field-note", "รู้จักเป็นเจ้าหน้าที่ของเรา")
    submit(page, "#dgaaccounts-approve")
    assert state(page) == "approved"
    assert "Decision recorded" in page.content()
    fresh()
    assert model.User.get("somchai").state == "active"
    # The queue no longer lists it (open requests only).
    page.goto(live_server("/organization/requests/dga"))
    assert page.locator(f"tr[data-reference='{reference}']").count() == 0
    assert people["dga_admin"]["name"] in page.content()  # signed in as the organization's admin


def test_an_organization_admin_approves_several_with_a_chosen_role_in_the_browser(
        new_page, live_server, smtp, deliver, pdf_file):
    _people()
    helpers.call_action("dgaaccounts_approval_mode_update", organization="dga",
                        mode="delegated")
    ids = [_register_and_verify(live_server, smtp, deliver, pdf_file, name)
           for name in ("somchai", "somsri")]

    page = new_page()
    login(page, live_server, "dga_admin", PASSWORD)
    page.goto(live_server("/organization/requests/dga"))
    for request_id in ids:
        tick(page, f"input[name=ids][value='{request_id}']")
    page.select_option("#field-bulk-decision", "approve")
    submit(page, page.get_by_role("button", name="Review the decision"))
    assert page.locator("#dgaaccounts-bulk-chosen tbody tr").count() == 2
    # At most editor, the portal's default first; the officers become members here.
    assert page.locator("#field-bulk-role option").all_inner_texts() == ["Editor", "Member"]
    assert page.input_value("#field-bulk-role") == "editor"
    page.select_option("#field-bulk-role", "member")
    tick(page, "#field-bulk-confirm")
    submit(page, "#dgaaccounts-bulk-submit")
    assert "2 requests decided" in page.content()
    fresh()
    dga = model.Group.get("dga").id
    for name in ("somchai", "somsri"):
        assert model.User.get(name).state == "active"
        assert model.Session.query(model.Member.capacity).filter(
            model.Member.group_id == dga, model.Member.state == "active",
            model.Member.table_id == model.User.get(name).id).scalar() == "member"
