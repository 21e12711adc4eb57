"""Reading the audit trail: the filters shared by ``dgaaccounts_audit_list``, its admin page and
the CSV export. (Writing it is ``workflow.audit``; the table is append-only.)"""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, orm

import ckan.model as model

from . import reports
from .model import AuditEvent, Request


def query(conditions: list[Any]) -> Any:
    """Audit events matching ``conditions`` (see :func:`filters`), newest first, each with the
    request's reference and the names of the actor and of the user concerned."""
    actor = orm.aliased(model.User)
    target = orm.aliased(model.User)
    q = (
        model.Session.query(AuditEvent, Request.reference.label("request_reference"),
                            actor.name.label("actor_name"),
                            target.name.label("target_user_name"))
        .outerjoin(Request, Request.id == AuditEvent.request_id)
        .outerjoin(actor, actor.id == AuditEvent.actor_id)
        .outerjoin(target, target.id == AuditEvent.target_user_id)
    )
    return q.filter(*conditions).order_by(AuditEvent.id.desc())


def count(conditions: list[Any]) -> int:
    """How many events match (on the audit table alone, without the joins for names)."""
    count: int = model.Session.query(func.count(AuditEvent.id)).filter(*conditions).scalar()
    return count


def filters(data: dict[str, Any]) -> list[Any]:
    """The conditions on ``AuditEvent`` for validated filters (``schema.audit_list``)."""
    conditions = []
    if data.get("request_id"):
        conditions.append(AuditEvent.request_id == request_id(data["request_id"]))
    if data.get("user_id"):
        conditions.append(AuditEvent.target_user_id == user_id(data["user_id"]))
    if data.get("actor"):
        conditions.append(AuditEvent.actor_id == user_id(data["actor"]))
    if data.get("action"):
        conditions.append(AuditEvent.action == data["action"])
    conditions += reports.time_filter(AuditEvent.created, data.get("since"), data.get("until"))
    return conditions


def row_dict(row: Any) -> dict[str, Any]:
    event, reference, actor_name, target_name = row
    result: dict[str, Any] = event.as_dict()
    result.update(request_reference=reference, actor_name=actor_name,
                  target_user_name=target_name)
    return result


def request_id(id_or_reference: str) -> str:
    """A request's id from its id or its reference (``DGA-2026-000042``)."""
    found = model.Session.query(Request.id).filter(
        Request.reference == id_or_reference).scalar()
    return found or id_or_reference


def user_id(id_or_name: str) -> str:
    user = model.User.get(id_or_name)
    return user.id if user else id_or_name
