"""Headers of pages with a token in the URL, and of every private download.

* Every page whose URL carries a token answers ``Referrer-Policy: no-referrer`` (the token must
  not leave in a ``Referer``) and ``Cache-Control: private, no-store``.
* Every document download sends exactly ONE ``Cache-Control``, ``private, no-store``: CKAN's
  after-request handler used to add ``public, max-age=..., must-revalidate`` to it.
"""
from __future__ import annotations

import io
import re

import pytest

import ckan.model as model
from ckan.tests import factories

from ckanext.dgaaccounts.model import Document, Request
from ckanext.dgaaccounts.tests.conftest import PDF
from ckanext.dgaaccounts.tests.test_views import csrf, register_through_form

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    # With CKAN's page cache on, as a production portal behind a cache would run it.
    pytest.mark.ckan_config("ckan.cache_enabled", "true"),
    pytest.mark.usefixtures("with_plugins", "clean_db"),
]

NO_STORE = ["private, no-store"]


def assert_token_page(resp) -> None:
    assert resp.headers.get("Referrer-Policy") == "no-referrer", resp.request.path
    assert resp.headers.getlist("Cache-Control") == NO_STORE, resp.headers.getlist(
        "Cache-Control")


def assert_private_download(resp) -> None:
    assert resp.status_code == 200
    assert resp.headers.getlist("Cache-Control") == NO_STORE, resp.headers.getlist(
        "Cache-Control")
    assert "Pragma" not in resp.headers


@pytest.fixture
def applicant(app, smtp, deliver):
    """A browser that registered, verified and uploaded; returns (client, request id, token)."""
    client = app.test_client()
    factories.Organization(name="dga", title="DGA")
    token, _email = register_through_form(client, smtp, deliver, organization="dga")
    page = client.get(f"/dgaaccounts/verify/{token}")
    page = client.post(f"/dgaaccounts/verify/{token}", data={"_csrf_token": csrf(page.body)})
    req = model.Session.query(Request).one()
    client.post(f"/dgaaccounts/request/{req.id}/upload", data={
        "_csrf_token": csrf(page.body), "signed_form": (io.BytesIO(PDF), "f.pdf"),
    }, content_type="multipart/form-data")
    return client, req.id, token


@pytest.fixture
def sysadmin_headers():
    admin = factories.Sysadmin()
    return {"Authorization": factories.APIToken(user=admin["name"])["token"]}


# -- pages with a token in the URL ---------------------------------------------------------

def test_the_verification_link_page(app):
    assert_token_page(app.get("/dgaaccounts/verify/some-token-value"))


def test_the_verification_link_pages_before_and_after_use(app, smtp, deliver):
    client = app.test_client()
    token, _email = register_through_form(client, smtp, deliver)
    page = client.get(f"/dgaaccounts/verify/{token}")
    assert_token_page(page)
    used = client.post(f"/dgaaccounts/verify/{token}", data={"_csrf_token": csrf(page.body)},
                       follow_redirects=False)
    assert used.status_code == 302
    assert_token_page(used)
    again = client.post(f"/dgaaccounts/verify/{token}", data={"_csrf_token": csrf(page.body)})
    assert_token_page(again)  # "link invalid" page: the URL still holds the token


def test_the_developer_page_that_shows_the_api_token(app, smtp, deliver):
    client = app.test_client()
    page = client.get("/dgaaccounts/register/developer")
    client.post("/dgaaccounts/register/developer", data={
        "_csrf_token": csrf(page.body), "name": "dev_lek", "fullname": "Lek",
        "email": "lek@example.com", "password": "Dev-Passw0rd-42", "purpose": "apps"})
    deliver()
    token = smtp.link("lek@example.com")
    page = client.get(f"/dgaaccounts/verify/{token}")
    shown = client.post(f"/dgaaccounts/verify/{token}", data={"_csrf_token": csrf(page.body)})
    assert re.search(r'id="dgaaccounts-api-token">([^<]+)<', shown.body)
    assert_token_page(shown)


def test_the_applicant_link(app, applicant):
    _client, request_id, _token = applicant
    resp = app.get(f"/dgaaccounts/request/{request_id}?token=some-applicant-token",
                   follow_redirects=False)
    assert resp.status_code == 302
    assert_token_page(resp)


def test_the_password_reset_link(app, smtp, deliver):
    # CKAN's own page, reached from the reset email the extension sends.
    user = factories.User(email="reset@example.com")
    client = app.test_client()
    page = client.get("/user/reset")
    client.post("/user/reset", data={"_csrf_token": csrf(page.body), "user": "reset@example.com"})
    deliver()
    link = smtp.link("reset@example.com", r"https?://\S+(/user/reset/\S+)")
    assert user["id"] in link
    assert_token_page(app.get(link))


@pytest.mark.parametrize("url", [
    "/dgaaccounts/register?token=x", "/dgaaccounts/resend?key=x", "/dataset/?token=x",
])
def test_any_page_with_a_token_in_the_query(app, url):
    assert_token_page(app.get(url))


def test_pages_without_a_token_keep_their_referrer(app):
    assert "Referrer-Policy" not in app.get("/dgaaccounts/register").headers


# -- downloads -------------------------------------------------------------------------------

def test_the_applicant_downloads(applicant):
    client, request_id, _token = applicant
    doc = model.Session.query(Document).one()
    url = f"/dgaaccounts/request/{request_id}/document/{doc.id}"
    assert_private_download(client.get(url))
    assert_private_download(client.get(url + "?download=1"))
    assert_private_download(client.get(f"/dgaaccounts/request/{request_id}/form.pdf"))


def test_the_sysadmin_downloads(app, applicant, sysadmin_headers):
    _client, request_id, _token = applicant
    doc = model.Session.query(Document).one()
    url = f"/dgaaccounts/request/{request_id}/document/{doc.id}"
    assert_private_download(app.get(url, headers=sysadmin_headers))
    assert_private_download(app.get(url + "?download=1", headers=sysadmin_headers))
    assert_private_download(app.get(f"/dgaaccounts/request/{request_id}/form.pdf",
                                    headers=sysadmin_headers))
    for export in ("requests.csv", "audit.csv"):
        assert_private_download(app.get(f"/ckan-admin/dgaaccounts/export/{export}",
                                        headers=sysadmin_headers))


def test_the_extensions_pages_are_never_publicly_cacheable(app, applicant):
    client, request_id, _token = applicant
    for resp in (app.get("/dgaaccounts/register/agency"),
                 client.get(f"/dgaaccounts/request/{request_id}")):
        assert "public" not in ", ".join(resp.headers.getlist("Cache-Control"))
