"""Template helpers (registered by the plugin's blanket; all prefixed dgaaccounts_)."""
from __future__ import annotations

import datetime
from typing import Any

import ckan.model as model
from ckan.plugins import toolkit as tk

from . import config, workflow
from .model import utcnow


def dgaaccounts_service_hours() -> int:
    return int(config.service_time().total_seconds() // 3600)


def dgaaccounts_upload_max_mb() -> str:
    return f"{config.upload_max_size() / 1024 / 1024:g}"


def dgaaccounts_default_role() -> str:
    return config.default_role()


def dgaaccounts_organizations() -> list[dict[str, str]]:
    """Active organizations for the registration form's type-ahead (one query)."""
    rows = model.Session.query(model.Group.name, model.Group.title).filter(
        model.Group.is_organization.is_(True), model.Group.state == "active"
    ).order_by(model.Group.title)
    return [{"name": name, "title": title or name} for name, title in rows]


def dgaaccounts_state_label(state: str) -> str:
    return workflow.state_label(state)


def dgaaccounts_event_label(action: str) -> str:
    return workflow.event_label(action)


def dgaaccounts_kind_label(kind: str) -> str:
    return workflow.kind_label(kind)


def dgaaccounts_datetime(value: str | None) -> str:
    if not value:
        return ""
    return tk.h.render_datetime(value, with_hours=True)


def dgaaccounts_age(value: str | None) -> str:
    """How long ago, in hours (days past two days)."""
    if not value:
        return ""
    delta = utcnow() - datetime.datetime.fromisoformat(value)
    hours = int(delta.total_seconds() // 3600)
    if hours >= 48:
        # flask_babel's ngettext formats the string itself (with num=...): pass n to it.
        return tk.ungettext("%(n)s day", "%(n)s days", hours // 24, n=hours // 24)
    return tk.ungettext("%(n)s hour", "%(n)s hours", hours, n=hours)


def dgaaccounts_user_name(user_id: str | None) -> Any:
    if not user_id:
        return tk._("system")
    user = model.User.get(user_id)
    return user.name if user else user_id
