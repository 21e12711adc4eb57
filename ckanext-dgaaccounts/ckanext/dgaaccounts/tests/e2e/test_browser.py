"""An agency officer and a sysadmin, in a real (headless) browser, against a live CKAN.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright's Python package; never run
``playwright install``. The forms carry CKAN's CSRF token, which the extension checks on its
anonymous POSTs too: these are real form submissions, with CSRF protection on.
"""
from __future__ import annotations

import os
import re
import subprocess

import pytest

import ckan.model as model
from ckan.tests import factories, helpers

from ckanext.dgaaccounts.model import Request
from ckanext.dgaaccounts.tests.e2e.conftest import fresh, login, state, submit

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.ckan_config("ckan.gravatar_default", "disabled"),  # no avatars from outside
    pytest.mark.usefixtures("with_plugins"),
]

APPLICANT = {
    "fullname": "สมชาย ใจดี",
    "name": "somchai",
    "email": "somchai@dga.or.th",
    "password": "Correct-Horse-42",
    "position": "นักวิชาการคอมพิวเตอร์",
    "phone": "02 612 6000",
    "superior_name": "นางสาวพิมพ์ชนก ศรีสุข",
    "superior_position": "ผู้อำนวยการกอง",
}
ADMIN_PASSWORD = "Sysadmin-Passw0rd-42"


def test_agency_officer_registers_and_a_sysadmin_approves(
        new_page, live_server, smtp, deliver, tmp_path, screenshot_dir):
    org = factories.Organization(name="dga", title="สำนักงานพัฒนารัฐบาลดิจิทัล")
    factories.Sysadmin(name="portal-admin", fullname="Portal Administrator",
                       email="admin@example.go.th", password=ADMIN_PASSWORD, image_url="")

    # -- the applicant registers -----------------------------------------------------------
    page = new_page()
    page.goto(live_server("/user/register"))
    assert page.url == live_server("/dgaaccounts/register")
    page.get_by_role("link", name="Register as an agency officer").click()
    page.wait_for_url(live_server("/dgaaccounts/register/agency"))
    # The type-ahead offers titles, never the URL name (issue 12).
    assert page.locator('#dgaaccounts-organizations option[value="สำนักงานพัฒนารัฐบาลดิจิทัล"]'
                        ).count() == 1
    assert page.locator("#dgaaccounts-organizations option[value=dga]").count() == 0
    page.fill("#field-fullname", APPLICANT["fullname"])
    page.fill("#field-username", APPLICANT["name"])
    page.fill("#field-email", APPLICANT["email"])
    page.fill("#field-password", APPLICANT["password"])
    # The agency field is an <input list=...>: typing the organization's title picks it.
    page.locator("#field-organization").press_sequentially("สำนักงานพัฒนารัฐบาลดิจิทัล")
    for field in ("position", "phone", "superior_name", "superior_position"):
        page.fill("#field-" + field.replace("_", "-"), APPLICANT[field])
    page.screenshot(path=os.path.join(screenshot_dir, "register-agency.png"))
    submit(page, "#dgaaccounts-register-submit")
    assert page.url == live_server("/dgaaccounts/register/sent")
    assert "Check your email" in page.inner_text("h1")
    reference = re.search(r"DGA-\d{4}-\d+", page.inner_text("article")).group(0)

    # -- the verification email, through the real SMTP server --------------------------------
    assert deliver() == 1
    [msg] = smtp.to(APPLICANT["email"])
    link = re.search(r"https?://\S+/dgaaccounts/verify/\S+", smtp.body(msg)).group(0)
    assert link.startswith(live_server("/dgaaccounts/verify/"))
    page.goto(link)
    submit(page, "#dgaaccounts-verify-submit")  # a GET only shows the button; the POST redeems
    assert re.fullmatch(live_server.url + r"/dgaaccounts/request/[0-9a-f-]+", page.url)
    request_url = page.url
    assert state(page) == "awaiting_document"
    assert "Your email address is confirmed" in page.content()
    page.screenshot(path=os.path.join(screenshot_dir, "request-page.png"))

    # -- the pre-filled application form --------------------------------------------------
    with page.expect_download() as download_info:
        page.click("#dgaaccounts-form-download")
    download = download_info.value
    assert download.suggested_filename == f"{reference}.pdf"
    form_path = tmp_path / "application-form.pdf"
    download.save_as(form_path)
    assert form_path.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(form_path), "-"],
                          check=True, capture_output=True, text=True, timeout=30).stdout
    assert reference in text
    assert APPLICANT["name"] in text
    assert APPLICANT["email"] in text

    # -- the signed scan: the printed form, signed and scanned (here: the same PDF) ---------
    page.set_input_files("#field-signed-form", str(form_path))
    submit(page, "#dgaaccounts-upload-submit")
    assert page.url == request_url
    assert state(page) == "submitted"
    assert "application-form.pdf" in page.inner_text("article")

    # -- a sysadmin reviews the request in the queue ----------------------------------------
    admin = new_page()
    login(admin, live_server, "portal-admin", ADMIN_PASSWORD)
    admin.goto(live_server("/ckan-admin/dgaaccounts/"))
    row = admin.locator(f'#dgaaccounts-queue tr[data-reference="{reference}"]')
    assert row.count() == 1
    assert APPLICANT["fullname"] in row.inner_text()
    admin.screenshot(path=os.path.join(screenshot_dir, "admin-queue.png"))

    with admin.expect_response(re.compile(r".*/document/[0-9a-f-]+$")) as document_info:
        row.get_by_role("link", name=reference).click()
    document = document_info.value
    assert document.status == 200
    assert document.headers["content-type"] == "application/pdf"
    assert document.headers["content-disposition"].startswith("inline;")
    assert document.headers["x-content-type-options"] == "nosniff"
    # (Chromium's PDF viewer takes over the iframe's response: read the bytes separately.)
    assert admin.request.get(document.url).body() == form_path.read_bytes()
    iframe = admin.locator("iframe.dgaaccounts-document")
    assert iframe.count() == 1
    assert "/document/" in iframe.get_attribute("src")
    # Shown, not blocked: Chromium replaces a PDF in a sandboxed frame with an error page
    # (chrome-error://chromewebdata/, "127.0.0.1 is blocked").
    frame = iframe.element_handle().content_frame()
    frame.wait_for_load_state()
    assert frame.url == document.url
    assert admin.input_value("#field-role") == "editor"
    assert admin.input_value("#field-organization") == org["id"]
    assert APPLICANT["superior_name"] in admin.inner_text("table")
    admin.get_by_role("heading", name="Documents").evaluate("h => h.scrollIntoView()")
    # Let Chromium's PDF viewer (an extension frame) draw the page before the screenshot.
    for _ in range(30):
        if any(f.url.startswith("chrome-extension:") for f in admin.frames):
            admin.wait_for_timeout(300)
            break
        admin.wait_for_timeout(100)
    admin.screenshot(path=os.path.join(screenshot_dir, "admin-request.png"))

    admin.fill("#field-note", "เอกสารครบถ้วน")
    # The keyboard, not the mouse: in headless Chromium the PDF viewer in the frame above keeps
    # the focus and swallows the next mouse click on the page.
    admin.focus("#dgaaccounts-approve")
    with admin.expect_navigation(wait_until="domcontentloaded"):
        admin.keyboard.press("Enter")
    assert "Decision recorded" in admin.inner_text("body")
    assert state(admin) == "approved"

    fresh()
    user = model.User.by_name(APPLICANT["name"])
    assert user.state == "active"
    assert model.Session.query(Request).one().state == "approved"

    # -- the applicant signs in and can publish for the agency ------------------------------
    deliver()
    assert any("approved" in m["Subject"] for m in smtp.to(APPLICANT["email"]))
    applicant = new_page()
    login(applicant, live_server, APPLICANT["name"], APPLICANT["password"])
    applicant.goto(live_server("/organization/dga"))
    # Editors (and admins) of an organization get its "Add Dataset" button.
    assert applicant.locator('a[href*="/dataset/new"]').count() >= 1
    orgs = helpers.call_action("organization_list_for_user", context={"user": user.name},
                               id=user.id, permission="create_dataset")
    assert [o["name"] for o in orgs] == ["dga"]
    members = helpers.call_action("member_list", id=org["id"], object_type="user")
    assert (user.id, "user", "Editor") in members
