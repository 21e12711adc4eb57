"""Escalation: a request left too long without a decision goes to the sysadmins.

A submitted request escalates when ``escalation_percent`` (default 80) of its service time has
passed without a decision (``submitted + share * (due - submitted)``; with ``office_hours``,
earlier if that would leave the sysadmins less than ``escalation_lead_minutes`` of their opening
hours before the due time: officehours.py), or at once when its
organization decides with the portal (mode ``endorse`` or ``delegated``) but has no active
organization admin with an email address to do so. Escalating emails every active sysadmin in
their language, flags the request in the queue and records ``escalate`` in the audit trail.

Once per request and submission: the row of ``dgaaccounts_escalation`` is keyed by the request
and the start of its service clock, and written with ``INSERT ... ON CONFLICT DO NOTHING``, so
two runs at once (cron on two hosts, the CLI beside the web) cannot both escalate it; only the
run that wrote the row audits and emails. A corrected resubmission starts a new clock, which
may escalate again. Developer sign-ups are left out: no person decides them.

``dgaaccounts_requests_escalate`` (sysadmin action) runs it; ``ckan dgaaccounts escalate`` calls
that action from cron, every minute, so that no escalation comes more than a minute late.
"""
from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

import ckan.model as model

from . import config, mail, officehours, workflow
from .model import Escalation, Request, utcnow

ACTION = "escalate"
THRESHOLD = "threshold"
NO_ADMIN = "no_admin"
TEMPLATE = "escalated"
KINDS = tuple(k for k in workflow.KINDS if k != workflow.DEVELOPER)


def threshold_of(req: Request, office: officehours.Office | None = None,
                 ) -> datetime.datetime | None:
    """When ``req``'s current submission escalates for lack of a decision: ``escalation_percent``
    of its service time, or earlier to leave the sysadmins time in their ``office_hours``."""
    if req.submitted is None or req.due is None:
        return None
    plain = req.submitted + (req.due - req.submitted) * config.escalation_share()
    return officehours.escalation_moment(plain, req.submitted, req.due,
                                         office if office is not None else officehours.office())


def _threshold() -> Any:
    return Request.submitted + (Request.due - Request.submitted) * config.escalation_share()


def _not_escalated() -> Any:
    return ~sa.exists().where(Escalation.request_id == Request.id,
                              Escalation.clock_start == Request.submitted)


def _has_active_admin() -> Any:
    return sa.exists().where(
        model.Member.group_id == Request.organization_id, model.Member.table_name == "user",
        model.Member.state == "active", model.Member.capacity == "admin",
        model.Member.table_id == model.User.id, model.User.state == "active",
        model.User.email.isnot(None), model.User.email != "")


def _waiting() -> Any:
    return model.Session.query(Request).filter(
        Request.state == workflow.SUBMITTED, Request.kind.in_(KINDS),
        Request.submitted.isnot(None), Request.due.isnot(None), _not_escalated())


def due(now: datetime.datetime | None = None) -> list[tuple[Request, str, datetime.datetime]]:
    """The requests to escalate now, each with its reason and threshold, the earliest first."""
    now = now or utcnow()
    found: dict[str, tuple[Request, str, datetime.datetime]] = {}
    orphans = _waiting().filter(Request.organization_id.isnot(None), ~_has_active_admin()).all()
    acting = organizations_that_decide({r.organization_id for r in orphans})
    for req in orphans:
        if req.organization_id in acting:
            found[req.id] = (req, NO_ADMIN, req.submitted)
    office = officehours.office()
    waiting = _waiting().order_by(Request.due, Request.id)
    if office is None:  # the plain threshold: the database picks the requests
        waiting = waiting.filter(_threshold() <= now)
    else:  # brought forward by office hours: only ever earlier, never before submission
        waiting = waiting.filter(Request.submitted <= now)
    for req in waiting:
        threshold = threshold_of(req, office)
        if req.id not in found and threshold is not None and threshold <= now:
            found[req.id] = (req, THRESHOLD, threshold)
    return sorted(found.values(), key=lambda item: (item[2], item[0].id))


def organizations_that_decide(organization_ids: Iterable[str]) -> set[str]:
    """Those of ``organization_ids`` whose admins take part in decisions (mode ``endorse`` or
    ``delegated``): in ``central`` nobody there is waited for."""
    ids = set(organization_ids)
    if not ids:
        return set()
    from . import approval

    return {org_id for org_id, mode in approval.modes_for(ids).items() if mode != "central"}


def escalate(now: datetime.datetime | None = None, dry_run: bool = False,
             actor_id: str | None = None) -> list[dict[str, Any]]:
    """Escalate what is due (see the module's docstring). Each request is escalated, audited and
    its emails queued in a transaction of its own. Returns the requests escalated by this run
    (with ``dry_run``: those that would be), each as ``id``, ``reference``, ``kind``,
    ``organization_id``, ``reason``, ``threshold``, ``escalated``."""
    now = now or utcnow()
    found = due(now)
    items = [_item(req, reason, threshold, now) for req, reason, threshold in found]
    if dry_run:
        model.Session.rollback()
        return items
    done = []
    for item in items:
        if _escalate_one(item, now, actor_id):
            done.append(item)
    if done:
        mail.dispatch()
    return done


def _item(req: Request, reason: str, threshold: datetime.datetime,
          now: datetime.datetime) -> dict[str, Any]:
    return {"id": req.id, "reference": req.reference, "kind": req.kind,
            "organization_id": req.organization_id, "reason": reason,
            "clock_start": req.submitted, "due": req.due, "threshold": threshold,
            "escalated": now}


def _escalate_one(item: dict[str, Any], now: datetime.datetime, actor_id: str | None) -> bool:
    # Still waiting on the same submission? (A decision under way holds the row: skip it; if it
    # does not decide, the next run escalates.)
    req = (
        model.Session.query(Request)
        .filter(Request.id == item["id"], Request.state == workflow.SUBMITTED,
                Request.submitted == item["clock_start"])
        .with_for_update(skip_locked=True).populate_existing().one_or_none()
    )
    written = req is not None and model.Session.execute(
        insert(Escalation).values(
            request_id=item["id"], clock_start=item["clock_start"], threshold=item["threshold"],
            escalated=now, reason=item["reason"], organization_id=item["organization_id"],
        ).on_conflict_do_nothing().returning(Escalation.request_id)
    ).first() is not None
    if req is None or not written:  # decided meanwhile, or another run escalated it first
        model.Session.rollback()
        return False
    workflow.audit(ACTION, actor_id, req, details={
        "reason": item["reason"], "threshold": item["threshold"].isoformat(),
        "due": item["due"].isoformat()})
    mail.queue_to_sysadmins(req, TEMPLATE, params={"reason": item["reason"]})
    model.Session.commit()
    return True


def escalated_at(request_ids: Iterable[str]) -> dict[str, datetime.datetime]:
    """When each of the requests' current submission was escalated (absent: not escalated)."""
    ids = list(request_ids)
    if not ids:
        return {}
    rows = model.Session.query(Escalation.request_id, Escalation.escalated).join(
        Request, sa.and_(Request.id == Escalation.request_id,
                         Request.submitted == Escalation.clock_start),
    ).filter(Escalation.request_id.in_(ids))
    return {request_id: when for request_id, when in rows}
