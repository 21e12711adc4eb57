"""Registration from a verified identity: the agency officer form and the developer sign-up
pre-filled and locked (read-only, and enforced by the server) with what the provider
verified, the email verification skipped only when the provider asserts the address verified,
the request recording provider, assurance level and verified fields (shown on the review
page), the identity linked to the new account, and the minimum assurance level."""
from __future__ import annotations

import re

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers as ckan_helpers

from ckanext.dgaaccounts import identity
from ckanext.dgaaccounts.identity import IdentityLink
from ckanext.dgaaccounts.model import OutboxMessage, Request
from ckanext.dgaaccounts.tests.conftest import row_counts
from ckanext.dgaaccounts.tests.oidc.helpers import api_as, callback, csrf, events, signed_in

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
    # ...shown read-only
    for field in ("field-fullname", "field-email", "field-organization"):
        assert _readonly(page, field), field
    assert not _readonly(page, "field-position")
    response = client.post("/user/oidc/register/agency", data={
        **FORM, "_csrf_token": csrf(page), "fullname": "Someone Else",
        "email": "else@example.com", "organization": ""}, follow_redirects=False)
    assert response.status_code == 302, response.body[:2000]
    [req] = model.Session.query(Request).all()
    user = model.User.get(req.user_id)
    assert user.fullname == "สมชาย ใจดี / Somchai Jaidee"
    assert user.email == req.email == "somchai@dga.or.th"
    assert req.organization_id == agency["id"]
    assert user.state == "pending"
    # Digital ID asserted the address verified: no email to confirm, the request moves on and
    # the browser goes to it (with the applicant's grant)
    assert req.state == "awaiting_document"
    assert req.verified is not None
    assert response.headers["Location"].endswith(f"/dgaaccounts/request/{req.id}")
    assert "Your email address was verified by Digital ID" in client.get(
        f"/dgaaccounts/request/{req.id}").body
    templates = [m.template for m in model.Session.query(OutboxMessage)]
    assert "verify_agency" not in templates
    assert "verified_agency" in templates
    [verified] = events("verify_email")
    assert verified.details["email_verified_by"] == "digitalid"
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


def _readonly(page: str, field_id: str) -> bool:
    tag = re.search(rf'<input[^>]*id="{re.escape(field_id)}"[^>]*>', page)
    assert tag, field_id
    return " readonly" in tag.group(0)


def test_unverified_email_keeps_the_verification_email(app, oidc):
    client, _ = callback(app, "thaid", "malee")  # email_verified false
    page = client.get("/user/oidc/register/agency").body
    assert _readonly(page, "field-fullname")
    assert not _readonly(page, "field-email")
    response = client.post("/user/oidc/register/agency", data={
        **FORM, "name": "malee", "_csrf_token": csrf(page), "fullname": "x",
        "email": "malee@example.com", "agency_name": "กรมการปกครอง"}, follow_redirects=False)
    assert response.headers["Location"].endswith("/dgaaccounts/register/sent")
    [req] = model.Session.query(Request).all()
    assert req.state == "awaiting_verification"
    assert model.User.get(req.user_id).fullname == "มาลี ศรีสุข / Malee Srisuk"
    assert [m.template for m in model.Session.query(OutboxMessage)] == ["verify_agency"]
    assert req.details["identity"]["verified"] == ["fullname"]
    assert req.details["identity"]["ial"] == 1.1
    [link] = model.Session.query(IdentityLink).all()
    assert link.user_id == req.user_id


DEVELOPER = {"name": "somchai_dev", "password": "Correct-Horse-42", "purpose": "แอปข้อมูลเปิด"}


def test_developer_sign_up_from_a_verified_identity_opens_at_once(app, oidc):
    client, _ = callback(app, "digitalid", "somchai")
    page = client.get("/user/oidc/no-account").body
    assert "/user/oidc/register/developer" in page
    page = client.get("/user/oidc/register/developer").body
    assert "Identity verified by Digital ID, assurance level (IAL) 2.3" in page
    assert "สมชาย ใจดี / Somchai Jaidee" in page
    assert _readonly(page, "field-fullname")
    assert _readonly(page, "field-email")
    assert not _readonly(page, "field-username")
    response = client.post("/user/oidc/register/developer", data={
        **DEVELOPER, "_csrf_token": csrf(page), "fullname": "Someone Else",
        "email": "else@example.com"})
    assert response.status_code == 200, response.body[:2000]
    # the API token, shown once, and a signed-in developer
    token = re.search(r'id="dgaaccounts-api-token">([^<]+)<', response.body).group(1)
    assert signed_in(client)
    model.Session.expire_all()
    [req] = model.Session.query(Request).all()
    user = model.User.get(req.user_id)
    assert (user.name, user.state, user.fullname, user.email) == (
        "somchai_dev", "active", "สมชาย ใจดี / Somchai Jaidee", "somchai@dga.or.th")
    assert req.state == "approved"
    assert req.details["identity"]["provider"] == "digitalid"
    assert req.details["identity"]["ial"] == 2.3
    assert req.details["identity"]["verified"] == ["email", "fullname"]
    assert "verify_developer" not in [m.template for m in model.Session.query(OutboxMessage)]
    assert app.post("/api/3/action/dgaaccounts_token_list", json={},
                    headers={"Authorization": token}).status_code == 200
    [link] = model.Session.query(IdentityLink).all()
    assert link.user_id == user.id
    # the identity signs in to the new account from now on
    other, _ = callback(app, "digitalid", "somchai")
    assert signed_in(other)
    assert api_as(other, "somchai_dev") == 200


def test_developer_sign_up_with_an_unverified_email_is_verified_by_email(app, oidc):
    client, _ = callback(app, "thaid", "malee")
    page = client.get("/user/oidc/register/developer").body
    assert "malee@example.com" not in page
    response = client.post("/user/oidc/register/developer", data={
        **DEVELOPER, "name": "malee_dev", "_csrf_token": csrf(page), "fullname": "x",
        "email": "malee.dev@example.com"}, follow_redirects=False)
    assert response.headers["Location"].endswith("/dgaaccounts/register/sent")
    [req] = model.Session.query(Request).all()
    assert req.state == "awaiting_verification"
    assert req.email == "malee.dev@example.com"
    assert model.User.get(req.user_id).fullname == "มาลี ศรีสุข / Malee Srisuk"
    assert [m.template for m in model.Session.query(OutboxMessage)] == ["verify_developer"]
    assert not signed_in(client)
    # linked, but the pending account does not sign in
    other, response = callback(app, "thaid", "malee")
    assert response.headers["Location"].endswith("/user/login")
    assert not signed_in(other)


def test_a_bad_field_shows_the_form_again_still_locked_and_makes_nothing(app, oidc, agency):
    client, _ = callback(app, "digitalid", "somchai")
    before = row_counts()
    page = client.get("/user/oidc/register/developer").body
    again = client.post("/user/oidc/register/developer", data={
        **DEVELOPER, "name": "Not A Username!", "_csrf_token": csrf(page)})
    assert again.status_code == 200
    assert "Use at least 2 characters: only lowercase English letters (a-z)" in again.body
    assert 'value="Not A Username!"' in again.body  # kept, to correct
    assert "Correct-Horse" not in again.body  # the password is typed again
    assert _readonly(again.body, "field-fullname")  # still the verified name, locked
    assert "สมชาย ใจดี / Somchai Jaidee" in again.body
    page = client.get("/user/oidc/register/agency").body
    again = client.post("/user/oidc/register/agency", data={
        **FORM, "phone": "call me", "_csrf_token": csrf(page)})
    assert again.status_code == 200
    assert "Enter a phone number, for example 02 141 6000" in again.body
    assert _readonly(again.body, "field-fullname")
    assert row_counts() == before  # no user, request, link or email
    # the verified identity is still there to finish the registration with
    assert "/user/oidc/register/developer" in client.get("/user/oidc/no-account").body


def test_registration_with_an_identity_already_linked_is_refused(app, oidc):
    client, _ = callback(app, "digitalid", "somchai")
    page = client.get("/user/oidc/register/developer").body
    # meanwhile, the same identity is linked to another account
    other = factories.User(name="other", email="other@example.com")
    identity.link(model.User.get(other["id"]), "digitalid", oidc["digitalid"].issuer,
                  "did-8f2c", None, None)
    model.Session.commit()
    before = row_counts()
    response = client.post("/user/oidc/register/developer", data={
        **DEVELOPER, "_csrf_token": csrf(page)}, follow_redirects=False)
    assert response.headers["Location"].endswith("/user/login")
    assert "already linked to an account" in client.get("/user/login").body
    after = row_counts()
    assert (after["users"], after["requests"]) == (before["users"], before["requests"])
    assert events("oidc_refused")[-1].details["reason"] == "already_linked"


def test_a_verified_identity_cannot_be_claimed_through_the_api(app):
    """The identity reaches the action only through its context: data posted to the API that
    names it is ignored, the address is verified by email as always."""
    response = app.post("/api/3/action/dgaaccounts_developer_register", json={
        "name": "api_dev", "fullname": "API Dev", "email": "api.dev@example.com",
        "password": "Correct-Horse-42", "dgaaccounts_verified_identity": {
            "provider": "thaid", "issuer": "x", "sub": "y", "email": "api.dev@example.com"},
        "identity": {"provider": "thaid"}})
    assert response.status_code == 200, response.body
    [req] = model.Session.query(Request).all()
    assert req.state == "awaiting_verification"
    assert "identity" not in req.details
    assert model.Session.query(IdentityLink).count() == 0


def test_the_identity_passed_in_the_context_is_used_by_the_action(app):
    """The contract the provider views rely on (called in-process, never over HTTP)."""
    verified = identity.Verified(provider="thaid", issuer="https://thaid.example", sub="s-1",
                                 record={"provider": "thaid", "ial": 2.3,
                                         "verified": ["email"]},
                                 email="In.Context@Example.com")
    result = ckan_helpers.call_action(
        "dgaaccounts_developer_register",
        context={"user": "", identity.CONTEXT_KEY: verified},
        name="ctx_dev", fullname="Ctx Dev", email="in.context@example.com",
        password="Correct-Horse-42")
    assert result["state"] == "approved"
    assert result["api_token"]
    assert model.User.by_name("ctx_dev").state == "active"
    assert identity.find("https://thaid.example", "s-1").user_id == model.User.by_name(
        "ctx_dev").id


def test_the_action_refuses_an_identity_linked_meanwhile_and_makes_nothing(app):
    """The link is made in the registration's transaction: an identity linked between the
    page and the action refuses the registration, with nothing half-made."""
    other = factories.User(name="other", email="other@example.com")
    identity.link(model.User.get(other["id"]), "thaid", "https://thaid.example", "s-1", None,
                  None)
    model.Session.commit()
    before = row_counts()
    verified = identity.Verified(provider="thaid", issuer="https://thaid.example", sub="s-1",
                                 record={"provider": "thaid"}, email="late@example.com")
    with pytest.raises(tk.ValidationError) as error:
        ckan_helpers.call_action(
            "dgaaccounts_developer_register",
            context={"user": "", identity.CONTEXT_KEY: verified},
            name="late_dev", fullname="Late Dev", email="late@example.com",
            password="Correct-Horse-42")
    assert "identity" in error.value.error_dict
    assert row_counts() == before
    assert model.User.by_name("late_dev") is None


# -- the verified identity: server-side, short-lived, used once ----------------------------------

GONE = "can no longer be used to register"
VERIFIED_KEYS = "dgaaccounts:oidc:verified:*"


def _cookie(client) -> str:
    return client.get_cookie("ckan", domain="127.0.0.1").value


def _browser_with(app, cookie: str):
    browser = app.test_client()
    browser.set_cookie("ckan", cookie, domain="127.0.0.1")
    return browser


def _refused_as_gone(browser, response) -> None:
    assert response.headers["Location"].endswith("/user/login")
    assert GONE in browser.get("/user/login").body


def test_a_saved_cookie_registers_nothing_after_the_registration(app, oidc):
    """The prober's case: a copy of the cookie kept from before the registration, brought back
    once the identity is free again (its link removed), makes no second account."""
    client, _ = callback(app, "digitalid", "somchai")
    page = client.get("/user/oidc/register/developer").body
    saved = _cookie(client)
    response = client.post("/user/oidc/register/developer", data={
        **DEVELOPER, "_csrf_token": csrf(page)})
    assert response.status_code == 200, response.body[:2000]
    identity.unlink_row(identity.find(oidc["digitalid"].issuer, "did-8f2c"), None)
    model.Session.commit()
    before = row_counts()
    for path in ("developer", "agency"):
        replay = _browser_with(app, saved)
        response = replay.post(f"/user/oidc/register/{path}", data={
            **FORM, **DEVELOPER, "name": f"second_{path}", "_csrf_token": csrf(page)},
            follow_redirects=False)
        _refused_as_gone(replay, response)
    replay = _browser_with(app, saved)
    _refused_as_gone(replay, replay.get("/user/oidc/no-account", follow_redirects=False))
    assert row_counts() == before
    assert model.Session.query(IdentityLink).count() == 0


def test_an_expired_verified_identity_is_refused(app, oidc):
    from ckan.lib.redis import connect_to_redis

    client, _ = callback(app, "digitalid", "somchai")
    page = client.get("/user/oidc/register/developer").body
    redis = connect_to_redis()
    [key] = redis.keys(VERIFIED_KEYS)
    assert 0 < redis.ttl(key) <= 600  # as long as a sign-in flow
    assert b"did-8f2c" not in _cookie(client).encode()  # the cookie holds only the handle
    redis.delete(key)  # what 600 s do
    before = row_counts()
    response = client.post("/user/oidc/register/developer", data={
        **DEVELOPER, "_csrf_token": csrf(page)}, follow_redirects=False)
    _refused_as_gone(client, response)
    assert row_counts() == before
    # the handle went with it: the usual forms from now on
    assert client.get("/user/oidc/register/agency", follow_redirects=False).headers[
        "Location"].endswith("/dgaaccounts/register/agency")


def test_a_validation_error_keeps_the_identity_for_the_corrected_form(app, oidc):
    client, _ = callback(app, "digitalid", "somchai")
    page = client.get("/user/oidc/register/developer").body
    again = client.post("/user/oidc/register/developer", data={
        **DEVELOPER, "name": "Not A Username!", "_csrf_token": csrf(page)})
    assert "Use at least 2 characters" in again.body
    response = client.post("/user/oidc/register/developer", data={
        **DEVELOPER, "_csrf_token": csrf(page)})
    assert response.status_code == 200, response.body[:2000]
    assert model.User.by_name("somchai_dev").state == "active"
    assert identity.find(oidc["digitalid"].issuer, "did-8f2c").user_id == model.User.by_name(
        "somchai_dev").id


def test_a_kept_identity_is_taken_once_and_given_back_whole(app):
    from ckan.lib.redis import connect_to_redis

    from ckanext.dgaaccounts import oidc as oidc_module

    handle = oidc_module.keep_verified({"provider": "thaid", "sub": "s-1"})
    taken = oidc_module.take_verified(handle)
    assert taken is not None
    assert taken[0] == {"provider": "thaid", "sub": "s-1"}
    assert oidc_module.take_verified(handle) is None  # a second request with the handle
    assert oidc_module.kept_verified(handle) is None
    oidc_module.give_back_verified(handle, taken)
    assert oidc_module.kept_verified(handle) == {"provider": "thaid", "sub": "s-1"}
    [key] = connect_to_redis().keys(VERIFIED_KEYS)
    assert 0 < connect_to_redis().ttl(key) <= taken[1]  # no longer than it had left
    assert oidc_module.take_verified("not a handle") is None
    assert oidc_module.take_verified(None) is None


# -- a locked agency --------------------------------------------------------------------------

def test_a_locked_agency_ignores_a_typed_agency(app, oidc, agency):
    client, _ = callback(app, "digitalid", "somchai")
    page = client.get("/user/oidc/register/agency").body
    response = client.post("/user/oidc/register/agency", data={
        **FORM, "_csrf_token": csrf(page), "agency_listed": "no", "organization": "",
        "agency_name": "Evil agency"}, follow_redirects=False)
    assert response.status_code == 302, response.body[:2000]
    [req] = model.Session.query(Request).all()
    assert req.organization_id == agency["id"]
    assert "agency_name" not in req.details
    admin = factories.Sysadmin()
    body = app.get(f"/ckan-admin/dgaaccounts/request/{req.id}",
                   headers={"Authorization": factories.APIToken(user=admin["name"])["token"]}
                   ).body
    assert "Evil agency" not in body
    assert "สำนักงานพัฒนารัฐบาลดิจิทัล" in body


def test_a_locked_agency_with_a_bad_field_shows_no_typed_agency(app, oidc, agency):
    client, _ = callback(app, "digitalid", "somchai")
    page = client.get("/user/oidc/register/agency").body
    again = client.post("/user/oidc/register/agency", data={
        **FORM, "phone": "call me", "_csrf_token": csrf(page), "agency_listed": "no",
        "agency_name": "Evil agency"})
    assert again.status_code == 200
    assert "Evil agency" not in again.body
    assert 'value="สำนักงานพัฒนารัฐบาลดิจิทัล"' in again.body


def test_an_unlocked_agency_keeps_the_forms_explicit_choice(app, oidc, agency):
    """Without a verified agency, the choice works as on the usual form: the agency chosen
    from the list wins over a name typed and then left."""
    client, _ = callback(app, "thaid", "somchai")
    page = client.get("/user/oidc/register/agency").body
    assert not _readonly(page, "field-organization")
    client.post("/user/oidc/register/agency", data={
        **FORM, "_csrf_token": csrf(page), "agency_listed": "yes",
        "organization": "สำนักงานพัฒนารัฐบาลดิจิทัล", "agency_name": "Typed then left"})
    [req] = model.Session.query(Request).all()
    assert req.organization_id == agency["id"]
    assert "agency_name" not in req.details
