"""The request state machine: every legal transition, and everything it does, in one place.

``TRANSITIONS`` says, per kind of request and per event, from which states the event may happen,
the state it leads to, the emails it queues and its effects on the account and the organization
(``effects.py``). Actions call :func:`transition`; it changes the state with a conditional UPDATE
(so two sysadmins deciding at once cannot both win), runs the effects, writes the audit event and
queues the emails, all in the caller's transaction. Nothing else in the extension assigns
``Request.state``. A new event is a new entry in the table (and, if it changes something new,
one new function in ``effects.py``).
"""
from __future__ import annotations

import dataclasses
import datetime
from typing import TYPE_CHECKING, Any, cast

from flask import request
from sqlalchemy import update

import ckan.model as model
from ckan.plugins import toolkit as tk

from . import approval, config, effects, mail
from .model import AuditEvent, Request, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult

# The kinds and states (states.py), here too for the modules that read them from the workflow
# ("name as name": re-exported, for the type checker).
from .states import (  # noqa: E402,F401
    ACCOUNT_CHANGES as ACCOUNT_CHANGES, ACTIVE as ACTIVE, AGENCY as AGENCY, APPROVED as APPROVED,
    AWAITING_DOCUMENT as AWAITING_DOCUMENT, AWAITING_VERIFICATION as AWAITING_VERIFICATION,
    CANCELLATION as CANCELLATION, CLOSED_STATES as CLOSED_STATES, DECIDED_STATES as DECIDED_STATES,
    DEVELOPER as DEVELOPER, EXPIRED as EXPIRED, KINDS as KINDS, OPEN_STATES as OPEN_STATES,
    REGISTRATIONS as REGISTRATIONS, REJECTED as REJECTED, RETURNED as RETURNED, STATES as STATES,
    SUBMITTED as SUBMITTED, SUSPENDED as SUSPENDED, SUSPENSION as SUSPENSION,
    WITHDRAWN as WITHDRAWN,
)

# The organization's answer in the "endorse" approval mode (Request.endorsement); not a state:
# the request stays submitted for the sysadmins' decision.
ENDORSED = "endorsed"
DECLINED = "declined"

# The service clock of each kind (config.service_time): the state in which it runs and the
# column it starts from. A developer's target covers the sign-up up to the verified account; the
# other kinds' covers the sysadmins' decision on a submitted form (reset by each resubmission).
CLOCK_STATES = {
    AGENCY: (SUBMITTED,),
    CANCELLATION: (SUBMITTED,),
    SUSPENSION: (SUBMITTED,),
    DEVELOPER: (AWAITING_VERIFICATION,),
}
CLOCK_START = {AGENCY: "submitted", CANCELLATION: "submitted", SUSPENSION: "submitted",
               DEVELOPER: "created"}


@dataclasses.dataclass(frozen=True)
class Event:
    """Everything an event does: from which states, to which state, the emails it queues and
    what else it changes (``effects``: names in ``effects.EFFECTS``, run in this order)."""

    sources: tuple[str, ...]
    target: str
    # Emails: (template, recipient) with recipient "applicant", "sysadmins" or "approvers"
    # (who acts first under the organization's approval mode: approval.first_deciders).
    mails: tuple[tuple[str, str], ...] = ()
    effects: tuple[str, ...] = ()
    # An answer of the organization's admins in the "endorse" mode (approval.py): recorded on
    # the request's row once per submission (the conditional UPDATE's guard), not an effect.
    endorsement: str | None = None


# Agency registrations.
_DOCUMENT_FLOW = {
    "verify_email": Event(
        (AWAITING_VERIFICATION,), AWAITING_DOCUMENT, (("verified_agency", "applicant"),)),
    "verify_email_with_document": Event(
        (AWAITING_VERIFICATION,), SUBMITTED,
        (("submitted", "applicant"), ("new_request", "approvers")),
    ),
    "upload_document": Event(
        (AWAITING_DOCUMENT, RETURNED), SUBMITTED,
        (("submitted", "applicant"), ("new_request", "approvers")),
    ),
    # The organization's admins answer first (approval mode "endorse"); sysadmins then decide.
    "endorse": Event((SUBMITTED,), SUBMITTED, (("endorsed", "sysadmins"),),
                     endorsement=ENDORSED),
    "decline": Event((SUBMITTED,), SUBMITTED, (("declined", "sysadmins"),),
                     endorsement=DECLINED),
    "approve": Event((SUBMITTED,), APPROVED, (("approved", "applicant"),),
                     effects=("activate_account", "join_organization")),
    "reject": Event((SUBMITTED,), REJECTED, (("rejected", "applicant"),),
                    effects=("close_pending_account",)),
    # A sign-up that never confirmed its address, closed by a sysadmin as spam: no email (the
    # address may not be the sender's), the pending account removed.
    "reject_spam": Event((AWAITING_VERIFICATION,), REJECTED,
                         effects=("close_pending_account",)),
    "return": Event((SUBMITTED,), RETURNED, (("returned", "applicant"),)),
    "withdraw": Event(OPEN_STATES, WITHDRAWN, (("withdrawn", "applicant"),),
                      effects=("close_pending_account",)),
    "expire": Event(OPEN_STATES, EXPIRED, effects=("remove_registration",)),
}

# Cancellation and suspension: asked by a signed-in user, so there is no email to verify, and
# refusing or dropping the request leaves the account as it is; approving it changes the account.
_ACCOUNT_FLOW = {
    "upload_document": _DOCUMENT_FLOW["upload_document"],
    "endorse": _DOCUMENT_FLOW["endorse"],
    "decline": _DOCUMENT_FLOW["decline"],
    "return": _DOCUMENT_FLOW["return"],
    "reject": Event((SUBMITTED,), REJECTED, (("rejected", "applicant"),)),
    "withdraw": Event((AWAITING_DOCUMENT, SUBMITTED, RETURNED), WITHDRAWN,
                      (("withdrawn", "applicant"),)),
    "expire": Event((AWAITING_DOCUMENT, SUBMITTED, RETURNED), EXPIRED),
}

TRANSITIONS: dict[str, dict[str, Event]] = {
    AGENCY: _DOCUMENT_FLOW,
    CANCELLATION: {**_ACCOUNT_FLOW, "approve": Event(
        (SUBMITTED,), APPROVED, (("approved", "applicant"),), effects=("cancel_account",))},
    SUSPENSION: {**_ACCOUNT_FLOW, "approve": Event(
        (SUBMITTED,), APPROVED, (("approved", "applicant"),), effects=("suspend_account",))},
    DEVELOPER: {
        "verify_email": Event(
            (AWAITING_VERIFICATION,), APPROVED, (("developer_welcome", "applicant"),),
            effects=("activate_account",)),
        "withdraw": Event((AWAITING_VERIFICATION,), WITHDRAWN,
                          effects=("close_pending_account",)),
        "expire": Event((AWAITING_VERIFICATION,), EXPIRED, effects=("remove_registration",)),
        "reject_spam": _DOCUMENT_FLOW["reject_spam"],
    },
}


# The action that fires each event from outside (its auth function says who may call it);
# the others happen otherwise: verification with the emailed token, expiry by housekeeping.
ACTIONS = {
    "upload_document": "dgaaccounts_request_document_upload",
    "approve": "dgaaccounts_request_approve",
    "reject": "dgaaccounts_request_reject",
    "return": "dgaaccounts_request_return",
    "withdraw": "dgaaccounts_request_withdraw",
    "endorse": "dgaaccounts_request_endorse",
    "decline": "dgaaccounts_request_decline",
    "reject_spam": "dgaaccounts_request_reject_spam",
}
# Decisions (and the organization's answers): never on one's own request.
DECISIONS = ("approve", "reject", "return", "endorse", "decline")


def allowed_events(req: Request) -> list[str]:
    """Events that may happen to the request in its current state (whoever fires them)."""
    return [name for name, ev in TRANSITIONS[req.kind].items()
            if req.state in ev.sources and not (ev.endorsement and req.endorsement)]


def check(req: Request, event: str) -> Event:
    """The event, if it may happen to ``req`` now; otherwise ``ValidationError`` (409)."""
    ev = TRANSITIONS[req.kind].get(event)
    if ev is None or req.state not in ev.sources:
        raise tk.ValidationError({"state": [_not_now_message(req)]})
    if ev.endorsement and req.endorsement:
        model.Session.rollback()
        raise tk.ValidationError({"state": [tk._(
            "The organization has already answered this request.")]})
    return ev


def transition(
    req: Request,
    event: str,
    actor_id: str | None,
    *,
    note: str | None = None,
    details: dict[str, Any] | None = None,
) -> effects.Applied:
    """Apply ``event`` to ``req`` or raise ``ValidationError`` (409) if it is not legal now.

    In the caller's transaction, in this order: the request's row (a conditional UPDATE), the
    event's effects, the audit event (``details`` and what the effects add), the emails. The
    caller commits, then deletes the returned ``files`` from the store. The UPDATE only matches
    while the row is still in a source state, so a concurrent decision on the same request makes
    this one fail instead of applying twice.
    """
    ev = check(req, event)
    now = utcnow()
    values: dict[str, Any] = {"state": ev.target, "updated": now}
    if ev.target == SUBMITTED and not ev.endorsement:
        # A new submission: its clock starts again, and the agency looks at it afresh.
        values.update(submitted=now, due=now + config.service_time(req.kind), endorsement=None,
                      endorsed=None, endorsed_by=None, endorsement_note=None)
    if ev.endorsement:
        values.update(endorsement=ev.endorsement, endorsed=now, endorsed_by=actor_id,
                      endorsement_note=note)
    if ev.target in (APPROVED, REJECTED) or event == "return":
        values.update(decided=now, decided_by=actor_id, decision_note=note)
    if event.startswith("verify_email"):
        values["verified"] = now
    guard = [Request.endorsement.is_(None)] if ev.endorsement else []
    # An UPDATE's result is a CursorResult (SQLAlchemy types Session.execute's as Result).
    result = cast("CursorResult[Any]", model.Session.execute(
        update(Request)
        .where(Request.id == req.id, Request.state.in_(ev.sources), *guard)
        .values(**values)
        .execution_options(synchronize_session=False)
    ))
    if result.rowcount != 1:  # nothing was changed: the caller rolls back or goes on
        raise tk.ValidationError(
            {"state": [tk._("This request has just been changed by someone else.")]})
    previous = req.state
    model.Session.expire(req)
    applied = effects.Applied(details=dict(details or {}))
    for name in ev.effects:
        effects.EFFECTS[name](req, applied)
    audit(event, actor_id, req, from_state=previous, to_state=ev.target, details=applied.details,
          note=note)
    for template, recipient in ev.mails:
        if recipient == "applicant":
            mail.queue_to_applicant(req, template, note=note)
        elif recipient == "approvers":
            _queue_to_approvers(req, template)
        else:
            mail.queue_to_sysadmins(req, template)
    return applied


def _queue_to_approvers(req: Request, template: str) -> None:
    """A new request goes to who acts on it first under its organization's approval mode:
    the organization's admins (``org_`` + template), or the sysadmins as always."""
    role, admins = approval.first_deciders(req)
    if role == approval.SYSADMIN:
        mail.queue_to_sysadmins(req, template)
        return
    org = model.Session.get(model.Group, req.organization_id)
    assert org is not None  # its admins were just found
    for admin in admins:
        assert admin.email  # first_deciders keeps admins with an address
        mail.queue(req, "org_" + template, admin.email,
                   recipient_name=admin.fullname or admin.name, locale=mail.user_locale(admin),
                   params={"mode": approval.mode_for(req.organization_id),
                           "organization": org.title or org.name,
                           "review_path": f"/organization/requests/{org.name}/{req.id}"})


def audit(
    action: str,
    actor_id: str | None,
    req: Request | None = None,
    *,
    target_user_id: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    details: dict[str, Any] | None = None,
    note: str | None = None,
) -> AuditEvent:
    """Append an audit event to the current transaction."""
    data = dict(details or {})
    if note:
        data["note"] = note
    event = AuditEvent(
        action=action,
        actor_id=actor_id,
        request_id=req.id if req is not None else None,
        target_user_id=target_user_id or (req.user_id if req is not None else None),
        from_state=from_state,
        to_state=to_state,
        details=data,
        client_addr=client_addr(),
    )
    model.Session.add(event)
    return event


def client_addr() -> str | None:
    # The audit trail records the client of a web or API call; CLI and jobs have none.
    # remote_addr is what the WSGI server saw; a deployment behind a proxy sets it with ProxyFix.
    try:
        return request.remote_addr
    except RuntimeError:
        return None


def _not_now_message(req: Request) -> str:
    return tk._("This cannot be done while the request is %(state)s.") % {
        "state": state_label(req.state)
    }


def state_label(state: str) -> str:
    labels = {
        AWAITING_VERIFICATION: tk._("awaiting email verification"),
        AWAITING_DOCUMENT: tk._("awaiting the signed form"),
        SUBMITTED: tk._("submitted for review"),
        RETURNED: tk._("returned for correction"),
        APPROVED: tk._("approved"),
        REJECTED: tk._("rejected"),
        WITHDRAWN: tk._("withdrawn"),
        EXPIRED: tk._("expired"),
        SUSPENDED: tk._("suspended"),
        ACTIVE: tk._("active"),
    }
    return labels.get(state, state)


def event_label(action: str) -> str:
    labels = {
        "register": tk._("Registered"),
        "verify_email": tk._("Email confirmed"),
        "verify_email_with_document": tk._("Email confirmed, signed form already sent"),
        "verification_resend": tk._("Verification email sent again"),
        "upload_document": tk._("Signed form uploaded"),
        "approve": tk._("Approved"),
        "reject": tk._("Rejected"),
        "reject_spam": tk._("Rejected as spam"),
        "endorse": tk._("Endorsed by the organization"),
        "decline": tk._("Declined by the organization"),
        "approval_mode_set": tk._("Approval mode changed"),
        "return": tk._("Returned for correction"),
        "withdraw": tk._("Withdrawn by the applicant"),
        "expire": tk._("Expired"),
        "request_create": tk._("Request made"),
        "reactivate": tk._("Account reactivated"),
        "scrub": tk._("Personal details erased"),
        "reminder_due_soon": tk._("Sysadmins reminded: due soon"),
        "reminder_overdue": tk._("Sysadmins reminded: overdue"),
        "escalate": tk._("Escalated to the sysadmins"),
        "purge_document": tk._("Scan deleted at the end of its retention period"),
        "oidc_sign_in": tk._("Signed in with a digital identity"),
        "oidc_refused": tk._("Digital identity sign-in refused"),
        "oidc_no_account": tk._("Digital identity without an account"),
        "identity_linked": tk._("Digital identity linked"),
        "identity_unlinked": tk._("Digital identity unlinked"),
        "api_token_create": tk._("API token created"),
        "api_token_renew": tk._("API token renewed"),
        "api_token_revoke_all": tk._("All API tokens revoked"),
        "api_token_overlap_revoke": tk._("Renewed API token's old token revoked"),
        "api_token_reminder": tk._("API token expiry reminder sent"),
        "token_tier_set": tk._("API usage tier changed"),
        "token_tier_assign": tk._("API usage tier assigned"),
        "token_usage_purge": tk._("Old API usage records deleted"),
    }
    return labels.get(action, action)


def role_label(role: str) -> str:
    """A role in an organization, for people (pages; the emails' own templates say it too)."""
    labels = {
        "member": tk._("Member"),
        "editor": tk._("Editor"),
        "admin": tk._("Admin"),
    }
    return labels.get(role, role)


def kind_label(kind: str) -> str:
    labels = {
        AGENCY: tk._("Agency officer registration"),
        DEVELOPER: tk._("Developer registration"),
        CANCELLATION: tk._("Account cancellation"),
        SUSPENSION: tk._("Account suspension"),
    }
    return labels.get(kind, kind)


def is_overdue(req: Request, now: datetime.datetime | None = None) -> bool:
    return req.state == SUBMITTED and req.due is not None and req.due < (now or utcnow())


def needs_confirmation(kind: str, event: str) -> bool:
    """Decisions that cannot be taken back, which the web page asks to confirm: a rejection,
    and approving a cancellation (the account is deleted) or a suspension (signed out, tokens
    revoked)."""
    return event in ("reject", "reject_spam") or (
        event == "approve" and kind in (CANCELLATION, SUSPENSION))
