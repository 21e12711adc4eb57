"""The action API over real HTTP with ckanapi, as an outside client uses it.

A live CKAN on loopback, real PostgreSQL, and the emails read from a real SMTP server.
"""
from __future__ import annotations

import re
import time

import ckanapi
import pytest

import ckan.model as model
from ckan.tests import factories

from ckanext.dgaaccounts.model import Document
from ckanext.dgaaccounts.tests.conftest import registration, row_counts, stored_files
from ckanext.dgaaccounts.tests.e2e.conftest import fresh, padded_pdf

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins"),
]


def _counts() -> dict[str, int]:
    fresh()
    return row_counts()


def _verification_link(smtp, live_server, address: str) -> str:
    """The full verification link of the newest email to ``address``."""
    for msg in reversed(smtp.to(address)):
        found = re.search(r"https?://\S+/dgaaccounts/verify/\S+", smtp.body(msg))
        if found:
            return found.group(0)
    raise AssertionError(f"no verification link for {address}")


def test_agency_registration_over_http(live_server, smtp, deliver, pdf_file, storage_root):
    org = factories.Organization(name="dga", title="สำนักงานพัฒนารัฐบาลดิจิทัล")
    sysadmin = factories.SysadminWithToken(email="admin@example.go.th")
    anonymous = ckanapi.RemoteCKAN(live_server.url, user_agent="dgaaccounts-e2e")
    admin = ckanapi.RemoteCKAN(live_server.url, apikey=sysadmin["token"],
                               user_agent="dgaaccounts-e2e")

    # 1. Register, with the signed form attached (multipart).
    with open(pdf_file("แบบฟอร์มลงนาม.pdf"), "rb") as scan:
        result = anonymous.call_action(
            "dgaaccounts_agency_register", registration(organization="dga"),
            files={"signed_form": scan})
    assert result["state"] == "awaiting_verification"
    request_id = result["request_id"]

    # 2. The email, through the real SMTP server, carries a link to this live site.
    assert deliver() >= 1
    link = _verification_link(smtp, live_server, "somchai@dga.or.th")
    assert link.startswith(live_server.url + "/dgaaccounts/verify/")
    token = link.rsplit("/", 1)[1]
    verified = anonymous.call_action("dgaaccounts_email_verify", {"token": token})
    assert verified["request_id"] == request_id
    assert verified["state"] == "submitted"  # the form came with the registration
    applicant_token = verified["applicant_token"]

    # 3. The applicant sees the request with the token; strangers do not.
    shown = anonymous.call_action("dgaaccounts_request_show",
                                  {"id": request_id, "token": applicant_token})
    assert shown["state"] == "submitted"
    assert shown["reference"] == result["reference"]
    [doc] = shown["documents"]
    assert doc["original_name"] == "แบบฟอร์มลงนาม.pdf"
    assert doc["mimetype"] == "application/pdf"
    with pytest.raises(ckanapi.NotAuthorized):
        anonymous.call_action("dgaaccounts_request_show", {"id": request_id})

    # 4. A sysadmin, with an API token, finds it in the queue and approves it.
    queue = admin.call_action("dgaaccounts_request_list", {"state": "submitted"})
    assert queue["count"] == 1
    assert [r["id"] for r in queue["results"]] == [request_id]
    approved = admin.call_action("dgaaccounts_request_approve",
                                 {"id": request_id, "note": "เอกสารครบถ้วน"})
    assert approved["state"] == "approved"
    assert approved["decided_by"] == sysadmin["id"]

    # 5. The account is active and an editor of the organization.
    fresh()
    user = model.User.by_name("somchai")
    assert user.state == "active"
    members = admin.call_action("member_list", {"id": org["id"], "object_type": "user"})
    assert [user.id, "user", "Editor"] in members
    history = admin.call_action("dgaaccounts_request_show", {"id": request_id})["history"]
    assert [(e["action"], e["to_state"]) for e in history] == [
        ("register", "awaiting_verification"), ("verify_email_with_document", "submitted"),
        ("approve", "approved")]
    assert history[-1]["actor_id"] == sysadmin["id"]
    deliver()
    assert any("approved" in m["Subject"] for m in smtp.to("somchai@dga.or.th"))
    assert len(stored_files(storage_root)) == 1


def test_queue_is_for_sysadmins_only(live_server):
    anonymous = ckanapi.RemoteCKAN(live_server.url, user_agent="dgaaccounts-e2e")
    with pytest.raises(ckanapi.NotAuthorized):
        anonymous.call_action("dgaaccounts_request_list", {})
    user = factories.UserWithToken()
    someone = ckanapi.RemoteCKAN(live_server.url, apikey=user["token"],
                                 user_agent="dgaaccounts-e2e")
    with pytest.raises(ckanapi.NotAuthorized):
        someone.call_action("dgaaccounts_request_list", {})


def test_html_disguised_as_pdf_is_refused_and_leaves_nothing(
        live_server, smtp, deliver, pdf_file, storage_root):
    anonymous = ckanapi.RemoteCKAN(live_server.url, user_agent="dgaaccounts-e2e")
    before = _counts()
    page = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
    with open(pdf_file("form.pdf", page), "rb") as scan, \
            pytest.raises(ckanapi.ValidationError) as e:
        anonymous.call_action("dgaaccounts_agency_register", registration(),
                              files={"signed_form": scan})
    assert "signed_form" in e.value.error_dict
    assert _counts() == before
    assert stored_files(storage_root) == []
    assert deliver() == 0
    assert smtp.messages == []
    fresh()
    assert model.User.by_name("somchai") is None


def test_registration_with_a_5_mb_scan(live_server, smtp, deliver, pdf_file, storage_root):
    size = 5 * 1024 * 1024
    path = pdf_file("scan-5mb.pdf", padded_pdf(size))
    anonymous = ckanapi.RemoteCKAN(live_server.url, user_agent="dgaaccounts-e2e")
    with open(path, "rb") as scan:
        started = time.perf_counter()
        result = anonymous.call_action("dgaaccounts_agency_register", registration(),
                                       files={"signed_form": scan})
        elapsed = time.perf_counter() - started
    print(f"\n[e2e] agency registration with a {size / 1048576:.0f} MB scan over HTTP: "
          f"{elapsed * 1000:.0f} ms")
    assert result["state"] == "awaiting_verification"
    fresh()
    doc = model.Session.query(Document).filter(Document.request_id == result["request_id"]).one()
    assert doc.size == size
    assert doc.mimetype == "application/pdf"
    [stored] = stored_files(storage_root)
    with open(stored, "rb") as f:
        assert f.read() == padded_pdf(size)
    assert elapsed < 15, f"a 5 MB registration took {elapsed:.1f} s"
