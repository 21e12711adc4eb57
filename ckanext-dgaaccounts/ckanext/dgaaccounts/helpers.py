"""Template helpers (registered by the plugin's blanket; all prefixed dgaaccounts_)."""
from __future__ import annotations

import datetime
import math
from typing import Any

import ckan.model as model
from ckan.plugins import toolkit as tk

from . import auditlog, config, organizations, signatures, timefmt, workflow
from .model import utcnow


def dgaaccounts_service_hours() -> int:
    return int(config.service_time().total_seconds() // 3600)


def dgaaccounts_upload_max_mb() -> str:
    return f"{config.upload_max_size() / 1024 / 1024:g}"


def dgaaccounts_default_role() -> str:
    return config.default_role()


def dgaaccounts_organizations() -> list[dict[str, str]]:
    """Active organizations for the registration form's type-ahead: titles in Thai and, where
    the organization has one, in English (one query)."""
    found: list[dict[str, str]] = tk.get_action("dgaaccounts_organization_list")(
        {"user": ""}, {})
    return found


def dgaaccounts_organization_title(value: str | None) -> str:
    """The agency box's text for ``value`` (an id, a name or typed text): never a URL name."""
    return organizations.title_of(value)


def dgaaccounts_state_label(state: str) -> str:
    return workflow.state_label(state)


def dgaaccounts_event_label(action: str) -> str:
    return workflow.event_label(action)


def dgaaccounts_kind_label(kind: str) -> str:
    return workflow.kind_label(kind)


def dgaaccounts_role_label(role: str) -> str:
    return workflow.role_label(role)


def dgaaccounts_audit_details(details: dict[str, Any] | None) -> list[tuple[str, str]]:
    return auditlog.shown_details(details)


def dgaaccounts_datetime(value: str | None) -> str:
    """A stored (UTC) time in the display zone, written the way the page's language does."""
    if not value:
        return ""
    return timefmt.format_datetime(value, timefmt.page_locale())


def dgaaccounts_date(value: str | None) -> str:
    """A day (ISO date) written the way the page's language does (Buddhist era in Thai)."""
    if not value:
        return ""
    return timefmt.format_date(datetime.date.fromisoformat(value[:10]), timefmt.page_locale())


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
    """Who did something, for people: "system" for nobody and for the site user (jobs and
    commands act as it, CKAN names it after ``ckan.site_id``)."""
    if not user_id:
        return tk._("system")
    user = model.User.get(user_id)
    if user is None:
        return user_id
    return tk._("system") if user.name == tk.config.get("ckan.site_id") else user.name


def dgaaccounts_duration(seconds: float | None) -> str:
    """A time to decision for people: "45 s", "12 min", "3 h 20 min", "2 d 4 h"."""
    if seconds is None:
        return "–"
    total = int(round(seconds))
    if total < 60:
        return tk._("%(s)s s") % {"s": total}
    minutes = total // 60
    if minutes < 60:
        return tk._("%(m)s min") % {"m": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        if not minutes:
            return tk._("%(h)s h") % {"h": hours}
        return tk._("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
    days, hours = divmod(hours, 24)
    if not hours:
        return tk._("%(d)s d") % {"d": days}
    return tk._("%(d)s d %(h)s h") % {"d": days, "h": hours}


def dgaaccounts_percent(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.1f}%"


_CHART = {"width": 640, "height": 180, "left": 36, "bottom": 24, "top": 8}
_CHART_LABEL_EM = 0.62  # widest digit or dash of a sans-serif font, in em


def dgaaccounts_sla_chart(periods: list[dict[str, Any]]) -> dict[str, Any]:
    """Geometry of a bar chart of decisions per period (within target, then late), drawn as
    inline SVG by ``dgaaccounts/admin/snippets/sla_chart.html``: no script, nothing fetched."""
    width, height = _CHART["width"], _CHART["height"]
    left, bottom, top = _CHART["left"], _CHART["bottom"], _CHART["top"]
    plot_h = height - bottom - top
    count = max(len(periods), 1)
    highest = max([p["decided"] for p in periods] + [1])
    step = (width - left) / count
    # Labels under the bars never overlap: a label (a day, 10 characters at font-size 10, at
    # most 0.62 em each) plus a gap must fit in the bars it stands for; the SVG scales as a
    # whole, so what holds at the viewBox's width holds at every screen width.
    label_width = max([len(str(p["start"])) for p in periods] + [1]) * _CHART_LABEL_EM * 10 + 8
    label_every = max(1, math.ceil(label_width / step))
    bars = []
    for i, p in enumerate(periods):
        within, late = p["within_target"], p["decided"] - p["within_target"]
        h_within = plot_h * within / highest
        h_late = plot_h * late / highest
        base = top + plot_h
        bars.append({
            "x": round(left + i * step + step * 0.15, 1), "width": round(step * 0.7, 1),
            "within_y": round(base - h_within, 1), "within_h": round(h_within, 1),
            "late_y": round(base - h_within - h_late, 1), "late_h": round(h_late, 1),
            "label": p["start"] if i % label_every == 0 else "",
            "label_x": round(left + i * step + step / 2, 1),
            "period": p,
        })
    ticks = sorted({0, highest // 2, highest}) if highest > 1 else [0, 1]
    return {
        "width": width, "height": height, "left": left, "base": top + plot_h,
        "bars": bars,
        "ticks": [{"value": t, "y": round(top + plot_h - plot_h * t / highest, 1)}
                  for t in ticks],
    }


def dgaaccounts_signature_reason_label(code: str) -> str:
    return signatures.reason_label(code)


def dgaaccounts_signature_form_label(code: str) -> str:
    return signatures.form_label(code)


def dgaaccounts_signature_policy() -> str:
    return signatures.policy()


def dgaaccounts_decision_consequence(req: dict[str, Any], decision: str) -> str:
    """What a decision on ``req`` will do, in words for the sysadmin who is about to make it."""
    user = req.get("user_name") or ""
    kind = req.get("kind")
    if decision == "approve" and kind == workflow.CANCELLATION:
        return tk._(
            "The account %(user)s will be deleted: its API tokens are revoked, it is signed "
            "out everywhere and removed from its organizations. This cannot be undone."
        ) % {"user": user}
    if decision == "approve" and kind == workflow.SUSPENSION:
        return tk._(
            "The account %(user)s will be suspended: its API tokens are revoked and it is "
            "signed out everywhere until a sysadmin reactivates it."
        ) % {"user": user}
    if decision == "reject_spam":
        return tk._(
            "The sign-up will be closed for good and the pending account %(user)s removed; its "
            "verification link stops working. Nobody is emailed."
        ) % {"user": user}
    if kind in (workflow.AGENCY, workflow.DEVELOPER):
        return tk._(
            "The request will be closed for good and the pending account %(user)s removed; "
            "the applicant is emailed your reason."
        ) % {"user": user}
    return tk._(
        "The request will be closed for good and the account %(user)s stays as it is; the "
        "applicant is emailed your reason."
    ) % {"user": user}


def dgaaccounts_bulk_consequence(req: dict[str, Any], decision: str) -> str:
    """What a decision from the queue's bulk form will do to ``req`` (its confirmation page)."""
    if decision == "return":
        return tk._("The request goes back to %(user)s to correct; your reason is emailed.") % {
            "user": req.get("user_name") or ""}
    if decision == "approve" and req.get("kind") == workflow.AGENCY:
        org = (req.get("organization") or {}).get("title") or (
            req.get("details") or {}).get("agency_name") or ""
        return tk._("The account %(user)s becomes active, a member of %(org)s with the "
                    "role chosen below.") % {"user": req.get("user_name") or "", "org": org}
    return dgaaccounts_decision_consequence(req, decision)


def dgaaccounts_waiting() -> dict[str, int]:
    """Requests awaiting a sysadmin's decision and how many of them are overdue, for the count
    in the header (one indexed query on state)."""
    from sqlalchemy import case, func

    from .model import Request

    now = utcnow()
    waiting, overdue = model.Session.query(
        func.count(Request.id),
        func.count(case((Request.due < now, 1))),
    ).filter(Request.state == workflow.SUBMITTED).one()
    return {"waiting": int(waiting or 0), "overdue": int(overdue or 0)}


def dgaaccounts_token_max_days(user: Any = None) -> int:
    """The maximum lifetime, in days, of the API tokens of ``user`` (a user dict or object)."""
    from . import apitokens

    user_id = user.get("id") if isinstance(user, dict) else getattr(user, "id", None)
    return apitokens.max_lifetime(model.User.get(user_id) if user_id else None).days


def dgaaccounts_user_tier(user: Any = None) -> dict[str, Any]:
    """The API tier of ``user`` and the tiers a sysadmin may give (for the user's tokens tab)."""
    from . import apiusage
    from .tokenmodel import TokenTier, UserTier

    user_id = user.get("id") if isinstance(user, dict) else getattr(user, "id", None)
    row = model.Session.get(UserTier, user_id) if user_id else None
    names = [name for (name,) in model.Session.query(TokenTier.name).order_by(TokenTier.name)
             if name != apiusage.DEFAULT_TIER]
    return {"tier": row.tier if row else apiusage.DEFAULT_TIER, "tiers": names,
            "hourly_limit": apiusage.hourly_limit(user_id)}


def dgaaccounts_oidc_providers() -> list[dict[str, str]]:
    """The identity providers offered on the login page: name and title in the user's language."""
    from . import oidc, views_oidc

    return [{"name": p.name, "title": views_oidc.title(p)} for p in oidc.providers()]


def _user_id(user: Any) -> str | None:
    return user.get("id") if isinstance(user, dict) else getattr(user, "id", None)


def dgaaccounts_is_suspended(user: Any = None) -> bool:
    """Whether ``user`` (a user dict or object) is suspended: CKAN keeps such an account
    ``pending``, so its profile says "suspended" from this instead."""
    from . import account

    user_id = _user_id(user)
    found = model.User.get(user_id) if user_id else None
    return found is not None and found.state == "pending" and account.is_suspended(found)


USER_REQUESTS_SHOWN = 20


def dgaaccounts_user_requests(user: Any = None) -> list[dict[str, Any]]:
    """The requests of ``user``, newest first (at most USER_REQUESTS_SHOWN), for their profile:
    shown to the user and to sysadmins only (an empty list for anyone else)."""
    from .model import Request

    user_id = _user_id(user)
    from ckan.common import current_user

    if not user_id or not current_user.is_authenticated or not (
            current_user.sysadmin or current_user.id == user_id):
        return []
    rows = model.Session.query(Request).filter(Request.user_id == user_id).order_by(
        Request.created.desc()).limit(USER_REQUESTS_SHOWN)
    return [{"id": r.id, "reference": r.reference, "kind": r.kind, "state": r.state,
             "created": r.created.isoformat()} for r in rows]


def dgaaccounts_approval_mode_label(mode: str) -> str:
    from . import approval

    return approval.mode_label(mode)


def dgaaccounts_endorsement_label(endorsement: str | None) -> str:
    return {workflow.ENDORSED: tk._("Endorsed by the organization"),
            workflow.DECLINED: tk._("Declined by the organization")}.get(
        endorsement or "", endorsement or "")


def dgaaccounts_field_attrs(verified: Any, field: str,
                            attrs: dict[str, str] | None = None) -> dict[str, str]:
    """The HTML attributes of a registration field: read-only when an identity provider
    verified its value (``verified``: the form's record of the identity). The server keeps
    the verified value whatever is posted; this only shows it."""
    found = {"class": "form-control", **(attrs or {})}
    if isinstance(verified, dict) and field in (verified.get("verified") or ()):
        found.update({"readonly": "readonly", "aria-readonly": "true"})
    return found
