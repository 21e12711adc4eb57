"""The request state machine: every (kind, event, source state), what each event does to the
account, and concurrent decisions.

The legal transitions and their effects below are written out from the states the README
documents (its "The agency officer workflow", "Developer sign-up" and "Closing or suspending an
account" sections), not read from ``workflow.TRANSITIONS``, so a change to the table that the
design does not call for makes a test fail.
"""
from __future__ import annotations

import datetime
import threading
import uuid
from typing import Any

import pytest

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.tests import factories

from ckanext.dgaaccounts import effects, workflow
from ckanext.dgaaccounts.model import AuditEvent, OutboxMessage, Request, utcnow
from ckanext.dgaaccounts.tests.conftest import reuse

AGENCY, DEVELOPER = "agency_registration", "developer_registration"
CANCELLATION, SUSPENSION = "cancellation", "suspension"
KINDS = (AGENCY, DEVELOPER, CANCELLATION, SUSPENSION)

AV, AD, SUB, RET = "awaiting_verification", "awaiting_document", "submitted", "returned"
APPROVED, REJECTED, WITHDRAWN, EXPIRED = "approved", "rejected", "withdrawn", "expired"
OPEN = (AV, AD, SUB, RET)
STATES = OPEN + (APPROVED, REJECTED, WITHDRAWN, EXPIRED)

EVENTS = (
    "verify_email", "verify_email_with_document", "upload_document",
    "approve", "reject", "return", "withdraw", "expire", "reject_spam",
    # The organization's answer in the "endorse" approval mode (README "Approval modes").
    "endorse", "decline",
)
ENDORSEMENTS = {"endorse": "endorsed", "decline": "declined"}

# (event) -> (sources, target, emails as (template, recipient)) for the document workflows:
# agency registration, cancellation and suspension. "approvers": who acts first under the
# organization's approval mode; the sysadmins for a request without an organization, as here.
_DOCUMENT_FLOW: dict[str, tuple[tuple[str, ...], str, tuple[tuple[str, str], ...]]] = {
    # The applicant gets the link to their request (status page, uploads) once verified.
    "verify_email": ((AV,), AD, (("verified_agency", "applicant"),)),
    "verify_email_with_document": (
        (AV,), SUB, (("submitted", "applicant"), ("new_request", "approvers"))),
    "upload_document": (
        (AD, RET), SUB, (("submitted", "applicant"), ("new_request", "approvers"))),
    # The request stays submitted for the sysadmins' decision; they are told of the answer.
    "endorse": ((SUB,), SUB, (("endorsed", "sysadmins"),)),
    "decline": ((SUB,), SUB, (("declined", "sysadmins"),)),
    "approve": ((SUB,), APPROVED, (("approved", "applicant"),)),
    "reject": ((SUB,), REJECTED, (("rejected", "applicant"),)),
    "return": ((SUB,), RET, (("returned", "applicant"),)),
    "withdraw": (OPEN, WITHDRAWN, (("withdrawn", "applicant"),)),
    "expire": (OPEN, EXPIRED, ()),
    # A sign-up never verified, closed by a sysadmin as spam: nobody is emailed (issue 12).
    "reject_spam": ((AV,), REJECTED, ()),
}
# Cancellation and suspension: asked by a signed-in user, so no email to verify; they start
# awaiting the signed form.
_ACCOUNT_FLOW = {k: v for k, v in _DOCUMENT_FLOW.items()
                 if not k.startswith("verify_email") and k != "reject_spam"}
_ACCOUNT_FLOW["withdraw"] = ((AD, SUB, RET), WITHDRAWN, (("withdrawn", "applicant"),))
_ACCOUNT_FLOW["expire"] = ((AD, SUB, RET), EXPIRED, ())
LEGAL = {
    AGENCY: _DOCUMENT_FLOW,
    CANCELLATION: _ACCOUNT_FLOW,
    SUSPENSION: _ACCOUNT_FLOW,
    # Developers: the verified email is the approval.
    DEVELOPER: {
        "verify_email": ((AV,), APPROVED, (("developer_welcome", "applicant"),)),
        "withdraw": ((AV,), WITHDRAWN, ()),
        "expire": ((AV,), EXPIRED, ()),
        "reject_spam": ((AV,), REJECTED, ()),
    },
}

# What each event does beyond the request, to the applicant's account (and membership); any
# other event leaves the account as it was.
EFFECTS = {
    (AGENCY, "approve"): "officer",  # active, a member of the chosen organization with its role
    (DEVELOPER, "verify_email"): "active",  # the verified email is the approval
    (CANCELLATION, "approve"): "cancelled",  # deleted, signed out, no API tokens, no memberships
    (SUSPENSION, "approve"): "suspended",  # blocked, signed out, no API tokens, memberships kept
    # A refused or withdrawn applicant keeps no account (the email can be used again).
    (AGENCY, "reject"): "closed",
    (AGENCY, "withdraw"): "closed",
    (DEVELOPER, "withdraw"): "closed",
    # A sign-up rejected as spam before it confirmed its address: the same (issue 12).
    (AGENCY, "reject_spam"): "closed",
    (DEVELOPER, "reject_spam"): "closed",
    # A registration never finished goes, with its pending account (the audit trail keeps it).
    (AGENCY, "expire"): "removed",
    (DEVELOPER, "expire"): "removed",
}

ALL = [(kind, event, state) for kind in KINDS for event in EVENTS for state in STATES]
LEGAL_CASES = [c for c in ALL if c[2] in LEGAL[c[0]].get(c[1], ((),))[0]]
ILLEGAL_CASES = [c for c in ALL if c not in LEGAL_CASES]
DECISIONS = ("approve", "reject", "return", "reject_spam")  # a sysadmin decided: recorded
SERVICE_HOURS = 7  # not the default 24: the due time must come from the configuration


def _case_id(case: tuple[str, str, str]) -> str:
    kind, event, state = case
    return f"{kind}-{event}-from-{state}"


pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.ckan_config("ckanext.dgaaccounts.service_hours", SERVICE_HOURS),
]


class People:
    def __init__(self) -> None:
        self.applicant = factories.User(email="applicant@dga.or.th")
        self.admin = factories.Sysadmin(email="admin1@dga.or.th")
        self.other_admin = factories.Sysadmin(email="admin2@dga.or.th")
        self.org = factories.Organization()
        self.other_org = factories.Organization()


@pytest.fixture
def people(request, world_cache) -> People:
    """A clean database once per module, and the users its tests share.

    The transitions only touch the rows each test makes, so one reset serves the 256 cases, and
    ``workflow`` is called directly: no test here needs the plugin loaded (``with_plugins`` costs
    more than the test), except the reset itself.
    """
    return reuse(request, world_cache, "people", People,
                 lambda found: model.User.get(found.applicant["id"]) is not None)


def make_request(people: People, kind: str, state: str, applicant: str | None = None) -> Request:
    """A request row in ``state``, with earlier timestamps set as a real one would have them
    (an agency registration names the organization the applicant chose), of the shared
    applicant or of ``applicant`` (a user id)."""
    now = utcnow()
    earlier = now - datetime.timedelta(hours=3)
    submitted = now - datetime.timedelta(hours=2)
    reached_submission = state not in (AV, AD)
    decided = state in (APPROVED, REJECTED, RET)
    if kind in (CANCELLATION, SUSPENSION):
        # One open account request per user (a unique index): retire the earlier tests' rows.
        model.Session.query(Request).filter(
            Request.user_id == people.applicant["id"], Request.kind.in_((CANCELLATION, SUSPENSION)),
        ).update({"state": "withdrawn"}, synchronize_session=False)
    req = Request(
        reference=f"T-{uuid.uuid4().hex}",
        kind=kind,
        state=state,
        user_id=applicant or people.applicant["id"],
        organization_id=people.org["id"] if kind == AGENCY else None,
        email=f"{uuid.uuid4().hex}@dga.or.th",
        details={},
        locale="en",
        created=earlier,
        updated=earlier,
        verified=earlier if state != AV else None,
        submitted=submitted if reached_submission else None,
        due=submitted + datetime.timedelta(hours=24) if reached_submission else None,
        decided=now - datetime.timedelta(hours=1) if decided else None,
        decided_by=people.other_admin["id"] if decided else None,
        decision_note="earlier decision" if decided else None,
    )
    model.Session.add(req)
    model.Session.commit()
    return req


def _row(request_id: str) -> dict[str, Any] | None:
    model.Session.expire_all()
    req = model.Session.get(Request, request_id)
    return req.as_dict() if req is not None else None


def make_applicant(people: People, kind: str) -> str:
    """A new applicant as a request of ``kind`` finds it: a registration's account pending; an
    account that asks for its cancellation or suspension active, with an API token and a
    membership. Returns the user id."""
    user = factories.User(email=f"{uuid.uuid4().hex}@dga.or.th")
    row = model.Session.get(model.User, user["id"])
    if kind in (AGENCY, DEVELOPER):
        row.state = "pending"
    else:
        model.Session.add(model.ApiToken(user_id=row.id, name="a script"))
        model.Session.add(model.Member(
            group=model.Session.get(model.Group, people.other_org["id"]), table_name="user",
            table_id=row.id, capacity="editor", state="active"))
    model.Session.commit()
    return row.id


def _account(user_id: str) -> dict[str, Any] | None:
    """What the effects may change of an account; None once it is gone."""
    model.Session.expire_all()
    user = model.Session.get(model.User, user_id)
    if user is None:
        return None
    extras = (user.plugin_extras or {}).get("dgaaccounts") or {}
    return {
        "state": user.state,
        "suspended": bool(extras.get("suspended")),
        "epoch": int(extras.get("epoch", 0)),
        "api_tokens": model.Session.query(model.ApiToken).filter(
            model.ApiToken.user_id == user_id).count(),
        "memberships": sorted(
            (m.group_id, m.capacity) for m in model.Session.query(model.Member).filter(
                model.Member.table_name == "user", model.Member.table_id == user_id,
                model.Member.state == "active")),
    }


def _expected_account(people: People, effect: str | None,
                      before: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The account after an event with ``effect`` (EFFECTS), and what the event's audit records
    beside the note."""
    after = dict(before)
    if effect == "officer":
        after.update(state="active", memberships=[(people.org["id"], "editor")])
        return after, {"organization_id": people.org["id"], "role": "editor"}
    if effect == "active":
        after["state"] = "active"
    elif effect == "cancelled":
        after.update(state="deleted", epoch=before["epoch"] + 1, api_tokens=0, memberships=[])
        return after, {"api_tokens_revoked": 1, "memberships_removed": 1}
    elif effect == "suspended":
        after.update(state="pending", suspended=True, epoch=before["epoch"] + 1, api_tokens=0)
        return after, {"api_tokens_revoked": 1}
    elif effect == "closed":
        after["state"] = "deleted"
    return after, {}


def _audit(request_id: str) -> list[AuditEvent]:
    return (model.Session.query(AuditEvent).filter(AuditEvent.request_id == request_id)
            .order_by(AuditEvent.id).all())


def _outbox(request_id: str) -> list[OutboxMessage]:
    return (model.Session.query(OutboxMessage).filter(OutboxMessage.request_id == request_id)
            .order_by(OutboxMessage.id).all())


def _sysadmin_emails() -> set[str]:
    return {
        u.email for u in model.Session.query(model.User).filter(
            model.User.sysadmin.is_(True), model.User.state == "active")
        if u.email
    }


def _at(iso: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(iso) if iso else None


def test_the_case_lists_cover_every_combination():
    assert len(ALL) == len(KINDS) * len(EVENTS) * len(STATES) == 352
    assert len(LEGAL_CASES) == 18 + 2 * 13 + 4
    assert set(workflow.KINDS) == set(KINDS)
    assert set(workflow.STATES) == set(STATES)
    assert set(workflow.OPEN_STATES) == set(OPEN)
    assert {e for events in workflow.TRANSITIONS.values() for e in events} == set(EVENTS)


@pytest.mark.parametrize("case", LEGAL_CASES, ids=_case_id)
def test_legal_transition_applies_with_timestamps_audit_and_mail(people, case):
    kind, event, source = case
    _sources, target, mails = LEGAL[kind][event]
    applicant = make_applicant(people, kind)
    req = make_request(people, kind, source, applicant)
    request_id, reference = req.id, req.reference
    before = _row(req.id)
    account_before = _account(applicant)
    actor = people.admin["id"]
    start = utcnow()

    applied = workflow.transition(req, event, actor, note="a note")
    model.Session.commit()

    end = utcnow()
    effect = EFFECTS.get((kind, event))
    if effect == "removed":
        assert _row(request_id) is None
        assert _account(applicant) is None
        [audit] = _audit(request_id)
        assert (audit.action, audit.actor_id, audit.from_state, audit.to_state) == (
            event, actor, source, target)
        assert audit.target_user_id == applicant
        assert audit.details == {"note": "a note", "reference": reference}
        assert applied.files == []
        assert _outbox(request_id) == []
        return
    account_after, effect_details = _expected_account(people, effect, account_before)
    assert _account(applicant) == account_after
    assert applied.details == effect_details
    after = _row(req.id)
    assert after["state"] == target
    assert start <= _at(after["updated"]) <= end

    if target == SUB and event not in ENDORSEMENTS:
        submitted = _at(after["submitted"])
        assert start <= submitted <= end
        assert _at(after["due"]) == submitted + datetime.timedelta(hours=SERVICE_HOURS)
    else:
        assert (after["submitted"], after["due"]) == (before["submitted"], before["due"])

    # A decision, and a developer's verification, which is the approval of the request.
    if event in DECISIONS or target == APPROVED:
        assert start <= _at(after["decided"]) <= end
        assert after["decided_by"] == actor
        assert after["decision_note"] == "a note"
    else:
        assert (after["decided"], after["decided_by"], after["decision_note"]) == (
            before["decided"], before["decided_by"], before["decision_note"])

    if event.startswith("verify_email"):
        assert start <= _at(after["verified"]) <= end
    else:
        assert after["verified"] == before["verified"]

    if event in ENDORSEMENTS:
        assert after["endorsement"] == ENDORSEMENTS[event]
        assert start <= _at(after["endorsed"]) <= end
        assert (after["endorsed_by"], after["endorsement_note"]) == (actor, "a note")
    else:
        assert after["endorsement"] is None

    if effect == "officer":
        assert after["organization_id"] == people.org["id"]

    [audit] = _audit(req.id)
    assert (audit.action, audit.actor_id, audit.from_state, audit.to_state) == (
        event, actor, source, target)
    assert audit.target_user_id == applicant
    assert audit.details == {"note": "a note", **effect_details}

    sent = sorted((m.template, m.recipient) for m in _outbox(req.id))
    expected = []
    for template, recipient in mails:
        if recipient == "applicant":
            expected.append((template, model.Session.get(model.User, applicant).email))
        else:  # "sysadmins", or "approvers" of a request in the "central" mode
            expected.extend((template, email) for email in _sysadmin_emails())
    assert sent == sorted(expected)
    assert {"admin1@dga.or.th", "admin2@dga.or.th"} <= _sysadmin_emails()


@pytest.mark.parametrize("case", ILLEGAL_CASES, ids=_case_id)
def test_illegal_transition_is_refused_and_changes_nothing(people, case):
    kind, event, source = case
    req = make_request(people, kind, source)
    request_id = req.id
    before = _row(request_id)

    account_before = _account(people.applicant["id"])
    with pytest.raises(tk.ValidationError) as error:
        workflow.transition(req, event, people.admin["id"], note="a note")
    assert list(error.value.error_dict) == ["state"]

    model.Session.commit()  # whatever the failed call left in the session would land now
    assert _row(request_id) == before
    assert _account(people.applicant["id"]) == account_before
    assert _audit(request_id) == []
    assert _outbox(request_id) == []


def test_unknown_event_is_refused(people):
    req = make_request(people, AGENCY, SUB)
    with pytest.raises(tk.ValidationError) as error:
        workflow.transition(req, "activate", people.admin["id"])
    assert "state" in error.value.error_dict
    assert _row(req.id)["state"] == SUB


def test_every_effect_of_the_table_has_its_function():
    named = {name for events in workflow.TRANSITIONS.values() for ev in events.values()
             for name in ev.effects}
    assert named <= set(effects.EFFECTS)
    # Each (kind, event) with an effect in EFFECTS above has one in the table, and no other.
    assert {(kind, name) for kind, events in workflow.TRANSITIONS.items()
            for name, ev in events.items() if ev.effects} == set(EFFECTS)


def test_an_approval_records_the_organization_and_role_the_sysadmin_chose(people):
    applicant = make_applicant(people, AGENCY)
    req = make_request(people, AGENCY, SUB, applicant)
    workflow.transition(req, "approve", people.admin["id"], details={
        "organization_id": people.other_org["id"], "role": "admin"})
    model.Session.commit()
    assert _account(applicant)["memberships"] == [(people.other_org["id"], "admin")]
    assert _row(req.id)["organization_id"] == people.other_org["id"]
    [audit] = _audit(req.id)
    assert audit.details == {"organization_id": people.other_org["id"], "role": "admin"}


def test_an_approval_without_an_organization_joins_none(people):
    applicant = make_applicant(people, AGENCY)
    req = make_request(people, AGENCY, SUB, applicant)
    req.organization_id = None
    model.Session.commit()
    workflow.transition(req, "approve", people.admin["id"])
    model.Session.commit()
    assert _account(applicant)["state"] == "active"
    assert _account(applicant)["memberships"] == []


def test_an_effect_that_fails_leaves_nothing_of_the_event(people, monkeypatch):
    """The effects run inside the transition: one failing (here, after the account changed)
    and the caller's rollback undo the state, the other effects, the audit and the emails."""
    applicant = make_applicant(people, AGENCY)
    req = make_request(people, AGENCY, SUB, applicant)
    request_id = req.id
    before, account_before = _row(request_id), _account(applicant)

    def broken(req: Request, applied: effects.Applied) -> None:
        raise RuntimeError("the membership could not be written")

    monkeypatch.setitem(effects.EFFECTS, "join_organization", broken)
    with pytest.raises(RuntimeError):
        workflow.transition(req, "approve", people.admin["id"])
    model.Session.rollback()
    assert _row(request_id) == before
    assert _account(applicant) == account_before
    assert _audit(request_id) == []
    assert _outbox(request_id) == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("state", STATES)
def test_allowed_events_lists_exactly_the_legal_ones(kind, state):
    req = Request(kind=kind, state=state)  # not saved: allowed_events reads kind and state only
    expected = sorted(e for e in EVENTS if (kind, e, state) in LEGAL_CASES)
    assert sorted(workflow.allowed_events(req)) == expected


# -- concurrent decisions -------------------------------------------------------------------

def _race(request_id: str, decisions: list[tuple[str, str]]) -> list[Any]:
    """Each decision (event, actor id) in its own thread and database session, at once.

    Both threads read the request while it is submitted (so both pass ``workflow.check``)
    before either writes: only the conditional UPDATE can stop the second.
    """
    barrier = threading.Barrier(len(decisions))
    results: list[Any] = [None] * len(decisions)

    def decide(i: int, event: str, actor_id: str) -> None:
        try:
            req = model.Session.get(Request, request_id)  # this thread's own session
            assert req.state == SUB
            barrier.wait(timeout=10)
            workflow.transition(req, event, actor_id, note=f"by {actor_id}")
            model.Session.commit()
            results[i] = "ok"
        except tk.ValidationError as exc:
            model.Session.rollback()
            results[i] = exc
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            model.Session.rollback()
            results[i] = exc
        finally:
            model.Session.remove()

    threads = [threading.Thread(target=decide, args=(i, event, actor))
               for i, (event, actor) in enumerate(decisions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive(), "a decision hung (deadlock?)"
    return results


@pytest.mark.parametrize("round_", range(10))
def test_two_concurrent_approvals_apply_exactly_once(people, round_):
    applicant = make_applicant(people, AGENCY)
    req = make_request(people, AGENCY, SUB, applicant)
    request_id = req.id
    model.Session.remove()  # the main thread holds no connection or snapshot during the race

    results = _race(request_id, [("approve", people.admin["id"]),
                                 ("approve", people.other_admin["id"])])

    assert results.count("ok") == 1, results
    [winner] = [i for i, r in enumerate(results) if r == "ok"]
    [loser] = [r for r in results if r != "ok"]
    assert isinstance(loser, tk.ValidationError), loser
    assert "state" in loser.error_dict
    row = _row(request_id)
    winner_id = (people.admin["id"], people.other_admin["id"])[winner]
    assert row["state"] == APPROVED
    assert row["decided_by"] == winner_id
    assert row["decision_note"] == f"by {winner_id}"
    assert [e.action for e in _audit(request_id)] == ["approve"]
    assert [m.template for m in _outbox(request_id)] == ["approved"]
    # The effects applied once too: one membership, the account active.
    assert _account(applicant)["state"] == "active"
    assert _account(applicant)["memberships"] == [(people.org["id"], "editor")]


def test_concurrent_approve_and_reject_apply_exactly_one(people):
    for _ in range(5):
        applicant = make_applicant(people, AGENCY)
        req = make_request(people, AGENCY, SUB, applicant)
        request_id = req.id
        model.Session.remove()

        results = _race(request_id, [("approve", people.admin["id"]),
                                     ("reject", people.other_admin["id"])])

        assert results.count("ok") == 1, results
        loser = next(r for r in results if r != "ok")
        assert isinstance(loser, tk.ValidationError), loser
        won = ("approve", "reject")[results.index("ok")]
        row = _row(request_id)
        assert row["state"] == {"approve": APPROVED, "reject": REJECTED}[won]
        assert [e.action for e in _audit(request_id)] == [won]
        assert [m.template for m in _outbox(request_id)] == [
            {"approve": "approved", "reject": "rejected"}[won]]
        # Only the winner's effect: an active officer, or no account left.
        assert _account(applicant)["state"] == {"approve": "active", "reject": "deleted"}[won]


# -- the organization's answer (approval mode "endorse") -------------------------------------

@pytest.mark.parametrize("first", ["endorse", "decline"])
@pytest.mark.parametrize("second", ["endorse", "decline"])
def test_the_organization_answers_once_per_submission(people, first, second):
    req = make_request(people, AGENCY, SUB)
    workflow.transition(req, first, people.admin["id"], note="first")
    model.Session.commit()
    before = _row(req.id)
    assert "endorse" not in workflow.allowed_events(model.Session.get(Request, req.id))

    with pytest.raises(tk.ValidationError) as error:
        workflow.transition(model.Session.get(Request, req.id), second, people.other_admin["id"])
    assert list(error.value.error_dict) == ["state"]
    model.Session.commit()
    assert _row(req.id) == before
    assert [e.action for e in _audit(req.id)] == [first]
    # The sysadmins decide as before, from the same state.
    assert {"approve", "reject", "return"} <= set(
        workflow.allowed_events(model.Session.get(Request, req.id)))


def test_a_new_submission_clears_the_answer_and_restarts_the_clock(people):
    req = make_request(people, AGENCY, SUB)
    workflow.transition(req, "decline", people.admin["id"], note="not ours")
    workflow.transition(model.Session.get(Request, req.id), "return", people.other_admin["id"],
                        note="sign again")
    model.Session.commit()
    assert _row(req.id)["endorsement"] == "declined"  # kept while returned: the history
    workflow.transition(model.Session.get(Request, req.id), "upload_document",
                        people.applicant["id"])
    model.Session.commit()
    after = _row(req.id)
    assert (after["state"], after["endorsement"], after["endorsed"], after["endorsed_by"],
            after["endorsement_note"]) == (SUB, None, None, None, None)
    assert "endorse" in workflow.allowed_events(model.Session.get(Request, req.id))


def test_two_concurrent_answers_apply_exactly_one(people):
    for _ in range(5):
        req = make_request(people, AGENCY, SUB)
        request_id = req.id
        model.Session.remove()

        results = _race(request_id, [("endorse", people.admin["id"]),
                                     ("decline", people.other_admin["id"])])

        assert results.count("ok") == 1, results
        loser = next(r for r in results if r != "ok")
        assert isinstance(loser, tk.ValidationError), loser
        won = ("endorse", "decline")[results.index("ok")]
        row = _row(request_id)
        assert (row["state"], row["endorsement"]) == (SUB, ENDORSEMENTS[won])
        assert [e.action for e in _audit(request_id)] == [won]
        assert [m.template for m in _outbox(request_id)] == [
            ENDORSEMENTS[won]] * len(_sysadmin_emails())


# -- who is told of a new request: the approvers of the organization's mode ------------------

def _org_request(people: People, org_id: str | None, kind: str = AGENCY) -> Request:
    req = make_request(people, kind, AD)
    req.organization_id = org_id
    model.Session.commit()
    return req


@pytest.fixture
def agency(people):
    """An organization with two admins (one reading Thai, one English) and an editor."""
    from ckanext.dgaaccounts import approval

    suffix = uuid.uuid4().hex[:8]
    th = factories.User(email=f"th-{suffix}@dga.or.th",
                        plugin_extras={"dgaaccounts": {"locale": "th"}})
    en = factories.User(email=f"en-{suffix}@dga.or.th",
                        plugin_extras={"dgaaccounts": {"locale": "en"}})
    editor = factories.User(email=f"ed-{suffix}@dga.or.th")
    org = factories.Organization(users=[{"name": th["name"], "capacity": "admin"},
                                        {"name": en["name"], "capacity": "admin"},
                                        {"name": editor["name"], "capacity": "editor"}])
    yield {"org": org, "th": th, "en": en, "editor": editor}
    approval.set_mode(org["id"], None, None)
    model.Session.commit()


@pytest.mark.parametrize("mode", ["endorse", "delegated"])
def test_a_new_request_goes_to_the_organization_admins_in_their_language(people, agency, mode):
    from ckanext.dgaaccounts import approval

    approval.set_mode(agency["org"]["id"], mode, None)
    req = _org_request(people, agency["org"]["id"])
    workflow.transition(req, "upload_document", people.applicant["id"])
    model.Session.commit()

    told = {(m.template, m.recipient, m.locale) for m in _outbox(req.id)}
    assert told == {
        ("submitted", people.applicant["email"], "en"),
        ("org_new_request", agency["th"]["email"], "th"),
        ("org_new_request", agency["en"]["email"], "en"),
    }
    [message] = [m for m in _outbox(req.id) if m.recipient == agency["en"]["email"]]
    assert message.params["mode"] == mode
    assert message.params["review_path"] == (
        f"/organization/requests/{agency['org']['name']}/{req.id}")


def test_in_central_mode_the_sysadmins_are_told_as_before(people, agency):
    req = _org_request(people, agency["org"]["id"])
    workflow.transition(req, "upload_document", people.applicant["id"])
    model.Session.commit()
    told = {(m.template, m.recipient) for m in _outbox(req.id) if m.template != "submitted"}
    assert told == {("new_request", email) for email in _sysadmin_emails()}


def test_without_an_active_admin_the_sysadmins_are_told(people, agency):
    from ckanext.dgaaccounts import approval

    approval.set_mode(agency["org"]["id"], "delegated", None)
    for key in ("th", "en"):
        model.User.get(agency[key]["id"]).state = "deleted"
    req = _org_request(people, agency["org"]["id"])
    workflow.transition(req, "upload_document", people.applicant["id"])
    model.Session.commit()
    told = {(m.template, m.recipient) for m in _outbox(req.id) if m.template != "submitted"}
    assert told == {("new_request", email) for email in _sysadmin_emails()}
