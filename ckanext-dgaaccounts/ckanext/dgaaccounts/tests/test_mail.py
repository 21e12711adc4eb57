"""The email outbox: a real RQ worker on Redis, retries while SMTP is down, locales, no secrets
at rest, and the headers of what reaches a real SMTP server on loopback."""
from __future__ import annotations

import datetime
import hashlib
import os
import re

import pytest
import sqlalchemy as sa

import ckan.model as model
from ckan.lib import jobs
from ckan.plugins import toolkit as tk
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import mail
from ckanext.dgaaccounts.model import OutboxMessage, Request, Token, utcnow
from ckanext.dgaaccounts.tests.conftest import PDF, free_port, registration

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db", "with_request_context"),
]

EMAIL = registration()["email"]
THAI = re.compile(r"[\u0E00-\u0E7F]")
MO = os.path.join(os.path.dirname(mail.__file__), "i18n", "th", "LC_MESSAGES",
                  mail.DOMAIN + ".mo")


def _register(**overrides) -> str:
    return helpers.call_action("dgaaccounts_agency_register",
                               **registration(**overrides))["request_id"]


def _outbox() -> list[OutboxMessage]:
    model.Session.expire_all()
    return model.Session.query(OutboxMessage).order_by(OutboxMessage.id).all()


def _make_due() -> None:
    """Time passes: every pending message is due again."""
    model.Session.query(OutboxMessage).update(
        {"next_attempt": utcnow() - datetime.timedelta(seconds=1)})
    model.Session.commit()


@pytest.fixture
def smtp_down(smtp, ckan_config, monkeypatch):
    """The SMTP server stops answering (a closed loopback port); ``smtp_down.up()`` restores it."""
    monkeypatch.setitem(ckan_config, "smtp.server", f"127.0.0.1:{free_port()}")

    class Switch:
        @staticmethod
        def up() -> None:
            monkeypatch.setitem(ckan_config, "smtp.server", f"127.0.0.1:{smtp.port}")

    return Switch()


# -- (a) a real worker -----------------------------------------------------------------------

def test_verification_mail_is_sent_by_a_real_rq_worker(smtp, clean_redis, with_test_worker):
    queue = jobs.get_queue()
    assert queue.count == 0

    request_id = _register()

    assert smtp.messages == [], "the action itself sends nothing"
    [job] = queue.jobs
    assert job.func_name == "ckanext.dgaaccounts.mail.deliver_due"

    # The queue may have been made (and RQ told of its connection) in another thread.
    jobs.Worker(connection=queue.connection).work(burst=True)

    assert queue.count == 0
    [msg] = smtp.to(EMAIL)
    assert "/dgaaccounts/verify/" in smtp.body(msg)
    [row] = _outbox()
    assert (row.state, row.attempts, row.template) == ("sent", 1, "verify_agency")
    assert row.sent is not None
    # The token minted by the worker was committed with the delivery: the link works.
    verified = helpers.call_action("dgaaccounts_email_verify", token=smtp.link(EMAIL))
    assert verified["request_id"] == request_id


# -- (b) SMTP down -----------------------------------------------------------------------------

def test_failed_delivery_stays_pending_with_backoff_and_leaves_no_token(
        smtp, smtp_down, deliver, ckan_config, monkeypatch):
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.outbox_backoff", 60)
    _register()
    start = utcnow()

    assert deliver() == 0

    end = utcnow()
    [row] = _outbox()
    assert row.state == "pending"
    assert row.attempts == 1
    assert start + datetime.timedelta(seconds=60) <= row.next_attempt
    assert row.next_attempt <= end + datetime.timedelta(seconds=60)
    assert row.last_error
    assert "Connection" in row.last_error
    assert row.sent is None
    assert model.Session.query(Token).count() == 0, "the failed attempt's token was rolled back"
    assert smtp.messages == []


def test_pending_message_is_not_retried_before_its_time(smtp, smtp_down, deliver):
    _register()
    deliver()
    smtp_down.up()

    assert deliver() == 0

    [row] = _outbox()
    assert (row.state, row.attempts) == ("pending", 1)
    assert smtp.messages == []


def test_message_is_delivered_exactly_once_when_smtp_is_back(smtp, smtp_down, deliver):
    request_id = _register()
    deliver()
    smtp_down.up()
    _make_due()

    assert deliver() == 1
    assert deliver() == 0
    _make_due()
    assert deliver() == 0

    assert len(smtp.to(EMAIL)) == 1
    [row] = _outbox()
    assert (row.state, row.attempts, row.last_error) == ("sent", 2, None)
    [token] = model.Session.query(Token).all()
    assert token.request_id == request_id
    assert token.purpose == "verify"
    helpers.call_action("dgaaccounts_email_verify", token=smtp.link(EMAIL))


def test_message_fails_after_max_attempts_with_doubling_backoff(
        smtp, smtp_down, deliver, ckan_config, monkeypatch):
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.outbox_max_attempts", 3)
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.outbox_backoff", 10)
    _register()

    for attempt, delay in ((1, 10), (2, 20), (3, 40)):
        _make_due()
        start = utcnow()
        assert deliver() == 0
        end = utcnow()
        [row] = _outbox()
        assert row.attempts == attempt
        assert row.state == ("failed" if attempt == 3 else "pending")
        # The next attempt is ``delay`` after the failure, which happened between start and
        # end (a refused connection can take a while on a loaded machine).
        wait = datetime.timedelta(seconds=delay)
        assert start + wait <= row.next_attempt <= end + wait

    smtp_down.up()
    _make_due()
    assert deliver() == 0, "a failed message is not retried by the sweep"
    assert smtp.messages == []
    [row] = _outbox()
    assert (row.state, row.attempts) == ("failed", 3)
    assert model.Session.query(Token).count() == 0


def test_one_failing_message_does_not_block_the_others(smtp, deliver):
    _register()
    _register(name="somsri", email="somsri@dga.or.th")
    first, _second = _outbox()
    # A recipient that would inject a header cannot be sent: only that message is retried.
    model.Session.query(OutboxMessage).filter(OutboxMessage.id == first.id).update(
        {"recipient": "somchai@dga.or.th\r\nBcc: someone@example.com"})
    model.Session.commit()

    assert deliver() == 1

    first, second = _outbox()
    assert (first.state, first.attempts) == ("pending", 1)
    assert first.last_error
    assert (second.state, second.attempts) == ("sent", 1)
    assert [m["To"].addresses[0].addr_spec for m in smtp.messages] == ["somsri@dga.or.th"]
    assert all(m["Bcc"] is None for m in smtp.messages)


# -- (c) the recipient's locale ---------------------------------------------------------------

def _context() -> dict:
    return {
        "site_url": "http://127.0.0.1:5000", "site_title": "data.go.th", "name": "สมชาย ใจดี",
        "params": {}, "link": "http://127.0.0.1:5000/dgaaccounts/verify/abc",
        "request": {"reference": "DGA-2026-000001", "kind": "agency_registration",
                    "state": "awaiting_verification", "username": "somchai", "due": "",
                    "admin_url": "http://127.0.0.1:5000/ckan-admin/dgaaccounts/request/x"},
    }


def test_english_rendering():
    subject, body = mail.render("verify_agency", "en", _context())
    assert subject == "Confirm your email address for data.go.th"
    assert body.startswith("Dear สมชาย ใจดี,")
    assert "DGA-2026-000001" in body
    assert "http://127.0.0.1:5000/dgaaccounts/verify/abc" in body
    assert not THAI.search(subject)


def test_thai_rendering_uses_the_compiled_thai_catalog():
    assert os.path.exists(MO), f"missing compiled Thai catalog {MO}"
    th_subject, th_body = mail.render("verify_agency", "th", _context())
    en_subject, _en_body = mail.render("verify_agency", "en", _context())
    assert th_subject != en_subject
    assert THAI.search(th_subject)
    assert "data.go.th" in th_subject
    assert "http://127.0.0.1:5000/dgaaccounts/verify/abc" in th_body


def test_rendering_in_one_locale_does_not_leak_into_the_next():
    first = mail.render("verify_agency", "en", _context())
    mail.render("verify_agency", "th", _context())
    assert mail.render("verify_agency", "en", _context()) == first


@pytest.mark.parametrize("lang", ["th", "en"])
def test_registration_mail_is_in_the_language_of_the_registration(
        lang, smtp, deliver, test_request_context):
    with test_request_context(environ_overrides={"CKAN_LANG": lang}):
        request_id = _register()
    req = model.Session.get(Request, request_id)
    assert req.locale == lang
    [row] = _outbox()
    assert row.locale == lang

    deliver()

    [msg] = smtp.to(EMAIL)
    site_title = tk.config.get("ckan.site_title") or "CKAN"
    expected, _body = mail.render("verify_agency", lang, {**_context(), "site_title": site_title})
    assert msg["Subject"] == expected


# -- (d) no secret at rest --------------------------------------------------------------------

def test_no_link_token_rests_in_the_outbox(smtp, deliver, make_upload):
    request_id = _register()
    deliver()
    verify_token = smtp.link(EMAIL)
    verified = helpers.call_action("dgaaccounts_email_verify", token=verify_token)
    helpers.call_action("dgaaccounts_request_document_upload", id=request_id,
                        token=verified["applicant_token"],
                        signed_form=make_upload(PDF, "form.pdf"))
    deliver()
    applicant_link = smtp.link(EMAIL, r"\?token=(\S+)")  # from the "submitted" email
    assert {m.template for m in _outbox()} >= {"verify_agency", "submitted"}

    secrets = [verify_token, applicant_link, verified["applicant_token"]]
    rows = model.Session.execute(sa.text(
        "SELECT row_to_json(o)::text FROM dgaaccounts_outbox o")).scalars().all()
    assert rows
    for secret in secrets:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        for row in rows:
            assert secret not in row
            assert digest not in row


# -- (e) headers and encoding ------------------------------------------------------------------

def test_headers_sender_and_utf8_thai(smtp, deliver, ckan_config, monkeypatch):
    monkeypatch.setitem(ckan_config, "ckan.site_title", "พอร์ทัลข้อมูลเปิดภาครัฐ")
    _register()
    deliver()

    [msg] = smtp.to(EMAIL)
    assert msg["From"] == "portal@example.go.th"  # smtp.mail_from of test.ini
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"]
    assert msg["Date"]
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    [to] = msg["To"].addresses
    assert (to.display_name, to.addr_spec) == ("สมชาย ใจดี", EMAIL)
    assert "พอร์ทัลข้อมูลเปิดภาครัฐ" in msg["Subject"]
    body = smtp.body(msg)
    assert "สมชาย ใจดี" in body
    assert "พอร์ทัลข้อมูลเปิดภาครัฐ" in body


def test_extension_sender_overrides_ckan_sender(smtp, deliver, ckan_config, monkeypatch):
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.mail_from", "noreply@data.go.th")
    _register()
    deliver()
    [msg] = smtp.to(EMAIL)
    assert msg["From"] == "noreply@data.go.th"


def test_sysadmins_are_told_in_their_own_locale(smtp, deliver, make_upload):
    admin = factories.Sysadmin(email="admin@dga.or.th")
    user = model.User.get(admin["id"])
    user.plugin_extras = {"dgaaccounts": {"locale": "en"}}
    model.Session.commit()
    request_id = _register()
    deliver()
    verified = helpers.call_action("dgaaccounts_email_verify", token=smtp.link(EMAIL))
    helpers.call_action("dgaaccounts_request_document_upload", id=request_id,
                        token=verified["applicant_token"],
                        signed_form=make_upload(PDF, "form.pdf"))
    deliver()
    [row] = [m for m in _outbox() if m.template == "new_request"]
    assert (row.recipient, row.locale) == (admin["email"], "en")
    [msg] = smtp.to("admin@dga.or.th")
    assert msg["Subject"].startswith("New account request to review")
