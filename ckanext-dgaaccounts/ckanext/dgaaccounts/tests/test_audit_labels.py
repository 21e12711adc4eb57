"""Everything the audit trail records has a label for people: every event the code can audit,
every state it records, the details' known keys and values (the audit page, the request
history). The names are collected from the source, so a new ``workflow.audit("...")`` without
a label makes a test fail."""
from __future__ import annotations

import pathlib
import re

import pytest

from ckanext.dgaaccounts import auditlog, escalation, reminders, workflow

PACKAGE = pathlib.Path(workflow.__file__).parent
SOURCES = [p for p in PACKAGE.rglob("*.py") if "tests" not in p.parts]
# workflow.audit("name", ...) and identity's _audit("name", ...)
LITERAL = re.compile(r'(?<!\w)_?audit\(\s*"([a-z_]+)"')
# The calls that pass a variable, and where its values come from.
VARIABLE = re.compile(r'(?<!\w)_?audit\(\s*([A-Za-z_][A-Za-z_.]*)\s*,')
VARIABLE_SOURCES = {
    "event": sorted({e for events in workflow.TRANSITIONS.values() for e in events}),
    "action": [reminders.DUE_SOON, reminders.OVERDUE],
    "ACTION": [escalation.ACTION],
}
STATE_ARG = re.compile(r'\b(?:from|to)_state="([a-z_]+)"')


def _source() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in SOURCES)


def audited_events() -> list[str]:
    text = _source()
    found = set(LITERAL.findall(text))
    for name in VARIABLE.findall(text):
        assert name in VARIABLE_SOURCES, f"audit({name}, ...): say where its values come from"
        found.update(VARIABLE_SOURCES[name])
    return sorted(found)


def audited_states() -> list[str]:
    return sorted(set(workflow.STATES) | {workflow.SUSPENDED, workflow.ACTIVE}
                  | set(STATE_ARG.findall(_source())))


def test_the_collection_finds_the_known_events():
    events = audited_events()
    for name in ("api_token_create", "token_usage_purge", "oidc_refused", "identity_linked",
                 "escalate", "reminder_overdue", "approve", "reactivate", "purge_document"):
        assert name in events


@pytest.fixture
def marked(monkeypatch):
    """Translated strings marked, so that a label is told from its identifier in English too
    ("approved" is the state and its label)."""
    monkeypatch.setattr(workflow.tk, "_", lambda text: f"«{text}»")


@pytest.mark.usefixtures("marked")
@pytest.mark.parametrize("event", audited_events())
def test_every_audited_event_has_a_label(event):
    assert workflow.event_label(event) != event


@pytest.mark.usefixtures("marked")
@pytest.mark.parametrize("state", audited_states())
def test_every_audited_state_has_a_label(state):
    assert workflow.state_label(state) != state


@pytest.mark.usefixtures("marked")
@pytest.mark.parametrize("role", ["member", "editor", "admin"])
def test_every_role_has_a_label(role):
    assert workflow.role_label(role) != role


@pytest.mark.usefixtures("with_request_context")
class TestShownDetails:
    def test_known_keys_and_values_are_labelled(self):
        shown = dict(auditlog.shown_details({
            "with_document": False, "by": "organization_admin", "reason": "no_admin",
            "kind": "suspension", "role": "editor", "to": "delegated"}))
        assert shown == {
            "Signed form sent with the sign-up": "no",
            "Decided as": "organization admin",
            "Reason": "the organization has no active admin to decide",
            "Kind": "Account suspension",
            "Role": "Editor",
            "To": "delegated (the organization's admins decide)",
        }

    def test_unknown_keys_and_values_are_shown_as_they_are(self):
        assert auditlog.shown_details({"zz_new": "raw_value", "reason": "new_code",
                                       "count": 3, "empty": None}) == [
            ("count", "3"), ("empty", "–"), ("Reason", "new_code"), ("zz_new", "raw_value")]

    def test_secrets_are_never_shown(self):
        shown = auditlog.shown_details({"token": "s3cret", "password": "pw", "via": "link"})
        assert shown == [("Via", "the emailed link")]
        assert "s3cret" not in str(shown)

    def test_times_are_written_for_people(self):
        (label, value), = auditlog.shown_details({"due": "2026-02-02T09:00:00"})
        assert label == "Due"
        assert "2026" in value
        assert "T09" not in value
