"""An applicant's link grant belongs to the applicant's browser session only.

Opening the emailed link lets that browser read the request, download the scan and withdraw,
without signing in. The grant ends at every sign-in and sign-out in that browser (the next person
at a shared computer inherits nothing) and after ``applicant_grant_lifetime``.
"""
from __future__ import annotations

from typing import Any

import pytest

import ckan.model as model
from ckan.tests import factories

from ckanext.dgaaccounts.model import Document
from ckanext.dgaaccounts.tests.conftest import PDF
from ckanext.dgaaccounts.tests.security.conftest import (
    _cookie_domain, agency_request, csrf_token, session_cookie,
)

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db", "_no_rate_limit"),
]

PASSWORD = "Grant-Passw0rd-31"


@pytest.fixture
def applicant() -> dict[str, Any]:
    factories.Organization(name="dga")
    req = agency_request("g_applicant", "g_applicant@dga.or.th", document=PDF)
    req["document"] = model.Session.query(Document.id).filter(
        Document.request_id == req["id"]).scalar()
    return req


def _open_link(app: Any, req: dict[str, Any]) -> Any:
    client = app.test_client()
    opened = client.get(f"/dgaaccounts/request/{req['id']}?token={req['token']}",
                        follow_redirects=False)
    assert opened.status_code == 302
    return client


def _can(client: Any, req: dict[str, Any]) -> dict[str, bool]:
    """What the browser may do with the request (the withdrawal is only offered a CSRF-less
    try when the page itself is refused, so nothing is withdrawn by asking)."""
    page = client.get(f"/dgaaccounts/request/{req['id']}")
    scan = client.get(f"/dgaaccounts/request/{req['id']}/document/{req['document']}")
    return {"read": page.status_code == 200, "scan": scan.status_code == 200}


def _sign_in(client: Any, name: str) -> None:
    page = client.get("/user/login")
    client.post("/user/login", data={"_csrf_token": csrf_token(page.body), "login": name,
                                     "password": PASSWORD})
    assert client.get("/dashboard/datasets", follow_redirects=False).status_code == 200


def test_the_link_opens_the_request_in_that_browser(app, applicant):
    assert _can(_open_link(app, applicant), applicant) == {"read": True, "scan": True}


def test_someone_signing_in_and_out_in_the_same_browser_inherits_nothing(app, applicant):
    factories.User(name="g_other", password=PASSWORD)
    client = _open_link(app, applicant)
    _sign_in(client, "g_other")
    assert _can(client, applicant) == {"read": False, "scan": False}
    client.get("/user/_logout")
    assert _can(client, applicant) == {"read": False, "scan": False}
    page = client.get("/dgaaccounts/register/agency")  # any form, for a CSRF token
    withdraw = client.post(f"/dgaaccounts/request/{applicant['id']}/withdraw",
                           data={"_csrf_token": csrf_token(page.body)})
    assert withdraw.status_code == 403
    model.Session.expire_all()
    from ckanext.dgaaccounts.model import Request

    assert model.Session.get(Request, applicant["id"]).state == "submitted"


def test_signing_out_alone_ends_the_grant(app, applicant):
    """Someone else signed in before the applicant opened the link, then signs out."""
    factories.User(name="g_first", password=PASSWORD)
    client = app.test_client()
    _sign_in(client, "g_first")
    client.get(f"/dgaaccounts/request/{applicant['id']}?token={applicant['token']}")
    client.get("/user/_logout")
    assert _can(client, applicant) == {"read": False, "scan": False}


def test_the_grant_expires(app, applicant, ckan_config, monkeypatch):
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.applicant_grant_lifetime", 3600)
    client = _open_link(app, applicant)
    serializer = app.flask_app.session_interface.get_signing_serializer(app.flask_app)
    data = serializer.loads(session_cookie(client))
    assert set(data["dgaaccounts_applicant_at"]) == {applicant["id"]}
    # The same session, as it will be an hour and a second after the link was opened.
    data["dgaaccounts_applicant_at"][applicant["id"]] -= 3601
    client.set_cookie("ckan", serializer.dumps(data), domain=_cookie_domain())
    assert _can(client, applicant) == {"read": False, "scan": False}
    # The link from the email opens it again.
    assert _can(_open_link(app, applicant), applicant) == {"read": True, "scan": True}
