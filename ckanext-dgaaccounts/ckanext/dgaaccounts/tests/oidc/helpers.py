"""Steps shared by the sign-in tests: a browser (CKAN's test client with its cookies) walking
the portal and, with a real HTTP client, the provider's own login and consent pages."""
from __future__ import annotations

import re
from typing import Any

import ckan.model as model
from ckan.plugins import toolkit as tk

from ckanext.dgaaccounts.model import AuditEvent
from ckanext.dgaaccounts.tests.oidc.conftest import local, provider_login

PASSWORD = "Correct-Horse-42"
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


def start(client: Any, provider: str, path: str = "login") -> str:
    """The provider's authorization address that the portal sends the browser to."""
    response = client.get(f"/user/oidc/{provider}/{path}", follow_redirects=False)
    assert response.status_code == 302, response.body[:500]
    return response.headers["Location"]


def callback(app: Any, provider: str, login: str, client: Any = None) -> tuple[Any, Any]:
    """A browser signs in with ``provider`` as ``login``: (the browser, the callback's answer)."""
    client = client or app.test_client()
    url = provider_login(start(client, provider), login)
    return client, client.get(local(url), follow_redirects=False)


def signed_in(client: Any) -> bool:
    """Whether the portal treats the browser as signed in (the dashboard needs a user)."""
    return client.get("/dashboard/datasets", follow_redirects=False).status_code == 200


def api_as(client: Any, name: str) -> int:
    """The status of an API call with the browser's cookie that only ``name`` may make (the
    list of ``name``'s API tokens): 200 when the session is ``name``'s, 403 when anonymous."""
    return client.get(f"/api/3/action/api_token_list?user_id={name}",
                      follow_redirects=False).status_code


def password_sign_in(app: Any, name: str) -> Any:
    client = app.test_client()
    page = client.get("/user/login")
    client.post("/user/login", data={"_csrf_token": csrf(page.body), "login": name,
                                     "password": PASSWORD})
    assert client.get("/dashboard/datasets", follow_redirects=False).status_code == 200
    return client


def csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def events(action: str) -> list[AuditEvent]:
    model.Session.expire_all()
    return model.Session.query(AuditEvent).filter(AuditEvent.action == action).order_by(
        AuditEvent.id).all()


def flashed(client: Any, text: str) -> bool:
    return text in client.get("/user/login").body


def hmac_secret() -> str:
    return tk.config["ckanext.dgaaccounts.identity_hmac_secret"]
