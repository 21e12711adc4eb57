"""A developer and an account holder, in headless Chromium against a live CKAN."""
from __future__ import annotations

import re
import subprocess

import ckanapi
import pytest

import ckan.model as model
from ckan.tests import factories

from ckanext.dgaaccounts.tests.e2e.conftest import fresh, login, state, submit

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.ckan_config("ckan.gravatar_default", "disabled"),
    pytest.mark.usefixtures("with_plugins"),
]


def test_developer_signs_up_and_uses_the_token_at_once(new_page, live_server, smtp, deliver):
    page = new_page()
    page.goto(live_server("/user/register"))
    page.get_by_role("link", name="Register as a developer").click()
    page.fill("#field-fullname", "Lek Developer")
    page.fill("#field-username", "dev_lek")
    page.fill("#field-email", "lek@example.com")
    page.fill("#field-password", "Dev-Passw0rd-42")
    page.fill("#field-purpose", "แอปคุณภาพอากาศสำหรับโรงเรียน")
    submit(page, "form#dgaaccounts-developer-form button[type=submit]")
    assert "Check your email" in page.inner_text("h1")

    assert deliver() == 1
    link = re.search(r"https?://\S+/dgaaccounts/verify/\S+",
                     smtp.body(smtp.to("lek@example.com")[0])).group(0)
    page.goto(link)
    submit(page, "#dgaaccounts-verify-submit")
    token = page.inner_text("#dgaaccounts-api-token").strip()
    assert page.locator("#dgaaccounts-copy-token").count() == 1
    assert f'curl -H "Authorization: {token}"' in page.inner_text("article")

    # The token works at once, over HTTP, with ckanapi; and the browser is signed in.
    remote = ckanapi.RemoteCKAN(live_server.url, apikey=token)
    assert remote.action.user_show(id="dev_lek")["name"] == "dev_lek"
    page.goto(live_server("/dashboard/datasets"))
    assert "/user/login" not in page.url


def test_officer_closes_their_account_with_a_signed_request(
        new_page, live_server, smtp, deliver, tmp_path):
    factories.User(name="officer", fullname="สมหญิง รักดี", email="officer@dga.or.th",
                   password="Officer-Pass-42")
    factories.Organization(name="dga", title="สำนักงานพัฒนารัฐบาลดิจิทัล",
                           users=[{"name": "officer", "capacity": "editor"}])
    factories.Sysadmin(name="portal-admin", password="Sysadmin-Passw0rd-42")

    page = new_page()
    login(page, live_server, "officer", "Officer-Pass-42")
    page.goto(live_server("/user/officer"))
    page.get_by_role("link", name="Close or suspend my account").click()
    page.check("input[name=kind][value=cancellation]")
    page.fill("#field-reason", "ย้ายไปปฏิบัติราชการที่หน่วยงานอื่น")
    submit(page, "#dgaaccounts-account-close-submit")
    assert state(page) == "awaiting_document"
    reference = re.search(r"DGA-\d{4}-\d+", page.inner_text("h1")).group(0)

    with page.expect_download() as download_info:
        page.click("#dgaaccounts-form-download")
    form_path = tmp_path / "request-form.pdf"
    download_info.value.save_as(form_path)
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(form_path), "-"], check=True,
                          capture_output=True, text=True, timeout=30).stdout
    assert reference in text
    assert "officer" in text
    assert "สำนักงานพัฒนารัฐบาลดิจิทัล" in text

    page.set_input_files("#field-signed-form", str(form_path))
    submit(page, "#dgaaccounts-upload-submit")
    assert state(page) == "submitted"

    admin = new_page()
    login(admin, live_server, "portal-admin", "Sysadmin-Passw0rd-42")
    admin.goto(live_server("/ckan-admin/dgaaccounts/?kind=cancellation"))
    row = admin.locator(f'#dgaaccounts-queue tr[data-reference="{reference}"]')
    assert row.count() == 1
    submit(admin, row.get_by_role("link", name=reference))
    # Deleting an account is final: the page says so and wants the box ticked (keyboard too).
    assert "deleted" in admin.inner_text("#dgaaccounts-consequence-approve")
    admin.focus("#field-confirm-approve")
    admin.keyboard.press("Space")
    admin.focus("#dgaaccounts-approve")
    with admin.expect_navigation(wait_until="domcontentloaded"):
        admin.keyboard.press("Enter")
    assert state(admin) == "approved"

    fresh()
    assert model.User.by_name("officer").state == "deleted"
    page.goto(live_server("/dashboard/datasets"))
    assert "/user/login" in page.url, "the officer's open session is signed out"
    deliver()
    assert any("closed" in smtp.body(m) for m in smtp.to("officer@dga.or.th"))
