"""Issue 12 through CKAN's test app and real SMTP: times in the display zone, emails and their
links in the person's language, sysadmins' last-used language, confirmed decisions."""
from __future__ import annotations

import datetime
import re
import subprocess
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

import ckan.model as model
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import pdf, timefmt
from ckanext.dgaaccounts.model import Request
from ckanext.dgaaccounts.tests.conftest import PDF, registration

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.ckan_config("ckan.display_timezone", "Asia/Bangkok"),
    pytest.mark.usefixtures("with_plugins", "clean_db"),
]

THAI_STAMP = re.compile(r"\d{1,2} \S+\. 25\d\d เวลา \d\d:\d\d น\.")
ENGLISH_STAMP = re.compile(r"\d{1,2} [A-Z][a-z]{2} 20\d\d, \d\d:\d\d \(ICT\)")
ADMIN_PASSWORD = "Sysadmin-Passw0rd-42"


def csrf_token(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(app, name: str, password: str):
    """A test client signed in through CKAN's login form (a cookie session)."""
    client = app.test_client()
    page = client.get("/user/login")
    client.post("/user/login", data={"_csrf_token": csrf_token(page.body), "login": name,
                                     "password": password})
    assert client.get("/dashboard/datasets", follow_redirects=False).status_code == 200
    return client


def _register_on_page(app, smtp, deliver, lang: str, **overrides) -> tuple[str, str]:
    """Register through the agency form in ``lang`` ("" is the default, English); returns the
    verification email's body and the request id."""
    prefix = f"/{lang}" if lang else ""
    client = app.test_client()
    page = client.get(f"{prefix}/dgaaccounts/register/agency")
    data = dict(registration(**overrides), _csrf_token=csrf_token(page.body))
    client.post(f"{prefix}/dgaaccounts/register/agency", data=data)
    deliver()
    [msg] = smtp.to(data["email"])
    req = model.Session.query(Request).filter(Request.email == data["email"]).one()
    return smtp.body(msg), req.id


class TestLanguageFollowsThePerson:
    def test_thai_sign_up_gets_thai_mail_with_thai_links_and_the_expiry(self, app, smtp,
                                                                       deliver):
        body, request_id = _register_on_page(app, smtp, deliver, "th")
        assert model.Session.get(Request, request_id).locale == "th"
        # English is the default locale of the test site: Thai links carry /th/.
        [link] = re.findall(r"https?://\S+/dgaaccounts/verify/\S+", body)
        assert "/th/dgaaccounts/verify/" in link
        assert "ยืนยัน" in body
        assert THAI_STAMP.search(body), body
        # The link opens the confirmation page in Thai.
        page = app.get(urlsplit(link).path)
        assert page.status_code == 200
        assert 'lang="th"' in page.body

    def test_english_sign_up_gets_english_mail_with_plain_links(self, app, smtp, deliver):
        body, _rid = _register_on_page(app, smtp, deliver, "en", name="john",
                                       email="john@dga.or.th")
        [link] = re.findall(r"https?://\S+/dgaaccounts/verify/\S+", body)
        assert "/th/" not in link
        assert "/en/" not in link
        assert "Open this link" in body
        assert ENGLISH_STAMP.search(body), body

    @pytest.mark.ckan_config("ckan.locale_default", "th")
    def test_on_a_thai_portal_english_links_carry_en(self, app, smtp, deliver):
        body, _rid = _register_on_page(app, smtp, deliver, "en", name="john",
                                       email="john@dga.or.th")
        assert re.search(r"https?://\S+/en/dgaaccounts/verify/\S+", body), body

    def test_sysadmin_mail_follows_their_last_used_language(self, app, smtp, deliver,
                                                            make_upload):
        thai_admin = factories.Sysadmin(name="thai_admin", email="thai@dga.or.th",
                                        password=ADMIN_PASSWORD)
        factories.Sysadmin(name="eng_admin", email="eng@dga.or.th", password=ADMIN_PASSWORD)
        client = sign_in(app, "thai_admin", ADMIN_PASSWORD)
        client.get("/th/ckan-admin/dgaaccounts/")
        # What the page loads (API calls, scripts) has no locale prefix: it does not count.
        client.get("/api/3/action/status_show")
        client.get("/api/i18n/th")
        model.Session.remove()
        extras = model.User.get(thai_admin["id"]).plugin_extras
        assert extras["dgaaccounts"]["locale"] == "th"
        # A request is submitted: each sysadmin is told in their own language.
        result = helpers.call_action("dgaaccounts_agency_register", **registration())
        deliver()
        token = smtp.link("somchai@dga.or.th")
        verified = helpers.call_action("dgaaccounts_email_verify", token=token)
        helpers.call_action("dgaaccounts_request_document_upload", id=result["request_id"],
                            token=verified["applicant_token"],
                            signed_form=make_upload(PDF, "form.pdf"))
        deliver()
        [thai] = smtp.to("thai@dga.or.th")
        [english] = smtp.to("eng@dga.or.th")
        assert re.search("[\u0e00-\u0e7f]", thai["Subject"]), thai["Subject"]
        assert "/th/ckan-admin/dgaaccounts/request/" in smtp.body(thai)
        assert THAI_STAMP.search(smtp.body(thai))
        assert english["Subject"].startswith("New account request")
        assert ENGLISH_STAMP.search(smtp.body(english))


class TestAfterEachStep:
    def test_the_sent_page_repeats_the_address_and_the_expiry(self, app, smtp, deliver):
        for lang, stamp in (("th", THAI_STAMP), ("", ENGLISH_STAMP)):
            prefix = f"/{lang}" if lang else ""
            client = app.test_client()
            page = client.get(f"{prefix}/dgaaccounts/register/developer")
            email = f"dev{lang or 'en'}@example.com"
            resp = client.post(f"{prefix}/dgaaccounts/register/developer", data={
                "_csrf_token": csrf_token(page.body), "name": f"dev_{lang or 'en'}",
                "fullname": "Dev", "email": email, "password": "Dev-Passw0rd-42"},
                follow_redirects=True)
            sent = re.search(r'id="dgaaccounts-sent-to">(.*?)</p>', resp.body, re.S)
            assert sent, resp.body
            assert email in sent.group(1)
            expires = re.search(r'id="dgaaccounts-sent-expires">(.*?)</p>', resp.body, re.S)
            assert expires
            assert stamp.search(expires.group(1)), expires.group(1)


def _submitted_agency(smtp, deliver, make_upload, **overrides) -> str:
    result = helpers.call_action("dgaaccounts_agency_register", **registration(**overrides))
    deliver()
    verified = helpers.call_action("dgaaccounts_email_verify",
                                   token=smtp.link(overrides.get("email", "somchai@dga.or.th")))
    helpers.call_action("dgaaccounts_request_document_upload", id=result["request_id"],
                        token=verified["applicant_token"], signed_form=make_upload(PDF, "f.pdf"))
    return result["request_id"]


def test_approval_email_names_the_organization_and_the_role(smtp, deliver, make_upload):
    factories.Organization(name="dga", title="สำนักงานพัฒนารัฐบาลดิจิทัล")
    admin = factories.Sysadmin()
    request_id = _submitted_agency(smtp, deliver, make_upload, organization="dga")
    helpers.call_action("dgaaccounts_request_approve", context={"user": admin["name"]},
                        id=request_id, role="admin")
    deliver()
    body = smtp.body(smtp.to("somchai@dga.or.th")[-1])
    assert "สำนักงานพัฒนารัฐบาลดิจิทัล" in body
    assert "with the role Admin" in body


class TestPagesShowDisplayTime:
    def test_admin_request_page_in_thai_and_english(self, app, smtp, deliver, make_upload):
        factories.Sysadmin(name="root_th", password=ADMIN_PASSWORD)
        request_id = _submitted_agency(smtp, deliver, make_upload)
        created = model.Session.get(Request, request_id).created
        client = sign_in(app, "root_th", ADMIN_PASSWORD)
        thai = client.get(f"/th/ckan-admin/dgaaccounts/request/{request_id}").body
        assert timefmt.format_datetime(created, "th") in thai
        assert str(created.year + 543) in thai
        english = client.get(f"/ckan-admin/dgaaccounts/request/{request_id}").body
        assert timefmt.format_datetime(created, "en") in english
        assert "(ICT)" in english

    def test_api_times_stay_iso_utc(self, smtp, deliver, make_upload):
        request_id = _submitted_agency(smtp, deliver, make_upload)
        shown = helpers.call_action("dgaaccounts_request_show", id=request_id)
        stored = model.Session.get(Request, request_id).created
        assert shown["created"] == stored.isoformat()
        assert datetime.datetime.fromisoformat(shown["created"]).tzinfo is None

    @pytest.mark.ckan_config("ckan.display_timezone", "UTC")
    def test_the_form_pdf_is_dated_in_bangkok(self, app, smtp, deliver, make_upload,
                                              tmp_path):
        factories.Sysadmin(name="root_pdf", password=ADMIN_PASSWORD)
        request_id = _submitted_agency(smtp, deliver, make_upload)
        client = sign_in(app, "root_pdf", ADMIN_PASSWORD)
        resp = client.get(f"/dgaaccounts/request/{request_id}/form.pdf")
        assert resp.status_code == 200
        path = tmp_path / "form.pdf"
        path.write_bytes(resp.data)
        text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True,
                              capture_output=True, text=True, timeout=30).stdout
        # Whatever the display zone: the form is dated with the day in Bangkok.
        bangkok_today = datetime.datetime.now(ZoneInfo("Asia/Bangkok")).date()
        assert pdf.thai_date(bangkok_today) in text


class TestDecisionsAreConfirmed:
    def _page(self, app, smtp, deliver, make_upload):
        factories.Sysadmin(name="root_dec", password=ADMIN_PASSWORD)
        request_id = _submitted_agency(smtp, deliver, make_upload)
        client = sign_in(app, "root_dec", ADMIN_PASSWORD)
        return client, request_id

    def test_reject_without_the_box_changes_nothing(self, app, smtp, deliver, make_upload):
        client, request_id = self._page(app, smtp, deliver, make_upload)
        page = client.get(f"/ckan-admin/dgaaccounts/request/{request_id}").body
        assert 'id="dgaaccounts-decision-approve"' in page
        assert 'id="dgaaccounts-decision-return"' in page
        assert 'id="dgaaccounts-decision-reject"' in page
        assert "pending account somchai removed" in page
        resp = client.post(f"/ckan-admin/dgaaccounts/request/{request_id}/reject",
                           data={"_csrf_token": csrf_token(page), "reason": "ไม่ใช่เจ้าหน้าที่"},
                           follow_redirects=True)
        assert "tick the box to confirm" in resp.body
        model.Session.remove()
        assert model.Session.get(Request, request_id).state == "submitted"
        resp = client.post(f"/ckan-admin/dgaaccounts/request/{request_id}/reject",
                           data={"_csrf_token": csrf_token(page), "reason": "ไม่ใช่เจ้าหน้าที่",
                                 "confirm": "yes"}, follow_redirects=True)
        model.Session.remove()
        assert model.Session.get(Request, request_id).state == "rejected"

    def test_approving_a_registration_needs_no_box(self, app, smtp, deliver, make_upload):
        factories.Organization(name="dga")
        factories.Sysadmin(name="root_ok", password=ADMIN_PASSWORD)
        request_id = _submitted_agency(smtp, deliver, make_upload, organization="dga")
        client = sign_in(app, "root_ok", ADMIN_PASSWORD)
        page = client.get(f"/ckan-admin/dgaaccounts/request/{request_id}").body
        assert 'id="field-confirm-approve"' not in page
        client.post(f"/ckan-admin/dgaaccounts/request/{request_id}/approve",
                    data={"_csrf_token": csrf_token(page), "role": "editor"})
        model.Session.remove()
        assert model.Session.get(Request, request_id).state == "approved"

    @pytest.mark.parametrize(("kind", "words"), [
        ("cancellation", "will be deleted"), ("suspension", "will be suspended")])
    def test_approving_a_closure_says_what_happens_and_needs_the_box(
            self, app, make_upload, kind, words):
        user = factories.User(name="leaver", email="leaver@dga.or.th")
        factories.Sysadmin(name="root_cl", password=ADMIN_PASSWORD)
        ctx = {"user": user["name"], "ignore_auth": False}
        req = helpers.call_action("dgaaccounts_cancellation_request_create", context=ctx,
                                  kind=kind, reason="ย้ายไปทำงานที่อื่น")
        helpers.call_action("dgaaccounts_request_document_upload", context=ctx, id=req["id"],
                            signed_form=make_upload(PDF, "signed.pdf"))
        client = sign_in(app, "root_cl", ADMIN_PASSWORD)
        page = client.get(f"/ckan-admin/dgaaccounts/request/{req['id']}").body
        consequence = re.search(r'id="dgaaccounts-consequence-approve">(.*?)</p>', page, re.S)
        assert consequence
        assert words in consequence.group(1)
        assert "API tokens are revoked" in consequence.group(1)
        assert "signed out everywhere" in consequence.group(1)
        client.post(f"/ckan-admin/dgaaccounts/request/{req['id']}/approve",
                    data={"_csrf_token": csrf_token(page)})
        model.Session.remove()
        assert model.Session.get(Request, req["id"]).state == "submitted"
        assert model.User.by_name("leaver").state == "active"
        client.post(f"/ckan-admin/dgaaccounts/request/{req['id']}/approve",
                    data={"_csrf_token": csrf_token(page), "confirm": "yes"})
        model.Session.remove()
        assert model.Session.get(Request, req["id"]).state == "approved"


def test_sysadmins_see_the_waiting_count_in_the_header(app, smtp, deliver, make_upload):
    factories.Sysadmin(name="root_hd", password=ADMIN_PASSWORD)
    factories.User(name="plain_hd", password=ADMIN_PASSWORD)
    first = _submitted_agency(smtp, deliver, make_upload)
    _submitted_agency(smtp, deliver, make_upload, name="somsri", email="somsri@dga.or.th")
    req = model.Session.get(Request, first)
    req.due = datetime.datetime(2020, 1, 1)
    model.Session.commit()
    body = sign_in(app, "root_hd", ADMIN_PASSWORD).get("/dashboard/datasets").body
    link = re.search(r'<a href="([^"]+)" id="dgaaccounts-waiting" data-waiting="(\d+)" '
                     r'data-overdue="(\d+)">(.*?)</a>', body, re.S)
    assert link, "no count in the header"
    assert link.group(1).startswith("/ckan-admin/dgaaccounts/")
    assert (link.group(2), link.group(3)) == ("2", "1")
    assert "Requests to decide: 2" in link.group(4)
    assert "1 overdue" in link.group(4)
    plain = sign_in(app, "plain_hd", ADMIN_PASSWORD).get("/dashboard/datasets").body
    assert "dgaaccounts-waiting" not in plain


class TestFields:
    @pytest.mark.parametrize("form", ["agency", "developer"])
    def test_username_rules_are_shown_before_typing_in_the_pages_language(self, app, form):
        english = app.get(f"/dgaaccounts/register/{form}").body
        rules = re.search(r'id="dgaaccounts-username-rules">(.*?)</p>', english, re.S)
        assert rules
        assert "lowercase English letters" in rules.group(1)
        assert 'aria-describedby="dgaaccounts-username-rules"' in english
        thai = app.get(f"/th/dgaaccounts/register/{form}").body
        rules = re.search(r'id="dgaaccounts-username-rules">(.*?)</p>', thai, re.S)
        assert rules
        assert re.search("[\u0e00-\u0e7f]", rules.group(1))
        assert "dgaaccounts-password-again" not in english

    def test_after_an_error_values_stay_and_the_password_is_asked_again(self, app):
        client = app.test_client()
        page = client.get("/th/dgaaccounts/register/agency")
        data = dict(registration(phone="call me", password="Secret-Pass-99"),
                    _csrf_token=csrf_token(page.body))
        body = client.post("/th/dgaaccounts/register/agency", data=data).body
        assert 'id="dgaaccounts-password-again"' in body
        assert "Secret-Pass-99" not in body
        for kept in ("สมชาย ใจดี", "somchai@dga.or.th", "นักวิชาการคอมพิวเตอร์", "call me",
                     "นางสาวพิมพ์ชนก ศรีสุข", "ผู้อำนวยการกอง"):
            assert kept in body, kept
