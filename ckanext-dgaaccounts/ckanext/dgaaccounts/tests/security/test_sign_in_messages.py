"""One clear message per sign-in situation, and a developer's token survives a double click.

An account that is not open (awaiting verification, awaiting approval, suspended, closed) and is
given its RIGHT password gets one message that says what to do, never followed by "bad username
or password". With a WRONG password it gets exactly what an unknown name gets.

Pressing the verification button twice (a double click, or a reload that posts again) from the
same browser says that the token was already shown and where to make a new one, never "invalid
link"; another browser still gets "invalid". The token is never kept anywhere.
"""
from __future__ import annotations

import re
from typing import Any

import pytest

import ckan.model as model
from ckan.tests import factories

from ckanext.dgaaccounts.tests.conftest import PDF
from ckanext.dgaaccounts.tests.security.conftest import (
    account_request, agency_request, browser, csrf_token, decide, developer_request,
    session_cookie, without_csrf,
)

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db", "_no_rate_limit"),
]

PASSWORD = "Signin-Passw0rd-64"
BAD = "Bad username or password"


def _login(app: Any, login: str, password: str) -> str:
    client = app.test_client()
    page = client.get("/user/login")
    resp = client.post("/user/login", data={"_csrf_token": csrf_token(page.body),
                                            "login": login, "password": password})
    return resp.body


def _set_password(user_id: str) -> None:
    user = model.Session.get(model.User, user_id)
    user.password = PASSWORD
    model.Session.commit()


@pytest.fixture
def accounts() -> dict[str, str]:
    """One account in each state that cannot sign in, all with PASSWORD: name -> expected
    words of its message."""
    factories.Organization(name="dga")
    root = factories.Sysadmin(name="s_root", password=PASSWORD)
    waiting = agency_request("s_waiting", "s_waiting@dga.or.th", document=PDF)
    unverified = developer_request("s_unverified", "s_unverified@example.com")
    for user_id in (waiting["user_id"], unverified["user_id"]):
        _set_password(user_id)
    for name, kind in (("s_suspended", "suspension"), ("s_closed", "cancellation")):
        factories.User(name=name, email=f"{name}@dga.or.th", password=PASSWORD)
        decide(root["name"], "approve", account_request(name, kind, document=PDF)["id"])
    model.Session.remove()
    return {"s_waiting": "waiting for the approval", "s_unverified": "not confirmed yet",
            "s_suspended": "suspended", "s_closed": "This account is closed"}


def test_right_password_gets_one_message_that_says_what_to_do(app, accounts):
    for name, words in accounts.items():
        for login in (name, f"{name}@dga.or.th" if "unverified" not in name
                      else f"{name}@example.com"):
            body = _login(app, login, PASSWORD)
            assert words in body, (login, re.findall(r'class="alert[^"]*"[^>]*>([^<]*)', body))
            assert BAD not in body, login


def test_wrong_password_gets_what_an_unknown_name_gets(app, accounts):
    unknown = without_csrf(_login(app, "s_nobody", "Wrong-Passw0rd-00"))
    for name, words in accounts.items():
        body = _login(app, name, "Wrong-Passw0rd-00")
        assert BAD in body
        assert words not in body
        assert without_csrf(body).replace(name, "s_nobody") == unknown, name


def test_an_active_account_signs_in_as_before(app):
    factories.User(name="s_active", password=PASSWORD)
    client = app.test_client()
    page = client.get("/user/login")
    client.post("/user/login", data={"_csrf_token": csrf_token(page.body),
                                     "login": "s_active", "password": PASSWORD})
    assert client.get("/dashboard/datasets", follow_redirects=False).status_code == 200


# -- the developer's token -------------------------------------------------------------------

SHOWN = "already shown"


def _shown_token(body: str) -> str | None:
    found = re.search(r'id="dgaaccounts-api-token">([^<]+)<', body)
    return found.group(1) if found else None


def _everything_in_redis() -> str:
    from ckan.lib.redis import connect_to_redis

    redis = connect_to_redis()
    return " ".join(f"{k!r}={redis.dump(k)!r}" for k in redis.scan_iter("*"))


def test_a_double_click_never_loses_the_token(app):
    dev = developer_request("t_dev", "t_dev@example.com")
    client = app.test_client()
    page = client.get(f"/dgaaccounts/verify/{dev['verify']}")
    assert "onsubmit" in page.body  # the button disables itself on the first press
    before = session_cookie(client)
    form = {"_csrf_token": csrf_token(page.body)}
    # Two presses leave with the same cookie: the second before the first has answered.
    first = browser(app, before).post(f"/dgaaccounts/verify/{dev['verify']}", data=form)
    second = browser(app, before).post(f"/dgaaccounts/verify/{dev['verify']}", data=form)
    token = _shown_token(first.body)
    assert token
    assert SHOWN in second.body
    assert "invalid" not in second.body
    assert _shown_token(second.body) is None
    assert token not in second.body
    assert token not in _everything_in_redis()


def test_a_reload_of_the_token_page_says_it_was_shown_and_links_to_the_tokens_tab(app):
    dev = developer_request("t_reload", "t_reload@example.com")
    client = app.test_client()
    page = client.get(f"/dgaaccounts/verify/{dev['verify']}")
    form = {"_csrf_token": csrf_token(page.body)}
    token = _shown_token(client.post(f"/dgaaccounts/verify/{dev['verify']}", data=form).body)
    assert token
    for again in (client.post(f"/dgaaccounts/verify/{dev['verify']}", data=form),
                  client.get(f"/dgaaccounts/verify/{dev['verify']}")):
        assert SHOWN in again.body
        assert 'href="/user/t_reload/api-tokens"' in again.body
        assert token not in again.body
    serializer = app.flask_app.session_interface.get_signing_serializer(app.flask_app)
    assert token not in repr(serializer.loads(session_cookie(client)))


def test_another_browser_still_gets_invalid_link(app):
    dev = developer_request("t_other", "t_other@example.com")
    owner = app.test_client()
    page = owner.get(f"/dgaaccounts/verify/{dev['verify']}")
    assert _shown_token(owner.post(f"/dgaaccounts/verify/{dev['verify']}",
                                   data={"_csrf_token": csrf_token(page.body)}).body)
    stranger = app.test_client()
    page = stranger.get(f"/dgaaccounts/verify/{dev['verify']}")
    resp = stranger.post(f"/dgaaccounts/verify/{dev['verify']}",
                         data={"_csrf_token": csrf_token(page.body)})
    assert "invalid, used or expired" in resp.body
    assert SHOWN not in resp.body


def test_the_token_box_wraps(app):
    dev = developer_request("t_wrap", "t_wrap@example.com")
    client = app.test_client()
    page = client.get(f"/dgaaccounts/verify/{dev['verify']}")
    body = client.post(f"/dgaaccounts/verify/{dev['verify']}",
                       data={"_csrf_token": csrf_token(page.body)}).body
    assert re.search(r"#dgaaccounts-api-token[^{]*\{[^}]*overflow-wrap:\s*anywhere", body)
