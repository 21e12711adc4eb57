"""Fixtures shared by the extension's tests: real PostgreSQL, Redis and SMTP on loopback."""
from __future__ import annotations

import email
import email.policy
import io
import random
import re
import socket
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from ckanext.dgaaccounts.tests import solr_stub

# CKAN core needs Solr for organizations; no Solr can run here, so the tests use the loopback
# stand-in. It must be up before CKAN reads its config (pytest_sessionstart), hence at import.
_SOLR, _SOLR_URL = solr_stub.start_in_thread()
import os  # noqa: E402

os.environ["CKAN_SOLR_URL"] = _SOLR_URL

# A valid one-page PDF (made with pikepdf): uploads are parsed, and a PDF needs a page.
PDF = (
    b"%PDF-1.3\n%\xbf\xf7\xa2\xfe\n1 0 obj\n<< /Pages 2 0 R /Type /Catalog >>\nendobj\n2 0 obj"
    b"\n<< /Count 1 /Kids [ 3 0 R ] /Type /Pages >>\nendobj\n3 0 obj\n<< /Contents 4 0 R /Medi"
    b"aBox [ 0 0 595 842 ] /Parent 2 0 R /Resources << >> /Type /Page >>\nendobj\n4 0 obj\n<< "
    b"/Length 0 >>\nstream\n\nendstream\nendobj\nxref\n0 5\n0000000000 65535 f \n0000000015 00"
    b"000 n \n0000000064 00000 n \n0000000123 00000 n \n0000000229 00000 n \ntrailer << /Root "
    b"1 0 R /Size 5 /ID [<31415926535897932384626433832795><31415926535897932384626433832795>]"
    b" >>\nstartxref\n278\n%%EOF\n"
)
# A 1x1 PNG and JPEG (made with Pillow): uploaded images must decode.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00:"
    b"~\x9bU\x00\x00\x00\nIDATx\x9cc\xf8\x0f\x00\x01\x01\x01\x00\xb18\xf6\x14\x00\x00\x00\x00I"
    b"END\xaeB`\x82"
)
JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xdb\x00C\x00"
    b"\x08\x06\x06\x07\x06\x05\x08\x07\x07\x07\t\t\x08\n\x0c\x14\r\x0c\x0b\x0b\x0c\x19\x12\x13"
    b'\x0f\x14\x1d\x1a\x1f\x1e\x1d\x1a\x1c\x1c $.\' ",#\x1c\x1c(7),01444\x1f\'9=82<.342\xff'
    b"\xc0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00\xff\xc4\x00\x1f\x00\x00\x01\x05\x01\x01"
    b"\x01\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b"
    b"\xff\xc4\x00\xb5\x10\x00\x02\x01\x03\x03\x02\x04\x03\x05\x05\x04\x04\x00\x00\x01}\x01"
    b'\x02\x03\x00\x04\x11\x05\x12!1A\x06\x13Qa\x07"q\x142\x81\x91\xa1\x08#B\xb1\xc1\x15R\xd1'
    b"\xf0$3br\x82\t\n\x16\x17\x18\x19\x1a%&\'()*456789:CDEFGHIJSTUVWXYZcdefghijstuvwxyz\x83"
    b"\x84\x85\x86\x87\x88\x89\x8a\x92\x93\x94\x95\x96\x97\x98\x99\x9a\xa2\xa3\xa4\xa5\xa6\xa7"
    b"\xa8\xa9\xaa\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca\xd2"
    b"\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xf1\xf2\xf3\xf4"
    b"\xf5\xf6\xf7\xf8\xf9\xfa\xff\xda\x00\x08\x01\x01\x00\x00?\x00\xf7\xfa\xff\xd9"
)


@pytest.fixture
def clean_db(with_plugins, reset_db, migrate_db_for, reset_redis):
    """CKAN's clean_db empties or drops every table, ours included: put ours back.

    The audit table refuses DELETE (append-only); TRUNCATE, which only an operator with table
    rights can run, clears it for the reset.
    """
    import ckan.model as model

    model.Session.remove()
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text(
            "DO $$ BEGIN IF to_regclass('dgaaccounts_audit') IS NOT NULL THEN "
            "TRUNCATE dgaaccounts_audit; END IF; END $$"))
    reset_db()
    migrate_db_for("dgaaccounts")
    reset_redis()  # rate-limit counters


@pytest.fixture(autouse=True)
def _private_storage(ckan_config, monkeypatch, tmp_path):
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.storage_path", str(tmp_path / "docs"))
    return tmp_path / "docs"


@pytest.fixture
def storage_root(_private_storage):
    return _private_storage


def row_counts() -> dict[str, int]:
    """How many users, requests, documents, emails and audit events there are: a bad input
    must leave these unchanged."""
    import ckan.model as model

    from ckanext.dgaaccounts.model import AuditEvent, Document, OutboxMessage, Request

    return {
        "users": model.Session.query(model.User).filter(model.User.name != "default").count(),
        "requests": model.Session.query(Request).count(),
        "documents": model.Session.query(Document).count(),
        "outbox": model.Session.query(OutboxMessage).count(),
        "audit": model.Session.query(AuditEvent).count(),
    }


def stored_files(root) -> list[str]:
    return [os.path.join(d, f) for d, _s, files in os.walk(root) for f in files]


class Mailbox:
    """What a real SMTP server on loopback received."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(msg)
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if address.lower() in m["To"].lower()]

    @staticmethod
    def body(msg: email.message.EmailMessage) -> str:
        return msg.get_body(preferencelist=("plain",)).get_content()

    def link(self, address: str, pattern: str = r"https?://\S+/dgaaccounts/verify/(\S+)") -> str:
        """The token of the newest link matching ``pattern`` sent to ``address``."""
        for msg in reversed(self.to(address)):
            found = re.search(pattern, self.body(msg))
            if found:
                return found.group(1)
        raise AssertionError(f"no link for {address} in {len(self.messages)} messages")


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range.

    Clients get their own port from that range; a port in it that nobody listens on yet (a
    server still starting, a mail server meant to be down) can then be the client's own, and
    the socket connects to itself (TCP self-connect) and reads back what it sent.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(1000):
        port = random.randint(max(1024, low - 12000), low - 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below the ephemeral range")


@pytest.fixture
def smtp(ckan_config, monkeypatch):
    """A real SMTP server (aiosmtpd) on loopback, and CKAN pointed at it."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setitem(ckan_config, "smtp.server", f"127.0.0.1:{port}")
    box.port = port  # type: ignore[attr-defined]
    yield box
    controller.stop()


@pytest.fixture
def deliver():
    """Deliver the outbox now, as the background job does."""
    from ckanext.dgaaccounts import mail

    return mail.deliver_due


class Upload:
    """What Werkzeug hands to an action for a multipart file field."""

    def __init__(self, content: bytes, filename: str) -> None:
        self.stream = io.BytesIO(content)
        self.filename = filename

    def read(self, n: int = -1) -> bytes:
        return self.stream.read(n)


@pytest.fixture
def make_upload():
    return Upload


def registration(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "somchai",
        "fullname": "สมชาย ใจดี",
        "email": "somchai@dga.or.th",
        "password": "Correct-Horse-42",
        "agency_name": "สำนักงานพัฒนารัฐบาลดิจิทัล",
        "position": "นักวิชาการคอมพิวเตอร์",
        "phone": "02 612 6000",
        "superior_name": "นางสาวพิมพ์ชนก ศรีสุข",
        "superior_position": "ผู้อำนวยการกอง",
    }
    data.update(overrides)
    return data
