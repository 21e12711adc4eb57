"""Bad inputs to the provider sign-in: each refused with a clear message, nothing created or
linked, an audit event. ID tokens are crafted with the provider's own signing key (the only
way to get a well-signed token that is wrong in one claim) and checked against the JWKS the
real provider serves."""
from __future__ import annotations

import base64
import json
import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

import ckan.model as model
from ckan.tests import factories

from ckanext.dgaaccounts import identity
from ckanext.dgaaccounts import oidc as client_side
from ckanext.dgaaccounts.identity import IdentityLink
from ckanext.dgaaccounts.tests.conftest import free_port, row_counts
from ckanext.dgaaccounts.tests.oidc.conftest import PID, THAID_ACCOUNTS, local, provider_login
from ckanext.dgaaccounts.tests.oidc.helpers import PASSWORD, events, signed_in, start

pytestmark = pytest.mark.usefixtures("clean_db", "oidc")
NONCE = "n-0123456789abcdef0123456789abcdef"


def _claims(running, **changes):
    now = int(time.time())
    claims = {"iss": running.issuer, "sub": "thaid-somchai", "aud": running.client["client_id"],
              "exp": now + 300, "iat": now, "nonce": NONCE, "pid": PID}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(running, claims, key=None, alg=None):
    key = key or running.key
    alg = alg or running.client["id_token_signed_response_alg"]
    header = {"alg": alg, "kid": key.kid} if key.kid else {"alg": alg}
    return jwt.encode(header, claims, key, algorithms=[alg])


def _unsigned(claims):
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _verify(running, token):
    provider = client_side.get(running.name)
    return client_side.verify_id_token(provider, client_side.metadata(provider), token, NONCE)


def _other_key(running):
    return RSAKey.generate_key(2048, parameters={"kid": "attacker-1"}, private=True)


BAD_TOKENS = {
    "wrong nonce": lambda r: _sign(r, _claims(r, nonce="another")),
    "no nonce": lambda r: _sign(r, _claims(r, nonce=None)),
    "expired": lambda r: _sign(r, _claims(r, exp=int(time.time()) - 3600)),
    "not yet valid": lambda r: _sign(r, _claims(r, nbf=int(time.time()) + 3600)),
    "issued in the future": lambda r: _sign(r, _claims(r, iat=int(time.time()) + 3600)),
    "wrong audience": lambda r: _sign(r, _claims(r, aud="another-client")),
    "two audiences, no azp": lambda r: _sign(r, _claims(r, aud=[r.client["client_id"], "x"])),
    "wrong issuer": lambda r: _sign(r, _claims(r, iss="https://evil.example")),
    "no sub": lambda r: _sign(r, _claims(r, sub=None)),
    "alg none": lambda r: _unsigned(_claims(r)),
    "key not in the JWKS": lambda r: _sign(r, _claims(r), key=_other_key(r), alg="RS256"),
    "HS256 with the client secret": lambda r: _sign(
        r, _claims(r), key=OctKey.import_key(r.client["client_secret"]), alg="HS256"),
    "tampered payload": lambda r: _tamper(_sign(r, _claims(r))),
    "not a JWT": lambda r: "not-a-token",
}


def _tamper(token):
    head, _body, sig = token.split(".")
    body = base64.urlsafe_b64encode(json.dumps(
        {"sub": "someone-else"}).encode()).rstrip(b"=").decode()
    return f"{head}.{body}.{sig}"


@pytest.mark.usefixtures("with_request_context")
@pytest.mark.parametrize("provider", ["thaid", "digitalid"])
def test_a_good_token_passes(oidc, provider):
    assert _verify(oidc[provider], _sign(oidc[provider], _claims(oidc[provider])))["sub"]


@pytest.mark.usefixtures("with_request_context")
@pytest.mark.parametrize("provider", ["thaid", "digitalid"])
@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_bad_id_tokens_are_refused(oidc, provider, case):
    with pytest.raises(client_side.SignInError) as caught:
        _verify(oidc[provider], BAD_TOKENS[case](oidc[provider]))
    assert caught.value.reason == "bad_id_token"
    assert "could not be verified" in caught.value.message


# -- through the callback: state, code, provider errors ---------------------------------------

def _refused(client, response, reason, text):
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/user/login")
    assert not signed_in(client)
    assert text in client.get("/user/login").body
    assert [e.details["reason"] for e in events("oidc_refused")][-1] == reason


def _linked_user():
    factories.User(name="somchai", email="somchai@dga.or.th", password=PASSWORD)
    return model.User.by_name("somchai")


def test_wrong_state_is_refused(app, oidc):
    client = app.test_client()
    start(client, "thaid")
    before = row_counts()
    response = client.get("/user/oidc/thaid/callback?state=forged&code=abc",
                          follow_redirects=False)
    _refused(client, response, "bad_state", "not valid any more")
    assert row_counts()["users"] == before["users"]


def test_state_of_another_provider_is_refused(app, oidc):
    client = app.test_client()
    state = parse_qs(urlsplit(start(client, "digitalid")).query)["state"][0]
    response = client.get(f"/user/oidc/thaid/callback?state={state}&code=abc",
                          follow_redirects=False)
    _refused(client, response, "bad_state", "not valid any more")


def test_replayed_callback_is_refused_even_with_the_old_cookie(app, oidc):
    user = _linked_user()
    identity.link(user, "thaid", oidc["thaid"].issuer, "thaid-somchai", PID, user.id)
    model.Session.commit()
    client = app.test_client()
    url = provider_login(start(client, "thaid"), "somchai")
    old_cookie = client.get_cookie("ckan", domain="127.0.0.1").value
    assert client.get(local(url), follow_redirects=False).headers["Location"].endswith(
        "/dashboard/datasets")
    # the same browser again: the state is gone from the session
    replay = app.test_client()
    replay.set_cookie("ckan", old_cookie, domain="127.0.0.1")
    response = replay.get(local(url), follow_redirects=False)
    _refused(replay, response, "bad_state", "not valid any more")
    assert len(events("oidc_sign_in")) == 1


def test_code_of_another_flow_is_refused_by_the_provider(app, oidc):
    """A code that was never redeemed, brought to another flow: its PKCE verifier does not
    match the code's challenge, so the provider refuses it."""
    user = _linked_user()
    identity.link(user, "thaid", oidc["thaid"].issuer, "thaid-somchai", PID, user.id)
    model.Session.commit()
    stolen = parse_qs(urlsplit(provider_login(start(app.test_client(), "thaid"), "somchai"))
                      .query)["code"][0]
    client = app.test_client()
    state = parse_qs(urlsplit(start(client, "thaid")).query)["state"][0]
    response = client.get(f"/user/oidc/thaid/callback?state={state}&code={stolen}",
                          follow_redirects=False)
    _refused(client, response, "code_refused", "refused this sign-in")


def test_code_used_twice_is_refused(app, oidc):
    user = _linked_user()
    identity.link(user, "thaid", oidc["thaid"].issuer, "thaid-somchai", PID, user.id)
    model.Session.commit()
    client = app.test_client()
    url = provider_login(start(client, "thaid"), "somchai")
    code = parse_qs(urlsplit(url).query)["code"][0]
    client.get(local(url))
    attacker = app.test_client()
    state = parse_qs(urlsplit(start(attacker, "thaid")).query)["state"][0]
    response = attacker.get(f"/user/oidc/thaid/callback?state={state}&code={code}",
                            follow_redirects=False)
    _refused(attacker, response, "code_refused", "refused this sign-in")


def test_provider_error_answer_is_refused(app, oidc):
    client = app.test_client()
    state = parse_qs(urlsplit(start(client, "thaid")).query)["state"][0]
    response = client.get(f"/user/oidc/thaid/callback?state={state}&error=access_denied",
                          follow_redirects=False)
    _refused(client, response, "provider_error", "did not sign you in")


def test_provider_down(app, oidc, ckan_config, monkeypatch):
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.oidc.thaid.discovery_url",
                        f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration")
    client = app.test_client()
    response = client.get("/user/oidc/thaid/login", follow_redirects=False)
    _refused(client, response, "provider_unavailable", "did not answer")


@pytest.fixture
def silent_server():
    """A loopback server that accepts connections and never answers (a provider that hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", free_port()))
    server.listen(16)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_provider_slow(app, oidc, ckan_config, monkeypatch, silent_server):
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.oidc.thaid.discovery_url",
                        f"http://127.0.0.1:{silent_server}/.well-known/openid-configuration")
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.oidc.timeout", 1)
    client = app.test_client()
    began = time.monotonic()
    response = client.get("/user/oidc/thaid/login", follow_redirects=False)
    assert time.monotonic() - began < 5
    _refused(client, response, "provider_unavailable", "did not answer")


def test_provider_tokens_are_never_logged(app, oidc, ext_log):
    caplog = ext_log
    user = _linked_user()
    identity.link(user, "thaid", oidc["thaid"].issuer, "thaid-somchai", PID, user.id)
    model.Session.commit()
    client = app.test_client()
    url = provider_login(start(client, "thaid"), "somchai")
    code = parse_qs(urlsplit(url).query)["code"][0]
    client.get(local(url))
    attacker = app.test_client()
    state = parse_qs(urlsplit(start(attacker, "thaid")).query)["state"][0]
    attacker.get(f"/user/oidc/thaid/callback?state={state}&code={code}")
    assert code not in caplog.text
    assert "eyJ" not in caplog.text  # no JWT (ID token) in any log line
    assert PID not in caplog.text
    assert THAID_ACCOUNTS["somchai"]["sub"] not in caplog.text
    # ...and the extension's lines were seen: the replayed code is logged, without itself
    assert any(r.name.startswith("ckanext.dgaaccounts") for r in caplog.records), caplog.text


def test_nothing_is_linked_by_a_refused_link(app, oidc):
    factories.User(name="other", email="other@dga.or.th", password=PASSWORD)
    client = app.test_client()
    response = client.get("/user/oidc/thaid/callback?state=forged&code=x",
                          follow_redirects=False)
    assert response.status_code == 302
    assert model.Session.query(IdentityLink).count() == 0
