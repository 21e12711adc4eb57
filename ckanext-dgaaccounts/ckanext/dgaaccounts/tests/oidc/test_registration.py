"""Registration from a verified identity: the agency officer form pre-filled and locked with
what the provider verified, the request recording provider, assurance level and verified
fields (shown on the review page), the identity linked to the new pending account, and the
minimum assurance level."""
from __future__ import annotations

import pytest

import ckan.model as model
from ckan.tests import factories

from ckanext.dgaaccounts.identity import IdentityLink
from ckanext.dgaaccounts.model import Request
from ckanext.dgaaccounts.tests.oidc.helpers import callback, csrf, events, signed_in

pytestmark = pytest.mark.usefixtures("clean_db", "oidc", "smtp")
FORM = {"name": "somchai", "password": "Correct-Horse-42", "position": "นักวิชาการคอมพิวเตอร์",
        "phone": "02 612 6000", "superior_name": "นางสาวพิมพ์ชนก ศรีสุข",
        "superior_position": "ผู้อำนวยการกอง"}


@pytest.fixture
def agency():
    return factories.Organization(
        name="dga", title="สำนักงานพัฒนารัฐบาลดิจิทัล",
        extras=[{"key": "dgaaccounts_organization_id", "value": "0994000164882"}])


def test_digital_id_registration_is_prefilled_locked_recorded_and_linked(app, oidc, agency):
    client, response = callback(app, "digitalid", "somchai")
    assert response.headers["Location"].endswith("/user/oidc/no-account")
    page = client.get("/user/oidc/register/agency").body
    assert "สมชาย ใจดี / Somchai Jaidee" in page
    assert "somchai@dga.or.th" in page
    # The verified agency is in the box by its title, never its URL name (issue 12).
    assert 'value="สำนักงานพัฒนารัฐบาลดิจิทัล"' in page
    assert "Identity verified by Digital ID, assurance level (IAL) 2.3" in page
    # whatever is posted, the verified fields keep the provider's values
    response = client.post("/user/oidc/register/agency", data={
        **FORM, "_csrf_token": csrf(page), "fullname": "Someone Else",
        "email": "else@example.com", "organization": ""}, follow_redirects=False)
    assert response.status_code == 302, response.body[:2000]
    [req] = model.Session.query(Request).all()
    user = model.User.get(req.user_id)
    assert user.fullname == "สมชาย ใจดี / Somchai Jaidee"
    assert req.email == "somchai@dga.or.th"
    assert req.organization_id == agency["id"]
    assert user.state == "pending"
    record = req.details["identity"]
    assert record["provider"] == "digitalid"
    assert record["ial"] == 2.3
    assert record["verified"] == ["email", "fullname", "organization"]
    [link] = model.Session.query(IdentityLink).all()
    assert link.user_id == user.id
    assert link.pid_hmac is not None
    # the new account is pending: the provider does not open it
    other, response = callback(app, "digitalid", "somchai")
    assert response.headers["Location"].endswith("/user/login")
    assert not signed_in(other)
    # the sysadmin's review page says who verified what
    admin = factories.Sysadmin()
    # (an API token: CKAN 2.11's test-only REMOTE_USER makes a session that was never signed
    # in, which the session check rightly signs out)
    body = app.get(f"/ckan-admin/dgaaccounts/request/{req.id}",
                   headers={"Authorization": factories.APIToken(user=admin["name"])["token"]}
                   ).body
    assert "Identity verified by Digital ID, assurance level (IAL) 2.3" in body


def test_unverified_email_is_not_locked(app, oidc, ckan_config, monkeypatch):
    client, _ = callback(app, "thaid", "malee")  # email_verified false, IAL 1.1
    page = client.get("/user/oidc/register/agency").body
    assert "มาลี ศรีสุข / Malee Srisuk" in page
    assert "malee@example.com" not in page


def test_below_the_minimum_assurance_level_is_refused(app, oidc, ckan_config, monkeypatch):
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.oidc.thaid.min_ial", "2.0")
    client, _ = callback(app, "thaid", "malee")
    response = client.get("/user/oidc/register/agency", follow_redirects=False)
    assert response.headers["Location"].endswith("/user/login")
    assert "below what an agency officer registration requires" in client.get("/user/login").body
    assert model.Session.query(Request).count() == 0
    assert events("oidc_refused")[-1].details["reason"] == "ial_too_low"


def test_without_a_verified_identity_the_normal_form_is_used(app):
    response = app.get("/user/oidc/register/agency", follow_redirects=False)
    assert response.headers["Location"].endswith("/dgaaccounts/register/agency")
