"""Web pages through CKAN's test app: forms with CSRF tokens, sessions, headers."""
from __future__ import annotations

import io
import re

import pytest

import ckan.model as model
from ckan.tests import factories, helpers

from ckanext.dgaaccounts.model import Document, Request
from ckanext.dgaaccounts.tests.conftest import PDF, registration, stored_files

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db"),
]


def csrf(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "the form has no CSRF token"
    return found.group(1)


def register_through_form(client, smtp, deliver, **overrides) -> tuple[str, str]:
    """Fill the registration form; returns the verification token from the email."""
    page = client.get("/dgaaccounts/register/agency")
    data = dict(registration(**overrides), _csrf_token=csrf(page.body))
    resp = client.post("/dgaaccounts/register/agency", data=data)
    assert "Check your email" in resp.body, re.findall(r"error-block\">([^<]*)", resp.body)
    deliver()
    return smtp.link(data["email"]), data["email"]


class TestRegistrationPages:
    def test_core_register_url_leads_to_the_chooser_and_creates_nobody(self, app):
        resp = app.get("/user/register")
        assert "I work for a government agency" in resp.body
        assert "I want to use the API" in resp.body
        users = model.Session.query(model.User).count()
        app.post("/user/register", data={
            "name": "sneaky", "email": "s@x.org",
            "password1": "Passw0rd-long", "password2": "Passw0rd-long"})
        assert model.Session.query(model.User).count() == users
        assert model.User.by_name("sneaky") is None

    def test_header_register_link_goes_to_chooser(self, app):
        assert 'href="/dgaaccounts/register"' in app.get("/user/login").body

    def test_form_lists_organizations_for_type_ahead(self, app):
        factories.Organization(name="dga", title="สำนักงานพัฒนารัฐบาลดิจิทัล")
        body = app.get("/dgaaccounts/register/agency").body
        # The type-ahead offers the title (issue 12: the URL name never appears in the box).
        assert '<option value="สำนักงานพัฒนารัฐบาลดิจิทัล"></option>' in body
        assert '<option value="dga"' not in body
        assert 'list="dgaaccounts-organizations"' in body

    def test_post_without_csrf_token_is_refused(self, app):
        client = app.test_client()
        client.get("/dgaaccounts/register/agency")
        resp = client.post("/dgaaccounts/register/agency", data=registration())
        assert resp.status_code == 400
        assert model.User.by_name("somchai") is None

    def test_invalid_form_shows_errors_and_keeps_input_but_not_password(self, app):
        client = app.test_client()
        page = client.get("/dgaaccounts/register/agency")
        data = dict(registration(phone="call me", password="Secret-Pass-99"),
                    _csrf_token=csrf(page.body))
        resp = client.post("/dgaaccounts/register/agency", data=data)
        assert resp.status_code == 200
        assert "Enter a phone number" in resp.body
        assert "สมชาย ใจดี" in resp.body
        assert "Secret-Pass-99" not in resp.body
        assert model.Session.query(Request).count() == 0

    def test_markup_in_fields_is_escaped(self, app, smtp, deliver):
        client = app.test_client()
        page = client.get("/dgaaccounts/register/agency")
        data = dict(registration(position="<script>alert(1)</script>", phone="bad"),
                    _csrf_token=csrf(page.body))
        body = client.post("/dgaaccounts/register/agency", data=data).body
        assert "<script>alert(1)</script>" not in body
        assert "&lt;script&gt;" in body


class TestApplicantPages:
    def test_verify_get_does_not_use_the_token_post_does(self, app, smtp, deliver):
        client = app.test_client()
        token, _email = register_through_form(client, smtp, deliver)
        page = client.get(f"/dgaaccounts/verify/{token}")
        assert "Confirm my email address" in page.body
        assert model.Session.query(Request).one().state == "awaiting_verification"
        resp = client.post(f"/dgaaccounts/verify/{token}",
                           data={"_csrf_token": csrf(page.body)})
        assert "Download the application form" in resp.body
        model.Session.expire_all()
        assert model.Session.query(Request).one().state == "awaiting_document"
        again = client.post(f"/dgaaccounts/verify/{token}",
                            data={"_csrf_token": csrf(page.body)})
        assert "invalid, used or expired" in again.body

    def test_download_form_then_upload_scan(self, app, smtp, deliver, storage_root):
        client = app.test_client()
        token, _email = register_through_form(client, smtp, deliver)
        page = client.get(f"/dgaaccounts/verify/{token}")
        page = client.post(f"/dgaaccounts/verify/{token}", data={"_csrf_token": csrf(page.body)})
        req = model.Session.query(Request).one()
        pdf = client.get(f"/dgaaccounts/request/{req.id}/form.pdf")
        assert pdf.status_code == 200
        assert pdf.headers["Content-Type"] == "application/pdf"
        assert pdf.headers["X-Content-Type-Options"] == "nosniff"
        assert pdf.data.startswith(b"%PDF-")
        resp = client.post(f"/dgaaccounts/request/{req.id}/upload", data={
            "_csrf_token": csrf(page.body),
            "signed_form": (io.BytesIO(PDF), "แบบฟอร์มที่ลงนามแล้ว.pdf"),
        }, content_type="multipart/form-data")
        assert "sent for review" in resp.body
        model.Session.expire_all()
        assert model.Session.query(Request).one().state == "submitted"
        assert model.Session.query(Document).one().original_name == "แบบฟอร์มที่ลงนามแล้ว.pdf"
        assert len(stored_files(storage_root)) == 1

    def test_bad_upload_shows_error_and_stores_nothing(self, app, smtp, deliver, storage_root):
        client = app.test_client()
        token, _email = register_through_form(client, smtp, deliver)
        page = client.get(f"/dgaaccounts/verify/{token}")
        page = client.post(f"/dgaaccounts/verify/{token}", data={"_csrf_token": csrf(page.body)})
        req = model.Session.query(Request).one()
        resp = client.post(f"/dgaaccounts/request/{req.id}/upload", data={
            "_csrf_token": csrf(page.body),
            "signed_form": (io.BytesIO(b"<html><script>1</script></html>"), "form.pdf"),
        }, content_type="multipart/form-data")
        assert resp.status_code == 200
        assert "alert-danger" in resp.body or "error" in resp.body
        model.Session.expire_all()
        assert model.Session.query(Request).one().state == "awaiting_document"
        assert stored_files(storage_root) == []

    def test_a_stranger_cannot_see_the_request(self, app, smtp, deliver):
        client = app.test_client()
        token, _email = register_through_form(client, smtp, deliver)
        page = client.get(f"/dgaaccounts/verify/{token}")
        client.post(f"/dgaaccounts/verify/{token}", data={"_csrf_token": csrf(page.body)})
        req = model.Session.query(Request).one()
        stranger = app.test_client()
        assert stranger.get(f"/dgaaccounts/request/{req.id}").status_code == 403
        assert stranger.get(f"/dgaaccounts/request/{req.id}/form.pdf").status_code == 403
        assert stranger.get(f"/dgaaccounts/request/{req.id}?token=forged").status_code == 403
        assert stranger.get("/dgaaccounts/request/nope").status_code == 404

    def test_link_from_email_opens_the_request_in_a_new_browser(self, app, smtp, deliver):
        client = app.test_client()
        token, email = register_through_form(client, smtp, deliver)
        page = client.get(f"/dgaaccounts/verify/{token}")
        page = client.post(f"/dgaaccounts/verify/{token}", data={"_csrf_token": csrf(page.body)})
        req = model.Session.query(Request).one()
        client.post(f"/dgaaccounts/request/{req.id}/upload", data={
            "_csrf_token": csrf(page.body), "signed_form": (io.BytesIO(PDF), "f.pdf"),
        }, content_type="multipart/form-data")
        deliver()
        applicant_token = smtp.link(email, r"/dgaaccounts/request/[\w-]+\?token=(\S+)")
        other_device = app.test_client()
        resp = other_device.get(f"/dgaaccounts/request/{req.id}?token={applicant_token}")
        assert resp.status_code == 200
        assert req.reference in resp.body
        assert applicant_token not in resp.request.url


class TestAdminPages:
    @pytest.fixture
    def submitted(self, app, smtp, deliver):
        client = app.test_client()
        factories.Organization(name="dga", title="DGA")
        token, _email = register_through_form(client, smtp, deliver, organization="dga")
        page = client.get(f"/dgaaccounts/verify/{token}")
        page = client.post(f"/dgaaccounts/verify/{token}", data={"_csrf_token": csrf(page.body)})
        req = model.Session.query(Request).one()
        client.post(f"/dgaaccounts/request/{req.id}/upload", data={
            "_csrf_token": csrf(page.body), "signed_form": (io.BytesIO(PDF), "f.pdf"),
        }, content_type="multipart/form-data")
        return req.id

    @pytest.fixture
    def sysadmin_headers(self):
        admin = factories.Sysadmin()
        token = factories.APIToken(user=admin["name"])
        return {"Authorization": token["token"]}

    def test_queue_is_for_sysadmins_only(self, app, submitted):
        user = factories.User()
        token = factories.APIToken(user=user["name"])
        signed_out = app.get(f"/en/ckan-admin/dgaaccounts/request/{submitted}",
                             follow_redirects=False)
        assert signed_out.status_code == 302  # the login page, then back, in the language
        assert signed_out.headers["Location"].endswith(
            f"/en/user/login?came_from=/en/ckan-admin/dgaaccounts/request/{submitted}")
        assert app.get("/ckan-admin/dgaaccounts/",
                       headers={"Authorization": token["token"]}).status_code == 403
        assert app.get(f"/ckan-admin/dgaaccounts/request/{submitted}",
                       headers={"Authorization": token["token"]}).status_code == 403

    def test_queue_lists_the_request_with_due_time(self, app, submitted, sysadmin_headers):
        body = app.get("/ckan-admin/dgaaccounts/", headers=sysadmin_headers).body
        req = model.Session.get(Request, submitted)
        assert req.reference in body
        assert "สมชาย ใจดี" in body
        assert "Account requests" in body
        filtered = app.get("/ckan-admin/dgaaccounts/?state=approved",
                           headers=sysadmin_headers).body
        assert req.reference not in filtered

    def test_request_page_shows_document_inline_and_approves(self, app, submitted,
                                                             sysadmin_headers):
        body = app.get(f"/ckan-admin/dgaaccounts/request/{submitted}",
                       headers=sysadmin_headers).body
        doc = model.Session.query(Document).one()
        assert f"/dgaaccounts/request/{submitted}/document/{doc.id}" in body
        assert '<option value="editor" selected>' in body
        served = app.get(f"/dgaaccounts/request/{submitted}/document/{doc.id}",
                         headers=sysadmin_headers)
        assert served.data == PDF
        assert served.headers["Content-Type"] == "application/pdf"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert served.headers["Content-Disposition"].startswith("inline")
        assert "default-src 'none'" in served.headers["Content-Security-Policy"]
        assert app.get(f"/dgaaccounts/request/{submitted}/document/{doc.id}").status_code == 403
        resp = app.post(f"/ckan-admin/dgaaccounts/request/{submitted}/approve",
                        headers=sysadmin_headers,
                        data={"organization": model.Group.get("dga").id, "role": "editor"})
        assert "Decision recorded" in resp.body
        model.Session.expire_all()
        assert model.Session.get(Request, submitted).state == "approved"
        assert model.User.by_name("somchai").state == "active"

    def test_reject_without_reason_shows_error(self, app, submitted, sysadmin_headers):
        resp = app.post(f"/ckan-admin/dgaaccounts/request/{submitted}/reject",
                        headers=sysadmin_headers, data={"reason": ""})
        assert "Fill in this field." in resp.body  # CKAN's "Missing value", in plain words
        model.Session.expire_all()
        assert model.Session.get(Request, submitted).state == "submitted"


class TestPasswordResetPages:
    """The "forgot password" form: CKAN's page and reset link, our outbox for the email."""

    @staticmethod
    def _ask(app, who: str):
        client = app.test_client()
        page = client.get("/user/reset")
        return client.post("/user/reset", data={"_csrf_token": csrf(page.body), "user": who},
                           follow_redirects=True)

    def test_the_emailed_link_sets_a_new_password(self, app, smtp, deliver):
        factories.User(name="malee", email="malee@example.com", password="Old-Passw0rd-1")
        resp = self._ask(app, " Malee@Example.com ")
        assert "A reset link has been emailed to you" in resp.body
        assert smtp.messages == []  # queued: the page did not wait for the mail server
        deliver()
        [msg] = smtp.to("malee@example.com")
        assert "malee" in smtp.body(msg)
        user_id, key = re.search(r"/user/reset/([\w-]+)\?key=(\w+)", smtp.body(msg)).groups()
        user = model.User.by_name("malee")
        assert user_id == user.id
        assert key == user.reset_key
        client = app.test_client()
        page = client.get(f"/user/reset/{user.id}?key={key}")
        client.post(f"/user/reset/{user.id}?key={key}", data={
            "_csrf_token": csrf(page.body), "password1": "New-Passw0rd-22",
            "password2": "New-Passw0rd-22"})
        model.Session.remove()
        assert model.User.by_name("malee").validate_password("New-Passw0rd-22")

    def test_only_active_accounts_get_an_email(self, app, smtp, deliver):
        factories.User(name="malee", email="malee@example.com")
        helpers.call_action("dgaaccounts_agency_register", **registration())  # pending
        for who in ("malee", "somchai", "somchai@dga.or.th", "nobody", "nobody@example.com",
                    "mal%", "%@example.com"):
            assert "A reset link has been emailed" in self._ask(app, who).body
        deliver()
        resets = [m for m in smtp.messages if "/user/reset/" in smtp.body(m)]
        assert len(resets) == 1
        assert "malee@example.com" in resets[0]["To"]
        assert model.User.by_name("somchai").reset_key is None

    def test_without_the_csrf_token_nothing_is_sent(self, app, smtp, deliver):
        factories.User(name="malee", email="malee@example.com")
        resp = app.test_client().post("/user/reset", data={"user": "malee"})
        assert resp.status_code == 400
        deliver()
        assert smtp.messages == []


class TestDeveloperPages:
    def _sign_up(self, client, smtp, deliver):
        page = client.get("/dgaaccounts/register/developer")
        resp = client.post("/dgaaccounts/register/developer", data={
            "_csrf_token": csrf(page.body), "name": "dev_lek", "fullname": "Lek",
            "email": "lek@example.com", "password": "Dev-Passw0rd-42", "purpose": "<b>apps</b>"})
        assert "Check your email" in resp.body
        deliver()
        return smtp.link("lek@example.com")

    def test_link_shows_the_token_once_and_signs_in(self, app, smtp, deliver):
        client = app.test_client()
        token = self._sign_up(client, smtp, deliver)
        page = client.get(f"/dgaaccounts/verify/{token}")
        resp = client.post(f"/dgaaccounts/verify/{token}", data={"_csrf_token": csrf(page.body)})
        shown = re.search(r'id="dgaaccounts-api-token">([^<]+)<', resp.body).group(1)
        from ckan.lib.api_token import get_user_from_token
        assert get_user_from_token(shown).name == "dev_lek"
        assert "curl -H" in resp.body
        assert "ckanapi action" in resp.body
        dashboard = client.get("/dashboard/datasets", follow_redirects=False)
        assert dashboard.status_code == 200, "signed in after verification"
        again = client.post(f"/dgaaccounts/verify/{token}", data={"_csrf_token": csrf(page.body)})
        assert shown not in again.body

    def test_pending_developer_signing_in_is_told_to_verify(self, app, smtp, deliver):
        client = app.test_client()
        self._sign_up(client, smtp, deliver)
        login = app.test_client()
        page = login.get("/user/login")
        resp = login.post("/user/login", data={
            "_csrf_token": csrf(page.body), "login": "dev_lek", "password": "Dev-Passw0rd-42"})
        assert "not confirmed yet" in resp.body
        wrong = app.test_client()
        page = wrong.get("/user/login")
        resp = wrong.post("/user/login", data={
            "_csrf_token": csrf(page.body), "login": "dev_lek", "password": "wrong-password"})
        assert "not confirmed yet" not in resp.body

    def test_resend_page_answers_the_same_for_unknown_addresses(self, app, smtp, deliver):
        client = app.test_client()
        self._sign_up(client, smtp, deliver)
        answers = []
        for email in ("lek@example.com", "nobody@example.com"):
            page = client.get("/dgaaccounts/resend")
            resp = client.post("/dgaaccounts/resend",
                               data={"_csrf_token": csrf(page.body), "email": email})
            answers.append(re.findall(r'alert[^"]*"[^>]*>\s*([^<]+)', resp.body))
        assert answers[0] == answers[1]
        assert deliver() == 1


class TestClosingAnAccount:
    @pytest.fixture
    def officer(self):
        user = factories.User(name="officer", email="officer@dga.or.th", password="Officer-Pass-1")
        factories.Organization(name="dga", users=[{"name": "officer", "capacity": "editor"}])
        return user

    @staticmethod
    def _login(app, name="officer", password="Officer-Pass-1"):
        client = app.test_client()
        page = client.get("/user/login")
        client.post("/user/login", data={"_csrf_token": csrf(page.body), "login": name,
                                         "password": password})
        assert client.get("/dashboard/datasets", follow_redirects=False).status_code == 200
        return client

    @staticmethod
    def _copied_session_works(app, cookie) -> bool:
        """Does a copy of the session cookie, taken earlier, still open the dashboard?"""
        thief = app.test_client()
        thief.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
        return thief.get("/dashboard/datasets", follow_redirects=False).status_code == 200

    def _ask_and_upload(self, client, kind):
        page = client.get("/dgaaccounts/account/close")
        assert "Close or suspend my account" in page.body
        resp = client.post("/dgaaccounts/account/close", data={
            "_csrf_token": csrf(page.body), "kind": kind, "reason": "ลาออกจากราชการ"})
        req = model.Session.query(Request).filter_by(kind=kind).one()
        assert req.reference in resp.body
        form = client.get(f"/dgaaccounts/request/{req.id}/form.pdf")
        assert form.data.startswith(b"%PDF-")
        client.post(f"/dgaaccounts/request/{req.id}/upload", data={
            "_csrf_token": csrf(resp.body), "signed_form": (io.BytesIO(PDF), "signed.pdf"),
        }, content_type="multipart/form-data")
        model.Session.expire_all()
        assert model.Session.get(Request, req.id).state == "submitted"
        return req.id

    @staticmethod
    def _approve(app, request_id):
        admin = factories.Sysadmin()
        token = factories.APIToken(user=admin["name"])["token"]
        resp = app.post("/api/3/action/dgaaccounts_request_approve",
                        json={"id": request_id}, headers={"Authorization": token})
        assert resp.json["success"], resp.json
        return token

    def test_profile_has_the_link_for_its_owner_only(self, app, officer):
        client = self._login(app)
        assert "/dgaaccounts/account/close" in client.get("/user/officer").body
        other = factories.User(password="Other-Pass-123")
        assert "/dgaaccounts/account/close" not in self._login(
            app, other["name"], "Other-Pass-123").get("/user/officer").body

    @staticmethod
    def _assert_token_revoked(app, token: str) -> None:
        """An API token of the account from before the decision is refused, and says why."""
        resp = app.get("/api/3/action/user_show?id=officer", headers={"Authorization": token})
        assert resp.status_code == 401
        assert resp.json["error"]["reason"] == "token_revoked"

    def test_cancellation_ends_old_sessions_and_tokens(self, app, officer):
        token = factories.APIToken(user="officer")["token"]
        client = self._login(app)
        request_id = self._ask_and_upload(client, "cancellation")
        cookie = next(c for c in client._cookies.values() if c.key == "ckan")
        assert self._copied_session_works(app, cookie)
        self._approve(app, request_id)
        assert not self._copied_session_works(app, cookie)
        self._assert_token_revoked(app, token)
        assert model.User.by_name("officer").state == "deleted"

    def test_suspension_then_reactivation(self, app, officer):
        token = factories.APIToken(user="officer")["token"]
        client = self._login(app)
        request_id = self._ask_and_upload(client, "suspension")
        cookie = next(c for c in client._cookies.values() if c.key == "ckan")
        assert self._copied_session_works(app, cookie)
        admin_token = self._approve(app, request_id)
        assert not self._copied_session_works(app, cookie)
        self._assert_token_revoked(app, token)
        login = app.test_client()
        page = login.get("/user/login")
        resp = login.post("/user/login", data={"_csrf_token": csrf(page.body),
                                               "login": "officer", "password": "Officer-Pass-1"})
        assert "suspended" in resp.body
        resp = app.post("/api/3/action/dgaaccounts_user_reactivate", json={"id": "officer"},
                        headers={"Authorization": admin_token})
        assert resp.json["success"], resp.json
        # Reactivation does not revive what existed before the suspension (CKAN alone would).
        assert not self._copied_session_works(app, cookie)
        self._assert_token_revoked(app, token)
        self._login(app)  # but the owner can sign in again
