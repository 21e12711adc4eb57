"""Decisions from the email, end to end: a sysadmin follows the "approve" link of a real new
request email (read from the SMTP server on loopback) in headless Chromium, signs in on the way,
confirms, and the officer is approved."""
from __future__ import annotations

import re

import ckanapi
import pytest

import ckan.model as model
from ckan.tests import factories

from ckanext.dgaaccounts.model import AuditEvent, Request
from ckanext.dgaaccounts.tests.conftest import registration
from ckanext.dgaaccounts.tests.e2e.conftest import fresh, state, submit

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.ckan_config("ckan.gravatar_default", "disabled"),
    pytest.mark.usefixtures("with_plugins"),
]
PASSWORD = "Root-Passw0rd-2026"


def test_a_sysadmin_approves_from_the_link_of_the_email(
        new_page, live_server, smtp, deliver, pdf_file):
    factories.Sysadmin(name="root", email="root@dga.or.th", password=PASSWORD,
                       plugin_extras={"dgaaccounts": {"locale": "en"}})
    factories.Organization(name="dga", title="สำนักงานพัฒนารัฐบาลดิจิทัล")
    anonymous = ckanapi.RemoteCKAN(live_server.url, user_agent="dgaaccounts-e2e")
    with open(pdf_file(), "rb") as scan:
        request_id = anonymous.call_action("dgaaccounts_agency_register", registration(
            organization="dga", agency_name=""), files={"signed_form": scan})["request_id"]
    deliver()
    anonymous.call_action("dgaaccounts_email_verify", {"token": smtp.link("somchai@dga.or.th")})
    deliver()

    mails = [m for m in smtp.to("root@dga.or.th") if request_id in smtp.body(m)]
    assert mails, "the sysadmin got no email about the request"
    found = re.search(r"(http://\S+/dgaaccounts/decide/" + request_id + r"/approve)\s",
                      smtp.body(mails[-1]))
    assert found, smtp.body(mails[-1])
    link = found.group(1)
    assert link.startswith(live_server.url)

    page = new_page()
    page.goto(link)  # not signed in: CKAN's login first, then back to the page
    assert "/user/login" in page.url
    page.fill("#field-login", "root")
    page.fill("#field-password", PASSWORD)
    submit(page, page.locator("form[method=post] button[type=submit]").filter(has_text="Login"))
    assert page.url == link
    assert page.get_attribute("#dgaaccounts-decide", "data-event") == "approve"
    assert "somchai" in page.inner_text("#dgaaccounts-decide-summary")
    fresh()
    assert model.Session.get(Request, request_id).state == "submitted"  # opening it: nothing

    page.select_option("#field-role", "member")
    page.fill("#field-note", "ตรวจสอบแล้ว")
    submit(page, "#dgaaccounts-decide-submit")
    assert page.url.endswith(f"/ckan-admin/dgaaccounts/request/{request_id}")
    assert "Decision recorded" in page.inner_text("body")
    assert state(page) == "approved"

    fresh()
    root = model.User.by_name("root")
    approvals = model.Session.query(AuditEvent).filter(
        AuditEvent.request_id == request_id, AuditEvent.action == "approve").all()
    assert [(e.actor_id, e.details.get("role")) for e in approvals] == [(root.id, "member")]
    # The link again: the decision is taken, by whom and when; no form.
    page.goto(link)
    assert "This decision can no longer be taken: Approved by root" in page.inner_text(
        "#dgaaccounts-decide-closed")
    assert page.locator("#dgaaccounts-decide-form").count() == 0
