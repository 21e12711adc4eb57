"""Reading requests: getting one, the queue (its filters, its search and its page) and the shape
in which the actions return a request. Beside ``auditlog.py``, which reads the audit trail;
changing a request is ``workflow.py``'s."""
from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, or_, orm, select, union

import ckan.model as model
from ckan.plugins import toolkit as tk

from . import approval, escalation, signature_store, states, workflow
from .model import AuditEvent, Document, Request, utcnow


def get(request_id: str, *, lock: bool = False) -> Request:
    """The request, or ``ObjectNotFound`` (404); with ``lock``, its row is locked until the
    transaction ends."""
    query = model.Session.query(Request).filter(Request.id == request_id)
    if lock:
        query = query.with_for_update()
    req = query.one_or_none()
    if req is None:
        raise tk.ObjectNotFound(tk._("Request not found."))
    return req


def documents(req: Request) -> list[Document]:
    """The request's documents, oldest first."""
    return (
        model.Session.query(Document)
        .filter(Document.request_id == req.id)
        .order_by(Document.uploaded)
        .all()
    )


def as_dict(req: Request, *, with_history: bool = True) -> dict[str, Any]:
    """The request as ``dgaaccounts_request_show`` returns it (less ``allowed_events``, which
    depend on the caller): its row, the applicant's names, the organization, whether it is
    overdue, the documents' metadata with their signatures, and the audit events."""
    result = req.as_dict()
    user = model.User.get(req.user_id)
    org = model.Session.get(model.Group, req.organization_id) if req.organization_id else None
    result.update(
        user_name=user.name if user else None,
        user_fullname=user.fullname if user else None,
        organization=({"id": org.id, "name": org.name, "title": org.title} if org else None),
        overdue=workflow.is_overdue(req),
        documents=signature_store.with_signatures([d.as_dict() for d in documents(req)]),
    )
    result["signatures_verified"] = bool(signature_store.verified_request_ids([req.id]))
    escalated = escalation.escalated_at([req.id]).get(req.id)
    result["escalated"] = escalated.isoformat() if escalated else None
    result["approval_mode"] = approval.mode_for(req.organization_id)
    if with_history:
        events = (
            model.Session.query(AuditEvent)
            .filter(AuditEvent.request_id == req.id)
            .order_by(AuditEvent.id)
        )
        result["history"] = [e.as_dict() for e in events]
    return result


# -- the queue ---------------------------------------------------------------------------------

Conditions = Callable[[Any], list[Any]]


def queue(data: dict[str, Any]) -> dict[str, Any]:
    """The page of the queue that the validated filters of ``dgaaccounts_request_list`` ask
    for: ``count`` and ``results``, oldest due first; with ``q``, also ``other_states``."""
    now = utcnow()
    conditions = _conditions(data, now)
    result: dict[str, Any] = {}
    if data.get("q"):
        count, rows = search(conditions, data["q"], data["limit"], data["offset"])
        if data.get("state") or not data.get("every_state"):
            everywhere = _conditions(dict(data, state=None, every_state=True), now)
            result["other_states"] = search_count(everywhere, data["q"]) - count
        else:
            result["other_states"] = 0
    else:
        # The count reads an index alone; the page walks an index in the queue's order and
        # stops after ``limit`` rows, however many requests there are.
        count = model.Session.query(func.count()).select_from(Request).filter(
            *conditions(Request)).scalar()
        rows = (
            model.Session.query(Request, model.User.name, model.User.fullname)
            .join(model.User, model.User.id == Request.user_id)
            .filter(*conditions(Request))
            .order_by(Request.due.asc().nullslast(), Request.created.asc())
            .limit(data["limit"]).offset(data["offset"]).all()
        )
    verified = signature_store.verified_request_ids([req.id for req, _n, _f in rows])
    escalated = escalation.escalated_at([req.id for req, _n, _f in rows])
    results = []
    for req, name, fullname in rows:
        item = req.as_dict()
        item.update(user_name=name, user_fullname=fullname,
                    overdue=workflow.is_overdue(req, now), signatures_verified=req.id in verified)
        item["escalated"] = escalated[req.id].isoformat() if req.id in escalated else None
        results.append(item)
    return {"count": count, "results": results, **result}


def _conditions(data: dict[str, Any], now: datetime.datetime) -> Conditions:
    def conditions(entity: Any) -> list[Any]:
        # Each filter, and the queue's order (due, then created), has an index (migrations
        # 0001 and 0004), on the request table alone.
        found: list[Any] = []
        if data.get("kind"):
            found.append(entity.kind == data["kind"])
        if data.get("state"):
            found.append(entity.state == data["state"])
        elif not data.get("every_state"):
            found.append(entity.state.in_(states.OPEN_STATES))
        if data.get("overdue"):
            found += [entity.state == states.SUBMITTED, entity.due < now]
        if data.get("signatures") == "verified":
            found.append(signature_store.verified_condition(entity))
        if data.get("organization"):  # an organization's queue (approval.py, migration 0009)
            found.append(entity.organization_id == data["organization"])
        return found

    return conditions


def _matches(conditions: Conditions, text_: str) -> Any:
    """The requests matching ``conditions`` whose reference, email or agency name, or whose
    applicant's username or full name, contain ``text_``: (id, due, created), as a UNION of two
    searches that the trigram indexes of migration 0004 answer (an OR across the join with the
    user table could only be checked row by row)."""
    like = "%" + text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    own, by_user = orm.aliased(Request), orm.aliased(Request)
    return union(
        select(own.id, own.due, own.created).where(*conditions(own), or_(
            own.reference.ilike(like, escape="\\"), own.email.ilike(like, escape="\\"),
            own.details["agency_name"].astext.ilike(like, escape="\\"))),
        select(by_user.id, by_user.due, by_user.created)
        .join(model.User, model.User.id == by_user.user_id)
        .where(*conditions(by_user), or_(model.User.name.ilike(like, escape="\\"),
                                         model.User.fullname.ilike(like, escape="\\"))),
    ).cte("dgaaccounts_matches")


def search(conditions: Conditions, text_: str, limit: int,
           offset: int) -> tuple[int, list[Any]]:
    """The count and the page (request, username, full name) of the requests that match
    ``text_`` (see :func:`_matches`).

    One statement: the matches are found once, then counted, and only the page's rows are read
    in full. Its cost follows the number of matches, not of requests.
    """
    matches = _matches(conditions, text_)
    order = (matches.c.due.asc().nullslast(), matches.c.created.asc())
    page = (select(matches.c.id, matches.c.due, matches.c.created).order_by(*order)
            .limit(limit).offset(offset).subquery("dgaaccounts_page"))
    total = select(func.count()).select_from(matches).scalar_subquery()
    found = (
        model.Session.query(Request, model.User.name, model.User.fullname, total)
        .join(page, page.c.id == Request.id)
        .join(model.User, model.User.id == Request.user_id)
        .order_by(page.c.due.asc().nullslast(), page.c.created.asc())
        .all()
    )
    if found:
        count = found[0][3]
    elif offset:  # past the last page: the count still has to be told
        count = model.Session.query(func.count()).select_from(matches).scalar()
    else:
        count = 0
    return count, [(req, name, fullname) for req, name, fullname, _total in found]


def search_count(conditions: Conditions, text_: str) -> int:
    """How many requests match ``text_`` (see :func:`_matches`)."""
    matches = _matches(conditions, text_)
    count: int = model.Session.query(func.count()).select_from(matches).scalar()
    return count
