"""`ckan dgaaccounts outbox show|flush`: the extension's command group in the test's app, and
once through CKAN's own `ckan` command (its wiring)."""
from __future__ import annotations

import datetime
import re

import pytest

import ckan.model as model
from ckan.cli.cli import ckan
from ckan.tests import helpers

from ckanext.dgaaccounts.model import OutboxMessage, utcnow
from ckanext.dgaaccounts.tests.conftest import dga_cli, free_port, registration

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    # with_extended_cli: CKAN's `ckan` command uses the test's config (the smtp fixture's port)
    # instead of reading test.ini again.
    pytest.mark.usefixtures("with_plugins", "clean_db", "with_request_context",
                            "with_extended_cli"),
]

EMAIL = registration()["email"]


def run(cli, *args: str):
    result = dga_cli(cli, *args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def _outbox() -> list[OutboxMessage]:
    model.Session.expire_all()
    return model.Session.query(OutboxMessage).order_by(OutboxMessage.id).all()


@pytest.mark.parametrize(("args", "expected"), [
    ([], ["Operate the account workflows", "outbox"]),
    (["outbox"], ["The email outbox.", "flush", "show"]),
    (["outbox", "show"], ["Count messages by state and list those not yet sent."]),
    (["outbox", "flush"], ["Deliver every message that is due now"]),
    (["outbox", "retry-failed"], ["Put the messages that ran out of attempts back"]),
], ids=["dgaaccounts", "outbox", "show", "flush", "retry-failed"])
def test_help(cli, args, expected):
    output = run(cli, *args, "--help")
    assert output.startswith("Usage: ")
    for text in expected:
        assert text in output


def test_dgaaccounts_is_listed_in_ckan_help(cli):
    result = cli.invoke(ckan, ["--help"])
    assert result.exit_code == 0
    assert re.search(r"^\s+dgaaccounts\s", result.output, re.M)


def test_the_group_runs_through_ckans_own_command(cli, smtp):
    """The whole path an operator takes: `ckan dgaaccounts ...` builds CKAN's app from the
    config and finds the extension's commands through IClick."""
    helpers.call_action("dgaaccounts_agency_register", **registration())
    result = cli.invoke(ckan, ["dgaaccounts", "outbox", "flush"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.output == "sent: 1\n"
    assert len(smtp.to(EMAIL)) == 1


def test_show_on_an_empty_outbox_prints_nothing(cli):
    assert run(cli, "outbox", "show") == ""


def test_show_counts_by_state_and_lists_unsent_messages(cli):
    helpers.call_action("dgaaccounts_agency_register", **registration())
    [msg] = _outbox()

    output = run(cli, "outbox", "show")

    lines = output.splitlines()
    assert lines[0] == "pending: 1"
    assert re.fullmatch(
        rf"#{msg.id} pending verify_agency to {re.escape(EMAIL)} attempts=0 "
        r"next=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", lines[1])
    assert len(lines) == 2


def test_flush_delivers_pending_mail(cli, smtp):
    helpers.call_action("dgaaccounts_agency_register", **registration())

    output = run(cli, "outbox", "flush")

    assert output == "sent: 1\n"
    [msg] = smtp.to(EMAIL)
    assert "/dgaaccounts/verify/" in smtp.body(msg)
    [row] = _outbox()
    assert row.state == "sent"
    assert run(cli, "outbox", "show") == "sent: 1\n"
    assert run(cli, "outbox", "flush") == "sent: 0\n"
    assert len(smtp.messages) == 1


def test_flush_with_smtp_down_reports_what_is_left_then_show_lists_the_error(
        cli, smtp, ckan_config, monkeypatch):
    helpers.call_action("dgaaccounts_agency_register", **registration())
    monkeypatch.setitem(ckan_config, "smtp.server", f"127.0.0.1:{free_port()}")

    assert run(cli, "outbox", "flush") == "sent: 0\nstill pending: 1\n"

    lines = run(cli, "outbox", "show").splitlines()
    assert lines[0] == "pending: 1"
    assert " attempts=1 " in lines[1]
    assert "Connection" in lines[1]  # the last error
    assert smtp.messages == []


def test_flush_after_an_outage_delivers_what_is_due(cli, smtp, ckan_config, monkeypatch):
    helpers.call_action("dgaaccounts_agency_register", **registration())
    monkeypatch.setitem(ckan_config, "smtp.server", f"127.0.0.1:{free_port()}")
    run(cli, "outbox", "flush")
    monkeypatch.setitem(ckan_config, "smtp.server", f"127.0.0.1:{smtp.port}")

    # Not due yet: the retry waits for its backoff.
    assert run(cli, "outbox", "flush") == "sent: 0\nstill pending: 1\n"
    model.Session.query(OutboxMessage).update(
        {"next_attempt": utcnow() - datetime.timedelta(seconds=1)})
    model.Session.commit()

    assert run(cli, "outbox", "flush") == "sent: 1\n"
    assert len(smtp.to(EMAIL)) == 1


def test_show_lists_failed_messages(cli, smtp, ckan_config, monkeypatch):
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.outbox_max_attempts", 1)
    monkeypatch.setitem(ckan_config, "smtp.server", f"127.0.0.1:{free_port()}")
    helpers.call_action("dgaaccounts_agency_register", **registration())
    run(cli, "outbox", "flush")

    lines = run(cli, "outbox", "show").splitlines()
    assert lines[0] == "failed: 1"
    assert lines[1].startswith(f"#{_outbox()[0].id} failed verify_agency to {EMAIL} attempts=1 ")


def test_retry_failed_sends_what_ran_out_of_attempts_once(cli, smtp, ckan_config, monkeypatch):
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.outbox_max_attempts", 1)
    monkeypatch.setitem(ckan_config, "smtp.server", f"127.0.0.1:{free_port()}")
    helpers.call_action("dgaaccounts_agency_register", **registration())
    run(cli, "outbox", "flush")
    assert [m.state for m in _outbox()] == ["failed"]
    assert run(cli, "outbox", "flush") == "sent: 0\n"  # failed stays failed

    monkeypatch.setitem(ckan_config, "smtp.server", f"127.0.0.1:{smtp.port}")
    assert run(cli, "outbox", "retry-failed") == "queued again: 1\nsent: 1\n"
    assert run(cli, "outbox", "retry-failed") == "queued again: 0\nsent: 0\n"
    assert len(smtp.to(EMAIL)) == 1
    assert "/dgaaccounts/verify/" in smtp.body(smtp.to(EMAIL)[0])
