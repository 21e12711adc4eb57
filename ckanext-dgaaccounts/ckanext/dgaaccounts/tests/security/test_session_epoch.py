"""Every way back into a session carries the session epoch.

The matrix: four account states (pending, active, suspended, reactivated) x every credential a
browser or a client can hold (the session cookie, Flask-Login's "remember me" cookie, an API
token, a password-reset link), tried through CKAN's app. Credentials taken while the account was
active stop working at the suspension and stay dead after the reactivation; a pending account
has none that works; an active account's work (the positive control, remember-me included).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import ckan.model as model
from ckan.tests import factories

from ckanext.dgaaccounts import account
from ckanext.dgaaccounts.tests.conftest import PDF
from ckanext.dgaaccounts.tests.security.conftest import (
    _cookie_domain, account_request, agency_request, csrf_token, decide,
)

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db", "_no_rate_limit"),
]

PASSWORD = "Epoch-Passw0rd-77"
REMEMBER_MS = "63072000"  # what CKAN's login form sends when "Remember me" is ticked
COMPANION = "dgaaccounts_remember"  # account.REMEMBER_COOKIE


@dataclass
class Credentials:
    user_id: str
    name: str
    session: str | None = None  # the "ckan" session cookie
    remember: str | None = None  # Flask-Login's remember_token
    companion: str | None = None  # the extension's signed epoch beside it
    api_token: str | None = None
    reset_key: str | None = None


def _cookie(client: Any, name: str) -> str | None:
    found = client.get_cookie(name, domain=_cookie_domain())
    return found.value if found is not None else None


def _sign_in_remembered(app: Any, name: str) -> Any:
    client = app.test_client()
    page = client.get("/user/login")
    client.post("/user/login", data={"_csrf_token": csrf_token(page.body), "login": name,
                                     "password": PASSWORD, "remember": REMEMBER_MS})
    return client


def _take_credentials(app: Any, name: str) -> Credentials:
    """Everything an active user (or a thief of their browser) holds."""
    from ckanext.dgaaccounts import tokens

    client = _sign_in_remembered(app, name)
    user = model.User.by_name(name)
    creds = Credentials(user.id, name, session=_cookie(client, "ckan"),
                        remember=_cookie(client, "remember_token"),
                        companion=_cookie(client, COMPANION))
    assert creds.session, "sign-in set no session cookie"
    assert creds.remember, "sign-in set no remember cookie"
    creds.api_token = factories.APIToken(user=name)["token"]
    creds.reset_key = tokens.reset_key_committed(user.id)
    return creds


def _works(app: Any, creds: Credentials) -> dict[str, bool]:
    """Which credentials open the account now, each in a browser of its own."""
    domain = _cookie_domain()

    def signed_in(cookies: dict[str, str]) -> bool:
        client = app.test_client()
        for key, value in cookies.items():
            client.set_cookie(key, value, domain=domain)
        return client.get("/dashboard/datasets", follow_redirects=False).status_code == 200

    remembered = {"remember_token": creds.remember}
    if creds.companion:
        remembered[COMPANION] = creds.companion
    token = app.get("/api/3/action/api_token_list", query_string={"user_id": creds.name},
                    headers={"Authorization": creds.api_token}) if creds.api_token else None
    reset = app.get(f"/user/reset/{creds.user_id}", query_string={"key": creds.reset_key},
                    follow_redirects=False) if creds.reset_key else None
    return {
        "session cookie": bool(creds.session) and signed_in({"ckan": creds.session}),
        "remember cookie": bool(creds.remember) and signed_in(remembered),
        "api token": token is not None and token.status_code == 200,
        "reset link": reset is not None and reset.status_code == 200,
    }


NONE = {"session cookie": False, "remember cookie": False, "api token": False,
        "reset link": False}
ALL = dict.fromkeys(NONE, True)


@pytest.fixture
def officer() -> dict[str, Any]:
    return factories.User(name="epoch_officer", email="epoch_officer@dga.or.th",
                          password=PASSWORD)


@pytest.fixture
def root() -> dict[str, Any]:
    return factories.Sysadmin(name="epoch_root", email="epoch_root@dga.or.th",
                              password=PASSWORD)


def _suspend(user_name: str, sysadmin: str) -> None:
    req = account_request(user_name, "suspension", document=PDF)
    decide(sysadmin, "approve", req["id"])
    model.Session.remove()


def _reactivate(user_name: str, sysadmin: str) -> None:
    from ckan.tests import helpers

    helpers.call_action("dgaaccounts_user_reactivate",
                        context={"user": sysadmin, "ignore_auth": False}, id=user_name)
    model.Session.remove()


def test_active_account_every_credential_works(app, officer):
    creds = _take_credentials(app, officer["name"])
    assert creds.companion
    assert _works(app, creds) == ALL


def test_suspended_account_no_credential_works(app, officer, root):
    creds = _take_credentials(app, officer["name"])
    _suspend(officer["name"], root["name"])
    assert _works(app, creds) == NONE


def test_reactivated_account_no_credential_from_before_works(app, officer, root):
    creds = _take_credentials(app, officer["name"])
    _suspend(officer["name"], root["name"])
    _reactivate(officer["name"], root["name"])
    assert _works(app, creds) == NONE
    # The owner signs in again, and what they get now works (remember-me included).
    assert _works(app, _take_credentials(app, officer["name"])) == ALL


def test_reactivated_account_remember_cookie_alone_stays_dead(app, officer, root):
    """The cookie a stolen browser kept through the suspension (not the extension's companion,
    which a thief may not have): signed by the portal's key, the same at every sign-in."""
    creds = _take_credentials(app, officer["name"])
    creds.companion = None
    _suspend(officer["name"], root["name"])
    _reactivate(officer["name"], root["name"])
    _take_credentials(app, officer["name"])  # the owner signs in again
    assert _works(app, creds)["remember cookie"] is False


def test_cancelled_account_no_credential_works(app, officer, root):
    creds = _take_credentials(app, officer["name"])
    req = account_request(officer["name"], "cancellation", document=PDF)
    decide(root["name"], "approve", req["id"])
    model.Session.remove()
    assert _works(app, creds) == NONE


def test_pending_account_no_credential_works(app, root):
    """An applicant awaiting approval: the login form refuses it, and a token or a reset key
    made for it some other way, or a remember cookie forged with the portal's key, opens
    nothing."""
    from flask_login.utils import encode_cookie

    from ckanext.dgaaccounts.model import Request

    factories.Organization(name="dga")
    applicant = agency_request("epoch_applicant", "epoch_applicant@dga.or.th", document=PDF)
    user = model.Session.get(model.User, applicant["user_id"])
    user.password = PASSWORD
    user.reset_key = "0123456789abcdef0123456789abcdef"
    model.Session.commit()
    client = _sign_in_remembered(app, "epoch_applicant")
    assert _cookie(client, "remember_token") is None
    with app.flask_app.test_request_context():
        forged = encode_cookie(user.id)
    creds = Credentials(user.id, "epoch_applicant", session=_cookie(client, "ckan"),
                        remember=forged, api_token=factories.APIToken(user=user.name)["token"],
                        reset_key=user.reset_key)
    assert _works(app, creds) == NONE
    # Approved: the account is active, but a remember cookie that no sign-in of this account
    # made (no companion with its epoch) still opens nothing.
    decide(root["name"], "approve", applicant["id"])
    model.Session.remove()
    assert model.Session.get(Request, applicant["id"]).state == "approved"
    assert _works(app, Credentials(user.id, "epoch_applicant", remember=forged)) == NONE


def test_every_sign_in_path_passes_the_gate(app, officer):
    """login_user from anywhere (a sign-in plugin, the developer's sign-in after verification)
    stamps the epoch; a suspended account that reaches login_user gets no session."""
    from flask import session
    from flask_login import current_user, login_user

    user = model.User.by_name(officer["name"])
    with app.flask_app.test_request_context():
        login_user(user)
        assert session[account._SESSION_KEY] == account.epoch(user)
        assert current_user.is_authenticated
    account.suspend(user)
    model.Session.commit()
    with app.flask_app.test_request_context():
        login_user(user, force=True)  # a plugin that forces it
        assert "_user_id" not in session
        assert not current_user.is_authenticated
