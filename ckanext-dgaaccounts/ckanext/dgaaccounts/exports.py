"""CSV exports of the requests and of the audit log, streamed.

A year of requests must not be built in memory: each export runs on a connection of its own
with a server-side cursor (``stream_results``), reads ``BATCH`` rows at a time and yields the
CSV text batch by batch, so memory stays flat whatever the number of rows. The connection is
not CKAN's session: CKAN removes the session when the view returns, before a streamed body is
written. The filters are validated (``schema.requests_export``, ``schema.audit_export``) and
the caller's rights checked before the first byte.

Column names are stable identifiers for spreadsheets and scripts; times are UTC
(``YYYY-MM-DD HH:MM:SS``); kinds and states are the API's values. The text starts with a UTF-8
byte order mark, so that spreadsheet programs read Thai correctly, and cells that a spreadsheet
would run as a formula are quoted with a leading apostrophe.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.types import Context

from . import auditlog, reports, workflow
from .logic import schema
from .model import AuditEvent, Request

BATCH = 1000
BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

REQUEST_COLUMNS = (
    "reference", "kind", "state", "username", "fullname", "email", "organization",
    "agency_name", "created_utc", "submitted_utc", "due_utc", "decided_utc", "decided_by",
    "hours_to_decision", "within_target", "decision_note",
)
ORGANIZATION_COLUMNS = (
    "organization", "organization_title", "approval_mode", "since", "until", "timezone",
    "decided",
    "within_target", "within_target_percent", "hours_to_first_action_median",
    "hours_to_decision_median", "hours_to_decision_p90", "escalations", "awaiting_decision",
    "overdue",
)
AUDIT_COLUMNS = (
    "id", "created_utc", "action", "actor", "request_reference", "request_id", "target_user",
    "from_state", "to_state", "client_addr", "details",
)


@dataclasses.dataclass(frozen=True)
class Export:
    filename: str
    #: The CSV text, batch by batch; nothing is read from the database before iterating.
    chunks: Iterator[str]


def requests_csv(context: Context, params: dict[str, Any]) -> Export:
    """The requests whose ``by`` date (``created`` by default, ``submitted`` or ``decided``)
    is in the range ``since``..``until`` (days or times, both included; both optional), of one
    ``kind`` or all, oldest first. Sysadmins only; ``ValidationError`` on bad filters."""
    tk.check_access("sysadmin", context)
    data = schema.validate(params, schema.requests_export(), context)
    return Export(filename("requests", data),
                  _stream(REQUEST_COLUMNS, _requests_statement(data), _request_cells))


def audit_csv(context: Context, params: dict[str, Any]) -> Export:
    """The audit events matching the filters of ``dgaaccounts_audit_list`` (``request_id``,
    ``user_id``, ``actor``, ``action``, ``since``, ``until``), oldest first. Sysadmins only."""
    tk.check_access("sysadmin", context)
    data = schema.validate(params, schema.audit_export(), context)
    return Export(filename("audit", data),
                  _stream(AUDIT_COLUMNS, _audit_statement(data), _audit_cells))


def organizations_csv(context: Context, params: dict[str, Any]) -> Export:
    """The per-organization figures of the service report (``dgaaccounts_sla_report``'s
    ``organizations``) for its range (``since``, ``until``: days in the portal's time zone, as
    the report takes them), one row per organization; the row without an organization holds
    the requests with none (see ``reports.organization_figures``). Sysadmins only (the
    report's auth function)."""
    report = tk.get_action("dgaaccounts_sla_report")(
        context, {k: v for k, v in params.items() if k in ("since", "until", "kind")})

    def hours(seconds: float | None) -> str:
        return "" if seconds is None else f"{seconds / 3600:.2f}"

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(ORGANIZATION_COLUMNS)
        for org in report["organizations"]:
            share = org["within_target_share"]
            writer.writerow([_cell(v) for v in (
                org["name"] or "", org["title"] or "", org["approval_mode"] or "",
                report["since"], report["until"],
                report["timezone"], org["decided"], org["within_target"],
                "" if share is None else f"{share * 100:.1f}",
                hours(org["first_action_median_seconds"]), hours(org["median_seconds"]),
                hours(org["p90_seconds"]), org["escalations"], org["awaiting_decision"],
                org["overdue"])])
        yield BOM + buffer.getvalue()

    name = f"dgaaccounts-organizations-{report['since']}-{report['until']}.csv"
    return Export(name, rows())


def filename(what: str, data: dict[str, Any]) -> str:
    """``dgaaccounts-requests-2026-01-01-2026-12-31.csv`` and the like."""
    def day(value: Any) -> str:
        if isinstance(value, (datetime.date, datetime.datetime)):
            return value.strftime("%Y-%m-%d")
        return ""

    parts = ["dgaaccounts", what, day(data.get("since")), day(data.get("until"))]
    return "-".join(p for p in parts if p) + ".csv"


# -- statements ------------------------------------------------------------------------------

def _requests_statement(data: dict[str, Any]) -> sa.sql.Select[Any]:
    user = orm.aliased(model.User)
    decider = orm.aliased(model.User)
    targets = reports.service_targets()
    start = reports.clock_start()
    decided = Request.state.in_(workflow.DECIDED_STATES)
    column = getattr(Request, data.get("by") or "created")
    statement = (
        sa.select(
            Request.reference, Request.kind, Request.state, user.name, user.fullname,
            Request.email, model.Group.name, Request.details["agency_name"].astext,
            Request.created, Request.submitted, Request.due, Request.decided, decider.name,
            sa.case((decided, sa.func.extract("epoch", Request.decided - start) / 3600)),
            sa.case((decided, Request.decided <= reports.due(targets))),
            Request.decision_note,
        )
        .select_from(Request)
        .outerjoin(user, user.id == Request.user_id)
        .outerjoin(decider, decider.id == Request.decided_by)
        .outerjoin(model.Group, model.Group.id == Request.organization_id)
        .where(*reports.time_filter(column, data.get("since"), data.get("until")))
        .order_by(column, Request.id)
    )
    if data.get("kind"):
        statement = statement.where(Request.kind == data["kind"])
    return statement


def _audit_statement(data: dict[str, Any]) -> sa.sql.Select[Any]:
    actor = orm.aliased(model.User)
    target = orm.aliased(model.User)
    return (
        sa.select(
            AuditEvent.id, AuditEvent.created, AuditEvent.action, actor.name, Request.reference,
            AuditEvent.request_id, target.name, AuditEvent.from_state, AuditEvent.to_state,
            AuditEvent.client_addr, AuditEvent.details,
        )
        .select_from(AuditEvent)
        .outerjoin(Request, Request.id == AuditEvent.request_id)
        .outerjoin(actor, actor.id == AuditEvent.actor_id)
        .outerjoin(target, target.id == AuditEvent.target_user_id)
        .where(*auditlog.filters(data))
        .order_by(AuditEvent.id)
    )


# -- cells -----------------------------------------------------------------------------------

def _request_cells(row: Any) -> list[Any]:
    cells = list(row)
    hours, within = cells[13], cells[14]
    cells[13] = "" if hours is None else f"{float(hours):.2f}"
    cells[14] = "" if within is None else ("true" if within else "false")
    return cells


def _audit_cells(row: Any) -> list[Any]:
    cells = list(row)
    cells[10] = json.dumps(cells[10] or {}, ensure_ascii=False, sort_keys=True)
    return cells


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


# -- streaming -------------------------------------------------------------------------------

def _stream(header: tuple[str, ...], statement: sa.sql.Select[Any],
            cells: Callable[[Any], list[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(header)
    yield BOM + take()
    with model.ensure_engine().connect() as conn:
        result = conn.execution_options(stream_results=True, max_row_buffer=BATCH).execute(
            statement)
        while True:
            rows = result.fetchmany(BATCH)
            if not rows:
                break
            writer.writerows([_cell(v) for v in cells(row)] for row in rows)
            yield take()
