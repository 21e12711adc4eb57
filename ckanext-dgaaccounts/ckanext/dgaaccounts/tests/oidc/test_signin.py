"""Sign-in with ThaID / DGA Digital ID against a real OpenID Provider (oidc-provider on Node):
the flow, linking by issuer + sub, and the account-state matrix (web and API)."""
from __future__ import annotations

import hashlib
import hmac
import re
import time
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

import ckan.model as model
from ckan.tests import factories, helpers as ckan_helpers

from ckanext.dgaaccounts import account, identity
from ckanext.dgaaccounts import oidc as oidc_module
from ckanext.dgaaccounts.identity import IdentityLink
from ckanext.dgaaccounts.tests.conftest import registration, row_counts
from ckanext.dgaaccounts.tests.oidc.conftest import (
    DIGITALID_ACCOUNTS, PID, THAID_ACCOUNTS, local, provider_login,
)
from ckanext.dgaaccounts.tests.oidc.helpers import (
    PASSWORD, api_as, callback, csrf, events, password_sign_in, signed_in, start,
)

pytestmark = pytest.mark.usefixtures("clean_db", "oidc")
PROVIDERS = ["thaid", "digitalid"]
SUBS = {"thaid": THAID_ACCOUNTS["somchai"]["sub"],
        "digitalid": DIGITALID_ACCOUNTS["somchai"]["sub"]}


def _user(name: str = "somchai", **kwargs) -> model.User:
    factories.User(name=name, email=f"{name}@dga.or.th", password=PASSWORD, **kwargs)
    return model.User.by_name(name)


def _link(user: model.User, provider: str, oidc) -> IdentityLink:
    row = identity.link(user, provider, oidc[provider].issuer, SUBS[provider], PID, user.id)
    model.Session.commit()
    return row


class TestAuthorizationRequest:
    @pytest.mark.parametrize("provider", PROVIDERS)
    def test_code_flow_with_pkce_state_and_nonce(self, app, oidc, provider):
        query = parse_qs(urlsplit(start(app.test_client(), provider)).query)
        assert query["response_type"] == ["code"]
        assert query["code_challenge_method"] == ["S256"]
        assert len(query["code_challenge"][0]) >= 43
        assert len(query["state"][0]) >= 32
        assert len(query["nonce"][0]) >= 32
        assert query["client_id"] == [oidc[provider].client["client_id"]]
        assert query["redirect_uri"] == [f"http://127.0.0.1:5000/user/oidc/{provider}/callback"]

    def test_login_page_offers_both_providers_in_english_and_thai(self, app):
        body = app.get("/user/login").body
        assert "Sign in with ThaID" in body
        assert "Sign in with Digital ID" in body
        body = app.get("/th/user/login").body
        assert "ดิจิทัลไอดี" in body

    def test_unknown_provider_is_404(self, app):
        assert app.get("/user/oidc/nosuch/login", status=404)


class TestSignIn:
    @pytest.mark.parametrize("provider", PROVIDERS)
    def test_linked_active_user_signs_in(self, app, oidc, provider):
        user = _user()
        _link(user, provider, oidc)
        client, response = callback(app, provider, "somchai")
        assert response.status_code == 302
        assert "/dashboard" in response.headers["Location"]
        assert signed_in(client)
        assert api_as(client, "somchai") == 200
        [event] = events("oidc_sign_in")
        assert event.target_user_id == user.id
        assert event.details["provider"] == provider
        model.Session.expire_all()
        assert identity.find(oidc[provider].issuer, SUBS[provider]).last_used is not None

    def test_the_session_epoch_holds_for_provider_sessions(self, app, oidc):
        user = _user()
        _link(user, "thaid", oidc)
        client, _ = callback(app, "thaid", "somchai")
        assert signed_in(client)
        account.end_sessions_and_tokens(model.User.by_name("somchai"))  # as a suspension does
        model.Session.commit()
        assert not signed_in(client)
        assert api_as(client, "somchai") == 403

    def test_identity_without_link_is_offered_registration_and_nothing_is_created(self, app):
        # The same email as the provider asserts: never matched by email.
        _user()
        before = row_counts()
        client, response = callback(app, "thaid", "somchai")
        assert response.headers["Location"].endswith("/user/oidc/no-account")
        page = client.get("/user/oidc/no-account").body
        assert "no account on this portal is linked to it" in page
        assert "/user/oidc/register/agency" in page  # pre-filled from the identity
        assert "/user/oidc/register/developer" in page  # pre-filled too
        assert not signed_in(client)
        after = row_counts()
        assert after["users"] == before["users"]
        assert after["requests"] == before["requests"]
        assert model.Session.query(IdentityLink).count() == 0
        assert len(events("oidc_no_account")) == 1

    def test_api_tokens_are_unaffected_by_provider_sign_in(self, app, oidc):
        user = _user()
        token = factories.APIToken(user="somchai")["token"]
        _link(user, "thaid", oidc)
        callback(app, "thaid", "somchai")
        response = app.get("/api/3/action/api_token_list?user_id=somchai",
                           headers={"Authorization": token})
        assert response.status_code == 200


# -- every account state x every provider x web and API --------------------------------------

def _registered_awaiting_verification() -> model.User:
    ckan_helpers.call_action("dgaaccounts_agency_register", **registration())
    return model.User.by_name("somchai")


def _pending() -> model.User:
    return _user(state="pending")


def _suspended() -> model.User:
    user = _user()
    account.suspend(user)
    model.Session.commit()
    return user


def _cancelled() -> model.User:
    user = _user()
    account.cancel(user)
    model.Session.commit()
    return user


STATES = {
    "agency registration awaiting verification": _registered_awaiting_verification,
    "pending": _pending,
    "suspended": _suspended,
    "cancelled": _cancelled,
}


@pytest.mark.usefixtures("smtp")
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("state", list(STATES))
def test_closed_or_unopened_accounts_cannot_sign_in(app, oidc, provider, state):
    user = STATES[state]()
    _link(user, provider, oidc)
    user_state, extras = user.state, dict(user.plugin_extras or {})
    client, response = callback(app, provider, "somchai")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/user/login")
    # web: no session; API with the browser's cookie: anonymous
    assert not signed_in(client)
    assert api_as(client, "somchai") == 403
    # nothing reopened, nothing activated
    model.Session.expire_all()
    again = model.User.get(user.id)
    assert again.state == user_state
    assert dict(again.plugin_extras or {}) == extras
    [event] = events("oidc_refused")
    assert event.target_user_id == user.id
    assert event.details["reason"] == "account_state"
    assert events("oidc_sign_in") == []
    page = client.get("/user/login").body
    assert any(text in page for text in ("cancelled", "suspended", "not open yet"))


# -- linking from the profile --------------------------------------------------------------

def _link_from_profile(app, client, provider: str, login: str = "somchai"):
    page = client.get("/user/oidc/identities").body
    response = client.post(f"/user/oidc/{provider}/link", data={"_csrf_token": csrf(page)},
                           follow_redirects=False)
    assert response.status_code == 302, response.body[:300]
    url = provider_login(response.headers["Location"], login)
    return client.get(local(url), follow_redirects=False)


class TestLinking:
    @pytest.mark.parametrize("provider", PROVIDERS)
    def test_active_user_links_then_signs_in_then_unlinks(self, app, oidc, provider):
        user = _user()
        client = password_sign_in(app, "somchai")
        _link_from_profile(app, client, provider)
        [row] = model.Session.query(IdentityLink).all()
        assert (row.user_id, row.issuer, row.sub) == (user.id, oidc[provider].issuer,
                                                     SUBS[provider])
        assert row.pid_hmac == hmac.new(b"test-identity-hmac-secret", PID.encode(),
                                        hashlib.sha256).hexdigest()
        assert len(events("identity_linked")) == 1
        link_id = row.id
        # provider sign-in now works
        other, response = callback(app, provider, "somchai")
        assert signed_in(other)
        # unlink, audited; the provider sign-in no longer reaches the account
        page = client.get("/user/oidc/identities").body
        client.post(f"/user/oidc/unlink/{link_id}", data={"_csrf_token": csrf(page)})
        assert model.Session.query(IdentityLink).count() == 0
        assert len(events("identity_unlinked")) == 1
        third, response = callback(app, provider, "somchai")
        assert response.headers["Location"].endswith("/user/oidc/no-account")

    def test_citizen_id_is_never_stored_in_clear(self, app, oidc):
        _user()
        client = password_sign_in(app, "somchai")
        _link_from_profile(app, client, "thaid")
        callback(app, "thaid", "somchai")
        with model.meta.engine.connect() as conn:
            import sqlalchemy as sa

            for table in ("dgaaccounts_identity_link", "dgaaccounts_audit", "user"):
                dump = str(conn.execute(sa.text(f'SELECT * FROM "{table}"')).fetchall())
                assert PID not in dump, table

    def test_identity_linked_to_another_account_is_refused(self, app, oidc):
        first = _user("somchai")
        _link(first, "thaid", oidc)
        _user("other")
        client = password_sign_in(app, "other")
        response = _link_from_profile(app, client, "thaid")
        assert response.headers["Location"].endswith("/user/oidc/identities")
        rows = model.Session.query(IdentityLink).all()
        assert [(r.user_id) for r in rows] == [first.id]
        [event] = events("oidc_refused")
        assert event.details["reason"] == "already_linked"
        assert "already linked to an account" in client.get("/user/oidc/identities").body

    def test_unlinking_someone_elses_link_is_404(self, app, oidc):
        link_id = _link(_user("somchai"), "thaid", oidc).id
        _user("other")
        client = password_sign_in(app, "other")
        page = client.get("/user/oidc/identities").body
        response = client.post(f"/user/oidc/unlink/{link_id}", data={"_csrf_token": csrf(page)})
        assert response.status_code == 404
        assert model.Session.query(IdentityLink).count() == 1

    def test_linking_needs_a_signed_in_user(self, app):
        assert app.post("/user/oidc/thaid/link", status=403)

    def test_the_identity_pages_for_someone_not_signed_in(self, app, oidc):
        link_id = _link(_user(), "thaid", oidc).id
        client = app.test_client()
        identities = client.get("/user/oidc/identities", follow_redirects=False)
        assert identities.status_code == 302
        assert identities.headers["Location"].endswith("/user/login")
        refused = client.post(f"/user/oidc/unlink/{link_id}")
        assert refused.status_code == 403
        assert "Sign in with your password first." in refused.body
        no_account = client.get("/user/oidc/no-account", follow_redirects=False)
        assert no_account.headers["Location"].endswith("/user/login")  # no identity to offer
        assert model.Session.query(IdentityLink).count() == 1

    def test_a_signed_in_user_asking_to_sign_in_goes_to_the_dashboard(self, app, oidc):
        _user()
        client = password_sign_in(app, "somchai")
        response = client.get("/user/oidc/thaid/login", follow_redirects=False)
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/dashboard/datasets")

    def test_a_link_finished_after_signing_out_is_refused(self, app, oidc):
        _user()
        client = password_sign_in(app, "somchai")
        page = client.get("/user/oidc/identities").body
        started = client.post("/user/oidc/thaid/link", data={"_csrf_token": csrf(page)},
                              follow_redirects=False)
        url = provider_login(started.headers["Location"], "somchai")
        client.get("/user/_logout")
        assert not signed_in(client)
        client.get(local(url), follow_redirects=False)
        assert model.Session.query(IdentityLink).count() == 0
        assert [e.details["reason"] for e in events("oidc_refused")] == ["not_signed_in"]

    @pytest.mark.parametrize("bad", ["no-such-link", "x" * 300])
    def test_unlinking_an_unknown_or_malformed_id_is_404(self, app, oidc, bad):
        _link(_user(), "thaid", oidc)
        client = password_sign_in(app, "somchai")
        page = client.get("/user/oidc/identities").body
        response = client.post(f"/user/oidc/unlink/{bad}", data={"_csrf_token": csrf(page)})
        assert response.status_code == 404
        assert model.Session.query(IdentityLink).count() == 1

    def test_the_link_actions_over_http_with_an_api_token(self, app, oidc):
        link_id = _link(_user(), "digitalid", oidc).id
        token = factories.APIToken(user="somchai")["token"]
        listed = app.get("/api/3/action/dgaaccounts_identity_link_list",
                         headers={"Authorization": token})
        assert listed.status_code == 200, listed.body
        assert listed.json["result"][0]["id"] == link_id
        # parameters are no identity: linking needs the provider's callback
        refused = app.post("/api/3/action/dgaaccounts_identity_link",
                           headers={"Authorization": token},
                           json={"issuer": oidc["digitalid"].issuer, "sub": "x"})
        assert refused.status_code == 409
        assert app.post("/api/3/action/dgaaccounts_identity_unlink",
                        json={"id": link_id}).status_code == 403
        done = app.post("/api/3/action/dgaaccounts_identity_unlink",
                        headers={"Authorization": token}, json={"id": link_id})
        assert done.status_code == 200
        assert model.Session.query(IdentityLink).count() == 0


# -- sign out everywhere -------------------------------------------------------------------

def _needs_login(http: requests.Session, authorize_url: str) -> bool:
    """Whether the provider asks for a login (no provider session in ``http``)."""
    url = authorize_url
    for _ in range(10):
        response = http.get(url, allow_redirects=False, timeout=10)
        if response.status_code not in (302, 303):
            return 'name="prompt" value="login"' in response.text
        url = urljoin(url, response.headers["Location"])
        if url.startswith("http://127.0.0.1:5000/"):
            return False
    raise AssertionError("no answer from the provider")


class TestSignOut:
    @pytest.mark.parametrize("provider", PROVIDERS)
    def test_signing_out_ends_the_provider_session_too(self, app, oidc, provider):
        _link(_user(), provider, oidc)
        http = requests.Session()  # the browser, as the provider sees it
        client = app.test_client()
        client.get(local(provider_login(start(client, provider), "somchai", http=http)))
        assert signed_in(client)
        assert not _needs_login(http, start(app.test_client(), provider))

        response = client.get("/user/_logout", follow_redirects=False)
        end = urlsplit(response.headers["Location"])
        assert f"{end.scheme}://{end.netloc}" == oidc[provider].issuer
        assert end.path == "/session/end"
        query = parse_qs(end.query)
        assert query["client_id"] == [oidc[provider].client["client_id"]]
        assert query["post_logout_redirect_uri"] == [
            "http://127.0.0.1:5000/user/logged_out_redirect"]
        assert not signed_in(client)

        # the provider's own confirmation, then back to the portal
        page = http.get(response.headers["Location"], timeout=10).text
        action = re.search(r'<form[^>]*action="([^"]+)"', page).group(1)
        xsrf = re.search(r'name="xsrf" value="([^"]+)"', page).group(1)
        back = http.post(urljoin(oidc[provider].issuer, action),
                         data={"xsrf": xsrf, "logout": "yes"}, allow_redirects=False, timeout=10)
        assert back.headers["Location"] == "http://127.0.0.1:5000/user/logged_out_redirect"
        assert _needs_login(http, start(app.test_client(), provider))

    def test_password_sessions_sign_out_as_before(self, app):
        _user()
        client = password_sign_in(app, "somchai")
        response = client.get("/user/_logout", follow_redirects=False)
        assert response.headers["Location"].endswith("/user/logged_out_redirect")
        assert not signed_in(client)


class TestProviderDocumentsKept:
    """The discovery document and the keys are fetched once per process and cache_seconds, and
    the keys again when the provider has rotated them."""

    @pytest.fixture
    def fetched(self, monkeypatch) -> list[str]:
        urls: list[str] = []
        real = oidc_module._get_json

        def counting(url: str):
            urls.append(url)
            return real(url)

        monkeypatch.setattr(oidc_module, "_get_json", counting)
        return urls

    def _sign_in_twice(self, app, oidc) -> None:
        _link(_user(), "thaid", oidc)
        for _ in range(2):
            _client, response = callback(app, "thaid", "somchai")
            assert response.status_code == 302
            assert "/dashboard" in response.headers["Location"]

    def test_two_sign_ins_fetch_each_document_once(self, app, oidc, fetched):
        self._sign_in_twice(app, oidc)
        assert sorted(fetched) == sorted([oidc["thaid"].discovery_url,
                                          _jwks_uri(oidc)])

    def test_zero_seconds_fetches_every_time(self, app, oidc, fetched, ckan_config,
                                             monkeypatch):
        monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.oidc.cache_seconds", 0)
        self._sign_in_twice(app, oidc)
        # Each sign-in: discovery at the start and at the callback, then the keys.
        assert fetched.count(oidc["thaid"].discovery_url) == 4
        assert fetched.count(_jwks_uri(oidc)) == 2

    def test_rotated_keys_are_fetched_again(self, app, oidc, fetched):
        from joserfc.jwk import ECKey

        old = ECKey.generate_key("P-256", parameters={"kid": "retired-key"})
        oidc_module._CACHE[_jwks_uri(oidc)] = (
            time.monotonic() - 60, {"keys": [old.as_dict(private=False)]})
        _link(_user(), "thaid", oidc)
        _client, response = callback(app, "thaid", "somchai")
        assert "/dashboard" in response.headers["Location"]  # verified with the new keys
        assert fetched.count(_jwks_uri(oidc)) == 1
        kept = {k["kid"] for k in oidc_module._CACHE[_jwks_uri(oidc)][1]["keys"]}
        assert "retired-key" not in kept


def _jwks_uri(oidc) -> str:
    return requests.get(oidc["thaid"].discovery_url, timeout=10).json()["jwks_uri"]
