"""Faults: the mail server down or refusing, the database failing in the middle of a decision or
an upload, the storage failing or losing a file, a worker killed while sending.

Database failures are real ones: a trigger that raises inside PostgreSQL, so the statement, and
the transaction around it, fail as they would on a broken constraint, a full disk or a lost
connection. After each, nothing is half-done, and once the fault is gone the step works, once.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime
import io
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

import ckan.model as model
from ckan.tests import factories, helpers

from ckanext.dgaaccounts import mail, storage
from ckanext.dgaaccounts.model import Document, OutboxMessage, Request, Token, utcnow
from ckanext.dgaaccounts.tests.conftest import PDF, Mailbox, Upload, free_port, stored_files
from ckanext.dgaaccounts.tests.security.conftest import (
    account_request, agency_request, as_user, ckan_command, count, decide, server_ini,
    snapshot, start_ckan, stop, wait_until,
)

pytestmark = pytest.mark.usefixtures("plugin_loaded", "clean_db")


def _make_due() -> None:
    model.Session.query(OutboxMessage).filter(OutboxMessage.state == "pending").update(
        {"next_attempt": utcnow() - datetime.timedelta(seconds=1)})
    model.Session.commit()


@contextlib.contextmanager
def failing(table: str, operation: str = "INSERT") -> Iterator[None]:
    """PostgreSQL refuses every ``operation`` on ``table`` while the block runs."""
    model.Session.rollback()
    name = f"dgaaccounts_test_fail_{table}_{operation.lower()}"
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text(
            "CREATE OR REPLACE FUNCTION dgaaccounts_test_fail() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'injected failure on %', TG_TABLE_NAME; END $$ LANGUAGE plpgsql"))
        conn.execute(sa.text(
            f'CREATE TRIGGER {name} BEFORE {operation} ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION dgaaccounts_test_fail()"))
    try:
        yield
    finally:
        model.Session.rollback()
        with model.meta.engine.begin() as conn:
            conn.execute(sa.text(f'DROP TRIGGER IF EXISTS {name} ON "{table}"'))


# -- the mail server --------------------------------------------------------------------------

class Flaky(Mailbox):
    """An SMTP server that refuses (451, try later) the first message to some recipients."""

    def __init__(self, refuse_once: set[str]) -> None:
        super().__init__()
        self.refuse_once = set(refuse_once)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse_once:
            self.refuse_once.discard(address)
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_smtp_down_during_decisions_then_each_email_goes_exactly_once(
        smtp, deliver, ckan_config, monkeypatch):
    factories.Organization(name="dga")
    root = factories.Sysadmin(name="f_root", email="f_root@dga.or.th")["name"]
    reqs = [agency_request(f"f_appl{i}", f"f_appl{i}@dga.or.th", document=PDF)
            for i in range(4)]
    deliver()
    smtp.messages.clear()
    up = ckan_config["smtp.server"]
    monkeypatch.setitem(ckan_config, "smtp.server", f"127.0.0.1:{free_port()}")  # down

    decisions = ["approve", "reject", "return", "approve"]
    for req, decision in zip(reqs, decisions, strict=True):
        decide(root, decision, req["id"])  # the decisions do not wait for the mail server
    for sweep in (1, 2):
        _make_due()
        assert deliver() == 0
        rows = model.Session.query(OutboxMessage).filter(OutboxMessage.state == "pending").all()
        assert len(rows) == 4
        assert all(r.attempts == sweep and r.last_error for r in rows)
    model.Session.remove()
    assert [model.Session.get(Request, r["id"]).state for r in reqs] == [
        "approved", "rejected", "returned", "approved"]

    monkeypatch.setitem(ckan_config, "smtp.server", up)  # back
    _make_due()
    assert deliver() == 4
    for _ in range(2):  # later sweeps send nothing again
        _make_due()
        assert deliver() == 0
    subjects = {}
    for i, decision in enumerate(decisions):
        received = smtp.to(f"f_appl{i}@dga.or.th")
        assert len(received) == 1, decision
        subjects[decision] = received[0]["Subject"]
    assert count("dgaaccounts_outbox", "state <> 'sent'") == 0


def test_a_temporary_refusal_delays_only_that_email(deliver, ckan_config, monkeypatch):
    from aiosmtpd.controller import Controller

    factories.Organization(name="dga")
    box = Flaky({"f_flaky@dga.or.th"})
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.setitem(ckan_config, "smtp.server", f"127.0.0.1:{port}")
        agency_request("f_flaky", "f_flaky@dga.or.th", verify=False)
        agency_request("f_fine", "f_fine@dga.or.th", verify=False)
        assert deliver() == 1
        assert [len(box.to(a)) for a in ("f_flaky@dga.or.th", "f_fine@dga.or.th")] == [0, 1]
        _make_due()
        assert deliver() == 1
        _make_due()
        assert deliver() == 0
        assert [len(box.to(a)) for a in ("f_flaky@dga.or.th", "f_fine@dga.or.th")] == [1, 1]
    finally:
        controller.stop()


# -- the database fails in the middle of a decision ------------------------------------------------

def test_database_failing_mid_approval_leaves_nothing_half_done(storage_root):
    org = factories.Organization(name="dga")
    root = factories.Sysadmin(name="f_root")["name"]
    req = agency_request("f_officer", "f_officer@dga.or.th", document=PDF)
    before = snapshot(storage_root)
    with failing("member"), pytest.raises(DBAPIError, match="injected failure"):
        decide(root, "approve", req["id"], organization="dga", role="admin")
    assert snapshot(storage_root) == before
    model.Session.remove()
    assert model.Session.get(Request, req["id"]).state == "submitted"
    assert model.Session.get(model.User, req["user_id"]).state == "pending"
    # Once the database is well again, the approval goes through, once.
    decide(root, "approve", req["id"], organization="dga", role="admin")
    assert count("member", "table_id = :u AND group_id = :g AND state = 'active'",
                 u=req["user_id"], g=org["id"]) == 1
    assert count("dgaaccounts_audit", "request_id = :r AND action = 'approve'",
                 r=req["id"]) == 1


def test_database_failing_mid_cancellation_keeps_the_account_whole(storage_root):
    factories.Sysadmin(name="f_root")
    factories.User(name="f_leaver", email="f_leaver@dga.or.th")
    factories.Organization(name="dga", users=[{"name": "f_leaver", "capacity": "editor"}])
    factories.APIToken(user="f_leaver")
    req = account_request("f_leaver", document=PDF)
    before = snapshot(storage_root)
    # Deleting the API tokens fails: the user must keep state, tokens, memberships and epoch.
    with failing("api_token", "DELETE"), pytest.raises(DBAPIError, match="injected failure"):
        decide("f_root", "approve", req["id"])
    assert snapshot(storage_root) == before
    decide("f_root", "approve", req["id"])
    model.Session.remove()
    assert model.User.by_name("f_leaver").state == "deleted"
    assert count("api_token", "user_id = :u", u=req["user_id"]) == 0


def test_database_failing_at_registration_leaves_no_user_and_no_file(storage_root):
    before = snapshot(storage_root)
    from ckanext.dgaaccounts.tests.conftest import registration

    with failing("dgaaccounts_audit"), pytest.raises(DBAPIError, match="injected failure"):
        helpers.call_action("dgaaccounts_agency_register", context=as_user(""), **registration(
            name="f_new", email="f_new@dga.or.th", signed_form=Upload(PDF, "form.pdf")))
    assert snapshot(storage_root) == before
    assert stored_files(storage_root) == []


# -- the storage fails -------------------------------------------------------------------------

@pytest.fixture
def waiting(storage_root) -> dict[str, Any]:
    factories.Organization(name="dga")
    return agency_request("f_waiting", "f_waiting@dga.or.th")


def _upload(req: dict[str, Any], content: Any) -> Any:
    return helpers.call_action(
        "dgaaccounts_request_document_upload", context=as_user(""), id=req["id"],
        token=req["token"], signed_form=content)


def test_storage_failing_to_move_the_file_into_place(waiting, storage_root, monkeypatch):
    before = snapshot(storage_root)
    disk = {"full": True}
    replace = os.replace

    def full_disk(*args: Any) -> None:
        if disk["full"]:
            raise OSError(28, "No space left on device")
        replace(*args)

    monkeypatch.setattr(storage.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        _upload(waiting, Upload(PDF, "form.pdf"))
    disk["full"] = False
    assert snapshot(storage_root) == before  # no row, no file, not even the temporary one
    assert _upload(waiting, Upload(PDF, "form.pdf"))["state"] == "submitted"
    assert len(stored_files(storage_root)) == 1


def test_upload_broken_off_midway(waiting, storage_root):
    class Broken(io.RawIOBase):
        """The client goes away after the first 64 KiB."""

        def __init__(self) -> None:
            self.sent = 0

        def read(self, n: int = -1) -> bytes:
            if self.sent:
                raise OSError("client disconnected")
            self.sent = 1
            return PDF + b"\n%" + b"x" * 65536

    before = snapshot(storage_root)
    upload = Upload(b"", "form.pdf")
    upload.stream = Broken()
    with pytest.raises(OSError, match="disconnected"):
        _upload(waiting, upload)
    assert snapshot(storage_root) == before


def test_database_failing_after_the_file_is_stored_removes_the_file(waiting, storage_root):
    before = snapshot(storage_root)
    with failing("dgaaccounts_document"), pytest.raises(DBAPIError, match="injected failure"):
        _upload(waiting, Upload(PDF, "form.pdf"))
    assert snapshot(storage_root) == before  # no request points to it, and it is gone
    with failing("dgaaccounts_audit"), pytest.raises(DBAPIError, match="injected failure"):
        _upload(waiting, Upload(PDF, "form.pdf"))
    assert snapshot(storage_root) == before


def test_a_scan_lost_by_the_storage_is_not_found_not_a_server_error(app, storage_root):
    factories.Organization(name="dga")
    factories.Sysadmin(name="f_root", password="Fault-Passw0rd-1")
    req = agency_request("f_lost", "f_lost@dga.or.th", document=PDF)
    doc = model.Session.query(Document).filter(Document.request_id == req["id"]).one()
    os.remove(storage.get_store().path(doc.storage_key))
    from ckanext.dgaaccounts.tests.security.conftest import sign_in

    root = sign_in(app, "f_root", "Fault-Passw0rd-1")
    assert root.get(f"/dgaaccounts/request/{req['id']}/document/{doc.id}").status_code == 404
    assert root.get(f"/ckan-admin/dgaaccounts/request/{req['id']}").status_code == 200


# -- a worker killed while sending ------------------------------------------------------------

class Slow(Mailbox):
    """An SMTP server that takes its time to accept a message; it keeps only messages whose
    sender was still connected to hear that they were accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.delay = 60.0
        self.entered = threading.Event()
        self.dropped = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.entered.set()
        try:
            waited = 0.0
            while waited < self.delay:
                await asyncio.sleep(0.05)
                waited += 0.05
        except asyncio.CancelledError:  # aiosmtpd cancels the handler when the client goes
            self.dropped += 1
            raise
        return await super().handle_DATA(server, session, envelope)


def test_a_worker_killed_while_sending_loses_nothing(request, tmp_path, ckan_config,
                                                     monkeypatch):
    from aiosmtpd.controller import Controller

    box = Slow()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    request.addfinalizer(controller.stop)
    monkeypatch.setitem(ckan_config, "smtp.server", f"127.0.0.1:{port}")

    # A developer signs up: the verification email waits in the outbox, a job in Redis.
    result = helpers.call_action(
        "dgaaccounts_developer_register", context=as_user(""), name="f_dev",
        fullname="F Dev", email="f_dev@example.com", password="Dev-Passw0rd-42")
    ini = server_ini(os.path.abspath(request.config.option.ckan_ini), str(tmp_path / "w.ini"),
                     **{"smtp.server": f"127.0.0.1:{port}"})
    worker = start_ckan(ini, "jobs", "worker", log_path=str(tmp_path / "worker.log"))
    request.addfinalizer(lambda: stop(worker, signal.SIGKILL))
    assert box.entered.wait(60), (tmp_path / "worker.log").read_text()[-3000:]
    stop(worker, signal.SIGKILL)  # the worker and its work horse, mid-sentence
    assert worker.returncode == -signal.SIGKILL

    # Nothing was delivered, and the attempt left nothing: its transaction died with it.
    wait_until(lambda: box.dropped == 1, 10, "the server to see the sender gone")
    assert box.messages == []

    def unlocked() -> bool:
        with model.meta.engine.connect() as conn:
            try:
                conn.execute(sa.text("SET lock_timeout = '50ms'"))
                conn.execute(sa.text("SELECT 1 FROM dgaaccounts_outbox FOR UPDATE"))
                return True
            except DBAPIError:
                return False

    wait_until(unlocked, 10, "PostgreSQL to end the killed worker's transaction")
    model.Session.remove()
    [row] = model.Session.query(OutboxMessage).all()
    assert (row.state, row.attempts, row.sent) == ("pending", 0, None)

    # The sweep (cron's `ckan dgaaccounts outbox flush`, its own process) delivers it, once.
    box.delay = 0
    sweep = subprocess.run([ckan_command(), "-c", ini, "dgaaccounts", "outbox", "flush"],
                           capture_output=True, text=True, timeout=120, check=False)
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    assert "sent: 1" in sweep.stdout
    assert mail.deliver_due() == 0  # and nothing is left to send again
    assert len(box.to("f_dev@example.com")) == 1
    # Whatever the killed attempt had minted, only the delivered link works.
    usable = model.Session.query(Token).filter(
        Token.request_id == result["request_id"], Token.used.is_(None)).count()
    assert usable == 1
    verified = helpers.call_action("dgaaccounts_email_verify", context=as_user(""),
                                   token=box.link("f_dev@example.com"))
    assert verified["request_id"] == result["request_id"]
    assert verified["api_token"]
    model.Session.remove()
    assert model.Session.query(OutboxMessage).filter(
        OutboxMessage.template == "verify_developer").one().attempts == 1

