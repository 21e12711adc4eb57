"""Chromium walks the provider sign-in against the real OpenID Provider (oidc-provider on
Node): sign in with Digital ID, sign out everywhere, and the agency registration from a
verified identity up to the sysadmin's review page."""
from __future__ import annotations

import re

import pytest

import ckan.model as model
from ckan.tests import factories

from ckanext.dgaaccounts import identity
from ckanext.dgaaccounts.model import Request
from ckanext.dgaaccounts.tests.e2e.conftest import (
    TIMEOUT_MS, VIEWPORT, fresh, login, submit,
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
def page(browser, live_server, digital_id):
    """A fresh browser that may reach the portal and the provider, nothing else."""
    allowed = re.compile("^(" + re.escape(live_server.url) + "|" + re.escape(digital_id.issuer)
                         + ")(/|$)")
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    context.route(lambda url: url.startswith(("http:", "https:")) and not allowed.match(url),
                  lambda route: route.abort())
    yield context.new_page()
    context.close()


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


def test_agency_registration_from_a_verified_identity(page, live_server, digital_id, browser):
    factories.Organization(name="dga", title="สำนักงานพัฒนารัฐบาลดิจิทัล",
                           extras=[{"key": "dgaaccounts_organization_id",
                                    "value": "0994000164882"}])
    factories.Sysadmin(name="reviewer", password=PASSWORD)
    fresh()

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
    assert "/dgaaccounts/register/sent" in page.url, page.content()[:2000]

    fresh()
    [req] = model.Session.query(Request).all()
    assert req.details["identity"]["provider"] == "digitalid"
    review = browser.new_context(viewport=VIEWPORT, locale="en-US").new_page()
    login(review, live_server, "reviewer", PASSWORD)
    review.goto(live_server(f"/ckan-admin/dgaaccounts/request/{req.id}"))
    assert "Identity verified by Digital ID, assurance level (IAL) 2.3" in review.content()
    review.context.close()
