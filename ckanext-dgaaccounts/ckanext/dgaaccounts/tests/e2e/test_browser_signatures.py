"""The paperless path in a real (headless) browser: download the issued form, sign it with
pyHanko twice (officer, then superior) as their own tools would, upload it, and the sysadmin
finds it marked "verified signatures" in the queue, sees who signed, and approves."""
from __future__ import annotations

import concurrent.futures
import re

import pytest

import ckan.model as model
from ckan.tests import factories

from ckanext.dgaaccounts import pdf
from ckanext.dgaaccounts.model import Request
from ckanext.dgaaccounts.tests import pki
from ckanext.dgaaccounts.tests.e2e.conftest import fresh, login, state, submit
from ckanext.dgaaccounts.tests.e2e.test_browser import ADMIN_PASSWORD, APPLICANT

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.ckan_config("ckan.gravatar_default", "disabled"),
    pytest.mark.ckan_config("ckanext.dgaaccounts.signature_policy", "digital_preferred"),
    pytest.mark.usefixtures("with_plugins"),
]


def _in_a_thread(work):
    """pyHanko's synchronous API runs an event loop; Playwright's runs one in this thread."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def test_download_sign_twice_upload_verified_in_queue_approve(
        new_page, live_server, smtp, deliver, tmp_path, ckan_config, monkeypatch):
    ca = pki.make_pki()
    paths = ca.write(str(tmp_path / "trust"))
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.signature_trust_roots", [paths["root"]])
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.signature_crls", [paths["crl"]])
    org = factories.Organization(name="dga", title="สำนักงานพัฒนารัฐบาลดิจิทัล")
    factories.Sysadmin(name="portal-admin", email="admin@example.go.th",
                       password=ADMIN_PASSWORD, image_url="")

    page = new_page()
    page.goto(live_server("/dgaaccounts/register/agency"))
    for field in ("fullname", "email", "password", "position", "phone", "superior_name",
                  "superior_position"):
        page.fill("#field-" + field.replace("_", "-"), APPLICANT[field])
    page.fill("#field-username", APPLICANT["name"])
    page.locator("#field-organization").press_sequentially("dga")
    submit(page, "#dgaaccounts-register-submit")
    reference = re.search(r"DGA-\d{4}-\d+", page.inner_text("article")).group(0)
    assert deliver() == 1
    page.goto(re.search(r"https?://\S+/dgaaccounts/verify/\S+",
                        smtp.body(smtp.to(APPLICANT["email"])[0])).group(0))
    submit(page, "#dgaaccounts-verify-submit")
    assert state(page) == "awaiting_document"
    assert page.locator("#dgaaccounts-signature-policy").count() == 1

    # download, then the officer and the superior sign, each in their own field
    with page.expect_download() as download_info:
        page.click("#dgaaccounts-form-download")
    issued = download_info.value.path().read_bytes()
    signed = _in_a_thread(lambda: pki.sign(pki.sign(issued, ca.officer, pdf.SIGNATURE_FIELDS[0]),
                                           ca.superior, pdf.SIGNATURE_FIELDS[1]))
    signed_path = tmp_path / f"{reference}-signed.pdf"
    signed_path.write_bytes(signed)
    page.set_input_files("#field-signed-form", str(signed_path))
    submit(page, "#dgaaccounts-upload-submit")
    assert state(page) == "submitted"

    # the sysadmin: the queue marks it, the filter finds it, the review page shows who signed
    admin = new_page()
    login(admin, live_server, "portal-admin", ADMIN_PASSWORD)
    admin.goto(live_server("/ckan-admin/dgaaccounts/?signatures=verified"))
    row = admin.locator(f'#dgaaccounts-queue tr[data-reference="{reference}"]')
    assert row.locator(".dgaaccounts-signatures-verified").count() == 1
    row.get_by_role("link", name=reference).click()
    admin.wait_for_selector("#dgaaccounts-signatures")
    assert admin.get_attribute("#dgaaccounts-signatures", "data-verified") == "true"
    table = admin.inner_text("#dgaaccounts-signature-table")
    assert "DGA Test Issuing CA" in table
    for field, person in zip(pdf.SIGNATURE_FIELDS, ("Applicant", "Superior"), strict=True):
        cells = admin.locator(f'#dgaaccounts-signature-table tr[data-field="{field}"] td')
        assert cells.last.inner_text().strip() == person
        assert cells.nth(4).inner_text().startswith("Valid")
    assert admin.input_value("#field-organization") == org["id"]
    admin.focus("#dgaaccounts-approve")
    with admin.expect_navigation(wait_until="domcontentloaded"):
        admin.keyboard.press("Enter")
    assert state(admin) == "approved"
    fresh()
    assert model.Session.query(Request).one().state == "approved"
