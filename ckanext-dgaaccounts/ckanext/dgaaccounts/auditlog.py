"""Reading the audit trail: the filters shared by ``dgaaccounts_audit_list``, its admin page and
the CSV export. (Writing it is ``workflow.audit``; the table is append-only.)"""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, orm

import ckan.model as model
from ckan.plugins import toolkit as tk

from . import approval, escalation, reports, signatures, timefmt, workflow
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


# -- the details column, for people ---------------------------------------------------------------

# Never shown, should a caller ever audit one (the trail records ids and codes, not secrets).
SECRET_KEYS = frozenset({"token", "secret", "password", "api_key", "apikey", "signature"})
_TIMES = frozenset({"due", "threshold", "expires", "revoke_after"})


def _key_labels() -> dict[str, str]:
    return {
        "with_document": tk._("Signed form sent with the sign-up"),
        "by": tk._("Decided as"),
        "reason": tk._("Reason"),
        "kind": tk._("Kind"),
        "role": tk._("Role"),
        "organization": tk._("Organization"),
        "organization_id": tk._("Organization id"),
        "note": tk._("Note"),
        "reference": tk._("Reference"),
        "due": tk._("Due"),
        "threshold": tk._("Escalation time"),
        "recipients": tk._("Recipients"),
        "from": tk._("From"),
        "to": tk._("To"),
        "stored": tk._("Setting stored"),
        "api_tokens_revoked": tk._("API tokens revoked"),
        "memberships_removed": tk._("Memberships removed"),
        "tier": tk._("Tier"),
        "hourly_limit": tk._("Hourly limit"),
        "before": tk._("Before"),
        "revoked": tk._("Revoked"),
        "via": tk._("Via"),
        "token_id": tk._("Token id"),
        "new_token_id": tk._("New token id"),
        "name": tk._("Name"),
        "expires": tk._("Expires"),
        "revoke_after": tk._("Old token revoked after"),
        "days": tk._("Days before expiry"),
        "deleted": tk._("Deleted"),
        "provider": tk._("Identity provider"),
        "issuer": tk._("Issuer"),
        "purpose": tk._("Purpose"),
        "email_verified_by": tk._("Email verified by"),
        "document_id": tk._("Document id"),
        "size": tk._("Size (bytes)"),
        "retention_days": tk._("Retention (days)"),
        "form": tk._("Form check"),
        "verified": tk._("Signatures verified"),
        "signatures": tk._("Signatures"),
    }


def _value_labels() -> dict[str, dict[str, str]]:
    modes = {mode: approval.mode_label(mode) for mode in approval.MODES}
    return {
        "by": {approval.SYSADMIN: tk._("sysadmin"),
               approval.ORGANIZATION_ADMIN: tk._("organization admin")},
        "reason": {
            escalation.NO_ADMIN: tk._("the organization has no active admin to decide"),
            escalation.THRESHOLD: tk._("no decision for most of the service time"),
            "account_state": tk._("the account is not active"),
            "not_signed_in": tk._("not signed in"),
            "already_linked": tk._("the identity is already linked to another account"),
            "ial_too_low": tk._("identity assurance level too low"),
            "bad_id_token": tk._("the provider's answer could not be verified"),
            "bad_state": tk._("the sign-in had expired or was not started here"),
            "code_refused": tk._("the provider refused the sign-in code"),
            "provider_error": tk._("the provider returned an error"),
            "provider_unavailable": tk._("the provider could not be reached"),
        },
        "via": {"link": tk._("the emailed link"), "signed_in": tk._("signed in")},
        "purpose": {"login": tk._("sign-in"), "link": tk._("linking an identity")},
        "from": modes,
        "to": modes,
        "stored": modes,
    }


def shown_details(details: dict[str, Any] | None) -> list[tuple[str, str]]:
    """An event's details for the audit page: (label, value) pairs sorted by key, known keys
    and values in the page's language (booleans as yes/no, times as times), unknown ones as
    they are, secrets never."""
    keys, values = _key_labels(), _value_labels()
    shown = []
    for key, value in sorted((details or {}).items()):
        if key in SECRET_KEYS:
            continue
        shown.append((keys.get(key, key), _value(key, value, values.get(key, {}))))
    return shown


def _value(key: str, value: Any, labels: dict[str, str]) -> str:
    if isinstance(value, bool):
        return tk._("yes") if value else tk._("no")
    if value is None:
        return "–"
    if key == "kind":
        return workflow.kind_label(value)
    if key == "role":
        return workflow.role_label(value)
    if key == "form":
        return signatures.form_label(value)
    if key in _TIMES:
        return timefmt.format_datetime_lenient(value, timefmt.page_locale())
    return labels.get(value, str(value)) if isinstance(value, str) else str(value)
