"""Chromium walks the provider sign-in against the real OpenID Provider (oidc-provider on
Node): sign in with Digital ID, sign out everywhere, the agency registration from a verified
identity through the sysadmin's approval to the officer's first provider sign-in, and a
suspended person refused with one message."""
from __future__ import annotations

import re

import pytest

import ckan.model as model
from ckan.tests import factories

from ckanext.dgaaccounts import account, identity
from ckanext.dgaaccounts.model import Request
from ckanext.dgaaccounts.tests.e2e.conftest import (
    fresh, login, state, submit,
)
from ckanext.dgaaccounts.tests.oidc.conftest import (  # noqa: F401 (fixture)
    DIGITALID_ACCOUNTS, PID, oidc_node_modules, start_provider, stop_provider,
)

PASSWORD = "Correct-Horse-42"


@pytest.fixture
def digital_id(oidc_node_modules, live_server, ckan_config, monkeypatch, tmp_path):  # noqa: F811
    """A Digital-ID-like provider that sends browsers back to the live server."""
    running = start_provider(oidc_node_modules, str(tmp_path), "digitalid", [live_server.url])
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.oidc.providers", "digitalid")
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.identity_hmac_secret", "e2e-secret")
    for key, value in running.config().items():
        monkeypatch.setitem(ckan_config, key, value)
    yield running
    stop_provider(running)


@pytest.fixture
def new_browser(open_page, digital_id):
    """Fresh browsers (own cookies, at the portal and the provider) that may reach the portal
    and the provider, nothing else."""
    return lambda: open_page(also=(digital_id.issuer,))


@pytest.fixture
def page(new_browser):
    return new_browser()


def _provider_sign_in(page, live_server, login_name: str = "somchai") -> None:
    page.goto(live_server("/user/login"))
    submit(page, page.get_by_role("link", name="Sign in with Digital ID"))
    page.fill("input[name=login]", login_name)
    page.fill("input[name=password]", "any")
    submit(page, "button:has-text('Sign-in')")
    submit(page, "button:has-text('Continue')")


def test_sign_in_with_digital_id_and_sign_out_everywhere(page, live_server, digital_id):
    factories.User(name="somchai", email="somchai@dga.or.th", password=PASSWORD)
    user = model.User.by_name("somchai")
    identity.link(user, "digitalid", digital_id.issuer, DIGITALID_ACCOUNTS["somchai"]["sub"],
                  PID, user.id)
    model.Session.commit()
    fresh()

    _provider_sign_in(page, live_server)
    assert page.url.startswith(live_server("/dashboard"))
    assert page.locator("a[href='/user/somchai']").count() >= 1

    page.goto(live_server("/user/_logout"))
    assert page.url.startswith(digital_id.issuer + "/session/end")
    submit(page, "button[name=logout][value=yes]")
    assert page.url.startswith(live_server("/user/logged_out_redirect"))
    # signed out here, and the provider asks for a login again
    page.goto(live_server("/dashboard/datasets"))
    assert "/user/login" in page.url
    submit(page, page.get_by_role("link", name="Sign in with Digital ID"))
    assert page.locator("input[name=login]").count() == 1


def _agency_and_reviewer() -> dict:
    """DGA, known to Digital ID by its organization id, and a sysadmin to review."""
    org = factories.Organization(name="dga", title="สำนักงานพัฒนารัฐบาลดิจิทัล",
                                 extras=[{"key": "dgaaccounts_organization_id",
                                          "value": "0994000164882"}])
    factories.Sysadmin(name="reviewer", password=PASSWORD)
    fresh()
    return org


def test_agency_registration_from_a_verified_identity(page, live_server, digital_id,
                                                    new_browser):
    _agency_and_reviewer()

    _provider_sign_in(page, live_server)
    assert page.url == live_server("/user/oidc/no-account")
    submit(page, page.get_by_role("link", name="Agency officer registration"))
    assert page.input_value("#field-fullname") == "สมชาย ใจดี / Somchai Jaidee"
    assert page.input_value("#field-email") == "somchai@dga.or.th"
    assert "Identity verified by Digital ID" in page.content()
    page.fill("#field-username", "somchai")
    page.fill("#field-password", PASSWORD)
    for field, value in (("position", "นักวิชาการคอมพิวเตอร์"), ("phone", "02 612 6000"),
                         ("superior_name", "นางสาวพิมพ์ชนก ศรีสุข"),
                         ("superior_position", "ผู้อำนวยการกอง")):
        page.fill(f"[name={field}]", value)
    submit(page, "#dgaaccounts-agency-form button[type=submit]")
    # (Digital ID asserted the address verified: the request page, not "check your email")
    assert "/dgaaccounts/request/" in page.url, page.content()[:2000]

    fresh()
    [req] = model.Session.query(Request).all()
    assert req.details["identity"]["provider"] == "digitalid"
    review = new_browser()
    login(review, live_server, "reviewer", PASSWORD)
    review.goto(live_server(f"/ckan-admin/dgaaccounts/request/{req.id}"))
    assert "Identity verified by Digital ID, assurance level (IAL) 2.3" in review.content()


def test_new_officer_registers_with_digital_id_is_approved_then_signs_in_with_it(
        page, new_browser, live_server, digital_id, tmp_path):
    """The whole path of a new officer: provider sign-in, registration pre-filled and locked
    from the verified identity (no email to confirm: Digital ID verified it), the signed form,
    the sysadmin's approval, then a provider sign-in that lands signed in."""
    org = _agency_and_reviewer()

    _provider_sign_in(page, live_server)
    assert page.url == live_server("/user/oidc/no-account")
    submit(page, page.get_by_role("link", name="Agency officer registration"))
    # pre-filled, and the verified fields read-only
    for field, value in (("#field-fullname", "สมชาย ใจดี / Somchai Jaidee"),
                         ("#field-email", "somchai@dga.or.th"),
                         # the agency box shows the organization's title, never its URL name
                         ("#field-organization", "สำนักงานพัฒนารัฐบาลดิจิทัล")):
        assert page.input_value(field) == value
        assert page.locator(field).get_attribute("readonly") is not None, field
    page.fill("#field-username", "somchai")
    page.fill("#field-password", PASSWORD)
    for field, value in (("position", "นักวิชาการคอมพิวเตอร์"), ("phone", "02 612 6000"),
                         ("superior_name", "นางสาวพิมพ์ชนก ศรีสุข"),
                         ("superior_position", "ผู้อำนวยการกอง")):
        page.fill(f"[name={field}]", value)
    submit(page, "#dgaaccounts-register-submit")
    # Digital ID asserted the address verified: straight to the request, no email to open
    assert re.fullmatch(live_server.url + r"/dgaaccounts/request/[0-9a-f-]+", page.url)
    assert state(page) == "awaiting_document"
    assert "Your email address was verified by Digital ID" in page.content()

    with page.expect_download() as download_info:
        page.click("#dgaaccounts-form-download")
    form_path = tmp_path / "application-form.pdf"
    download_info.value.save_as(form_path)
    page.set_input_files("#field-signed-form", str(form_path))
    submit(page, "#dgaaccounts-upload-submit")
    assert state(page) == "submitted"

    # the sysadmin sees who verified what, and approves
    fresh()
    [req] = model.Session.query(Request).all()
    admin = new_browser()
    login(admin, live_server, "reviewer", PASSWORD)
    admin.goto(live_server(f"/ckan-admin/dgaaccounts/request/{req.id}"))
    assert "Identity verified by Digital ID, assurance level (IAL) 2.3" in admin.content()
    assert admin.input_value("#field-organization") == org["id"]
    # (the keyboard: the PDF viewer in the page keeps the focus and swallows mouse clicks)
    admin.focus("#dgaaccounts-approve")
    with admin.expect_navigation(wait_until="domcontentloaded"):
        admin.keyboard.press("Enter")
    assert state(admin) == "approved"

    # the officer, in a new browser, signs in with Digital ID and lands signed in
    officer = new_browser()
    _provider_sign_in(officer, live_server)
    assert officer.url.startswith(live_server("/dashboard"))
    assert officer.locator("a[href='/user/somchai']").count() >= 1
    fresh()
    assert model.User.by_name("somchai").state == "active"


def test_suspended_person_is_refused_with_one_clear_message(page, live_server, digital_id):
    factories.User(name="somchai", email="somchai@dga.or.th", password=PASSWORD)
    user = model.User.by_name("somchai")
    identity.link(user, "digitalid", digital_id.issuer, DIGITALID_ACCOUNTS["somchai"]["sub"],
                  PID, user.id)
    account.suspend(user)
    model.Session.commit()
    fresh()

    _provider_sign_in(page, live_server)
    assert page.url.startswith(live_server("/user/login"))
    alerts = page.locator(".flash-messages .alert, .alert-error, .alert-danger")
    texts = [t.strip() for t in alerts.all_inner_texts() if t.strip()]
    assert len(texts) == 1, texts
    assert "Your account is suspended" in texts[0]
    assert "contact the portal administrators" in texts[0].lower()
    page.goto(live_server("/dashboard/datasets"))
    assert "/user/login" in page.url
    fresh()
    assert model.User.by_name("somchai").state == user.state
