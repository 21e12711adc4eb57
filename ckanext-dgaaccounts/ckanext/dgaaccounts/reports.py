"""Service figures: does the portal keep its promises (config.service_time per kind)?

Definitions, used by ``dgaaccounts_sla_report``, the dashboard and ``ckan dgaaccounts report``:

* **time to decision**: ``decided - submitted`` (for developers ``decided - created``: the
  verified, usable account is their decision). Only decided requests count: approved or
  rejected, decided within the range. A request returned for correction and submitted again is
  measured from its last submission, as its due time is.
* **within target**: ``decided <= due``. Developers have no stored due time: theirs is
  ``created + developer_service_minutes``.
* **percentiles**: PostgreSQL's ``percentile_cont``, i.e. linear interpolation between closest
  ranks. With the ``n`` times sorted as ``x[0] <= ... <= x[n-1]``, the ``p`` percentile
  (``0 <= p <= 1``) sits at position ``r = p * (n - 1)``; with ``i = floor(r)`` it is
  ``x[i] + (r - i) * (x[i+1] - x[i])``. The median is ``p = 0.5`` (the mean of the two middle
  values when ``n`` is even); for ``1h, 2h, 3h, 4h, 10h`` the 90th percentile is
  ``4h + 0.6 * 6h = 7.6h``. No decision: no percentile (``None``).
* **open**: in an open state now; **awaiting decision**: in the state where the service clock
  runs (submitted; for developers, awaiting verification); **overdue**: awaiting decision past
  the due time. These three are a snapshot at ``now``, whatever the range.
* **weeks and months** follow the portal's time zone (``ckan.display_timezone``): weeks start on
  Monday; ``since`` and ``until`` are calendar days there, both included.

The aggregation runs in PostgreSQL (``percentile_cont``, ``date_trunc``, ``FILTER``): the cost
follows the number of kinds and periods, not of requests (the range uses the ``decided`` index).
"""
from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

import sqlalchemy as sa

import ckan.model as model

from . import approval, config, workflow
from .model import AuditEvent, Escalation, Request, utcnow

PERIODS = ("week", "month")
PERCENTILES = (0.5, 0.9)


def local_bounds(since: datetime.date, until: datetime.date,
                 tz: str) -> tuple[datetime.datetime, datetime.datetime]:
    """Naive UTC ``[start, end)`` of the calendar days ``since`` to ``until`` (both included)
    in the time zone ``tz``."""
    zone = zoneinfo.ZoneInfo(tz)

    def utc(day: datetime.date) -> datetime.datetime:
        local = datetime.datetime.combine(day, datetime.time(), tzinfo=zone)
        return local.astimezone(datetime.timezone.utc).replace(tzinfo=None)

    return utc(since), utc(until + datetime.timedelta(days=1))


def time_filter(column: Any, since: Any = None, until: Any = None) -> list[Any]:
    """Conditions on ``column`` (naive UTC) for an API range: a day (``datetime.date``) is a
    calendar day in the portal's time zone and covers the whole day; a time
    (``datetime.datetime``, naive UTC) is exact. Both ends are included."""
    tz = config.report_timezone()
    conditions = []
    if isinstance(since, datetime.datetime):
        conditions.append(column >= since)
    elif isinstance(since, datetime.date):
        conditions.append(column >= local_bounds(since, since, tz)[0])
    if isinstance(until, datetime.datetime):
        conditions.append(column <= until)
    elif isinstance(until, datetime.date):
        conditions.append(column < local_bounds(until, until, tz)[1])
    return conditions


def default_range(period: str, today: datetime.date | None = None
                  ) -> tuple[datetime.date, datetime.date]:
    """The last twelve weeks or months, this one included, up to today (portal time)."""
    if today is None:
        zone = zoneinfo.ZoneInfo(config.report_timezone())
        today = datetime.datetime.now(zone).date()
    if period == "week":
        return today - datetime.timedelta(days=today.weekday() + 7 * 11), today
    month = today.year * 12 + today.month - 1 - 11
    return datetime.date(month // 12, month % 12 + 1, 1), today


def period_starts(since: datetime.date, until: datetime.date, period: str) -> list[datetime.date]:
    """The first day of each week (Monday) or month that meets ``[since, until]``."""
    if period == "week":
        day = since - datetime.timedelta(days=since.weekday())
        step = datetime.timedelta(days=7)
        starts = []
        while day <= until:
            starts.append(day)
            day += step
        return starts
    day = since.replace(day=1)
    starts = []
    while day <= until:
        starts.append(day)
        day = (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return starts


def service_targets() -> dict[str, datetime.timedelta]:
    return {kind: config.service_time(kind) for kind in workflow.KINDS}


def clock_start() -> sa.sql.ColumnElement[Any]:
    return sa.case(
        *[(Request.kind == kind, getattr(Request, column))
          for kind, column in workflow.CLOCK_START.items()],
        else_=Request.submitted,
    )


def due(targets: dict[str, datetime.timedelta]) -> sa.sql.ColumnElement[Any]:
    """The stored due time, else the clock's start plus the kind's target (developers)."""
    target = sa.case(
        *[(Request.kind == kind, sa.literal(value, sa.Interval())) for kind, value in
          targets.items()],
    )
    return sa.func.coalesce(Request.due, clock_start() + target)


def _decision_aggregates(
        targets: dict[str, datetime.timedelta]) -> list[sa.sql.ColumnElement[Any]]:
    start = clock_start()
    seconds = sa.func.extract("epoch", Request.decided - start)
    within = Request.decided <= due(targets)
    columns: list[sa.sql.ColumnElement[Any]] = [
        sa.func.count().label("decided"),
        sa.func.count().filter(within).label("within_target"),
    ]
    for p in PERCENTILES:
        columns.append(sa.func.percentile_cont(p).within_group(seconds).label(f"p{int(p * 100)}"))
    return columns


def _decided_filter(start: datetime.datetime, end: datetime.datetime) -> list[Any]:
    return [
        Request.state.in_(workflow.DECIDED_STATES),
        Request.decided >= start,
        Request.decided < end,
        clock_start().isnot(None),
    ]


def _figures(row: Any) -> dict[str, Any]:
    decided = int(row.decided or 0) if row is not None else 0
    within = int(row.within_target or 0) if row is not None else 0
    return {
        "decided": decided,
        "within_target": within,
        "within_target_share": (within / decided) if decided else None,
        "median_seconds": float(row.p50) if row is not None and row.p50 is not None else None,
        "p90_seconds": float(row.p90) if row is not None and row.p90 is not None else None,
    }


def sla_report(
    since: datetime.date,
    until: datetime.date,
    period: str = "week",
    kinds: tuple[str, ...] | None = None,
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """The service figures per kind over ``[since, until]`` and per week or month (see the
    module's docstring for the definitions)."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}")
    kinds = tuple(kinds or workflow.KINDS)
    now = now or utcnow()
    tz = config.report_timezone()
    start, end = local_bounds(since, until, tz)
    targets = service_targets()
    session = model.Session

    # Snapshot: open, awaiting decision and overdue requests, per kind.
    running = sa.or_(*[
        sa.and_(Request.kind == kind, Request.state.in_(states))
        for kind, states in workflow.CLOCK_STATES.items()
    ])
    snapshot = {
        row.kind: row for row in session.query(
            Request.kind,
            sa.func.count().label("open"),
            sa.func.count().filter(running).label("awaiting_decision"),
            sa.func.count().filter(sa.and_(running, due(targets) < now)).label("overdue"),
        ).filter(Request.state.in_(workflow.OPEN_STATES), Request.kind.in_(kinds))
        .group_by(Request.kind)
    }

    totals = {
        row.kind: row for row in session.query(Request.kind, *_decision_aggregates(targets))
        .filter(*_decided_filter(start, end), Request.kind.in_(kinds))
        .group_by(Request.kind)
    }

    local = sa.func.timezone(tz, sa.func.timezone("UTC", Request.decided))
    bucket = sa.func.date_trunc(period, local).label("bucket")
    per_period: dict[tuple[str, datetime.date], Any] = {}
    for row in (
        session.query(Request.kind, bucket, *_decision_aggregates(targets))
        .filter(*_decided_filter(start, end), Request.kind.in_(kinds))
        .group_by(Request.kind, bucket)
    ):
        per_period[(row.kind, row.bucket.date())] = row

    starts = period_starts(since, until, period)
    results = []
    for kind in kinds:
        snap = snapshot.get(kind)
        item: dict[str, Any] = {
            "kind": kind,
            "target_seconds": targets[kind].total_seconds(),
            "open": int(snap.open) if snap is not None else 0,
            "awaiting_decision": int(snap.awaiting_decision) if snap is not None else 0,
            "overdue": int(snap.overdue) if snap is not None else 0,
        }
        item.update(_figures(totals.get(kind)))
        item["periods"] = [
            dict(start=day.isoformat(), **_figures(per_period.get((kind, day))))
            for day in starts
        ]
        results.append(item)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "period": period,
        "timezone": tz,
        "generated": now.isoformat(),
        "kinds": results,
        "organizations": organization_figures(start, end, now, targets, kinds),
    }


# -- per organization ------------------------------------------------------------------------

# Events that are no one's action on the request (the clock's and housekeeping's).
NOT_ACTIONS = ("escalate", "reminder_due_soon", "reminder_overdue", "purge_document", "scrub",
               "upload_document", "withdraw", "expire")
DECIDED_BY_PEOPLE = tuple(k for k in workflow.KINDS if k != workflow.DEVELOPER)


def first_action() -> sa.sql.ColumnElement[Any]:
    """When someone other than the applicant first acted on the request's current submission
    (an endorsement, a return, a decision), from the audit trail; else its decision."""
    acted = (
        sa.select(sa.func.min(AuditEvent.created))
        .where(AuditEvent.request_id == Request.id, AuditEvent.created >= Request.submitted,
               AuditEvent.actor_id.isnot(None), AuditEvent.actor_id != Request.user_id,
               AuditEvent.action.notin_(NOT_ACTIONS))
        .correlate(Request).scalar_subquery()
    )
    return sa.func.coalesce(acted, Request.decided)


def organization_figures(start: datetime.datetime, end: datetime.datetime,
                         now: datetime.datetime, targets: dict[str, datetime.timedelta],
                         kinds: tuple[str, ...] = DECIDED_BY_PEOPLE) -> list[dict[str, Any]]:
    """Per organization (``Request.organization_id``: for an agency registration the organization
    asked for or granted; for a cancellation or a suspension the applicant's organization when
    they were a member of exactly one, see ``approval.organization_for_account``; the row with
    ``organization_id`` None holds the requests with no organization), the requests decided by
    people in ``[start, end)``: ``decided``, ``within_target`` and its share, the median time to
    the first action and the median and 90th percentile time to decision (seconds), the
    ``escalations`` of the range, and ``awaiting_decision`` and ``overdue`` now. Organizations
    with nothing in any column are left out; the busiest come first. Each has its
    ``approval_mode`` (approval.py)."""
    kinds = tuple(k for k in kinds if k in DECIDED_BY_PEOPLE)
    session = model.Session
    org = Request.organization_id
    seconds = sa.func.extract("epoch", Request.decided - Request.submitted)
    to_first = sa.func.extract("epoch", first_action() - Request.submitted)
    decided = {
        row.organization_id: row for row in session.query(
            org.label("organization_id"), sa.func.count().label("decided"),
            sa.func.count().filter(Request.decided <= due(targets)).label("within_target"),
            sa.func.percentile_cont(0.5).within_group(to_first).label("first_p50"),
            sa.func.percentile_cont(0.5).within_group(seconds).label("p50"),
            sa.func.percentile_cont(0.9).within_group(seconds).label("p90"),
        ).filter(*_decided_filter(start, end), Request.kind.in_(kinds)).group_by(org)
    }
    waiting = {
        row.organization_id: row for row in session.query(
            org.label("organization_id"), sa.func.count().label("awaiting"),
            sa.func.count().filter(Request.due < now).label("overdue"),
        ).filter(Request.state == workflow.SUBMITTED, Request.kind.in_(kinds)).group_by(org)
    }
    escalations: dict[str | None, int] = {org_id: n for org_id, n in (
        session.query(Escalation.organization_id, sa.func.count())
        .join(Request, Request.id == Escalation.request_id)
        .filter(Escalation.escalated >= start, Escalation.escalated < end,
                Request.kind.in_(kinds))
        .group_by(Escalation.organization_id).all())}
    ids = set(decided) | set(waiting) | set(escalations)
    groups: dict[str | None, model.Group] = {g.id: g for g in session.query(model.Group).filter(
        model.Group.id.in_([i for i in ids if i]))}
    modes = approval.modes_for(i for i in ids if i)
    results: list[dict[str, Any]] = []
    for org_id in ids:
        row, now_row, group = decided.get(org_id), waiting.get(org_id), groups.get(org_id)
        count = int(row.decided) if row is not None else 0
        within = int(row.within_target) if row is not None else 0

        def number(value: Any) -> float | None:
            return float(value) if value is not None else None

        results.append({
            "organization_id": org_id,
            "name": group.name if group is not None else None,
            "title": (group.title or group.name) if group is not None else None,
            "approval_mode": modes.get(org_id, approval.CENTRAL) if org_id else None,
            "decided": count,
            "within_target": within,
            "within_target_share": within / count if count else None,
            "first_action_median_seconds": number(row.first_p50) if row is not None else None,
            "median_seconds": number(row.p50) if row is not None else None,
            "p90_seconds": number(row.p90) if row is not None else None,
            "escalations": int(escalations.get(org_id, 0)),
            "awaiting_decision": int(now_row.awaiting) if now_row is not None else 0,
            "overdue": int(now_row.overdue) if now_row is not None else 0,
        })
    results.sort(key=lambda r: (-r["decided"], -r["awaiting_decision"], r["title"] is None,
                                r["title"] or ""))
    return results
