"""Pages of the developer API keys: renewal, "revoke all", usage, tiers. Thin: each calls an
action. Registered through views.py (``tk.blanket.blueprints`` takes its Blueprint objects)."""
from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Response, request
from flask_wtf.csrf import validate_csrf

import ckan.model as model
from ckan.common import current_user
from ckan.plugins import toolkit as tk
from ckan.types import Context

from . import apitokens

dgaaccounts_tokens = Blueprint("dgaaccounts_tokens", __name__)

_CSV_COLUMNS = ("day", "user_name", "token_name", "token_id", "calls", "errors", "top_actions",
                "last_used")


@dgaaccounts_tokens.before_request
def _check_csrf() -> None:
    # The revoke-all page is anonymous, and CKAN never checks anonymous POSTs for CSRF.
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("_csrf_token"))
        except Exception:  # noqa: BLE001 - missing or bad token
            tk.abort(400, tk._("The form has expired. Reload the page and try again."))


def _context() -> Context:
    return {"user": current_user.name if current_user.is_authenticated else ""}


def _signed_in() -> None:
    if not current_user.is_authenticated:
        tk.abort(403, tk._("Sign in to manage your API tokens."))


# -- renewal: GET confirms, POST renews --------------------------------------------------

@dgaaccounts_tokens.route("/dgaaccounts/tokens/<token_id>/renew", methods=["GET", "POST"])
def renew(token_id: str) -> Any:
    _signed_in()
    try:
        token = tk.get_action("dgaaccounts_token_show")(_context(), {"id": token_id})
    except tk.ObjectNotFound as exc:
        return tk.abort(404, str(exc))
    except tk.NotAuthorized as exc:
        return tk.abort(403, str(exc))
    extra: dict[str, Any] = {"token": token, "errors": None, "new": None}
    if request.method == "POST":
        try:
            extra["new"] = tk.get_action("dgaaccounts_token_renew")(_context(), {"id": token_id})
        except tk.ValidationError as exc:
            extra["errors"] = exc.error_summary
    return tk.render("dgaaccounts/token_renew.html", extra)


# -- revoke all, from the signed link in a "new token" email -----------------------------

@dgaaccounts_tokens.route("/dgaaccounts/tokens/revoke-all/<user_id>/<signature>",
                          methods=["GET", "POST"])
def revoke_all(user_id: str, signature: str) -> Any:
    user = model.User.get(user_id) if len(user_id) <= 100 else None
    if user is None or not apitokens.revoke_all_signature_ok(user, signature):
        return tk.render("dgaaccounts/token_revoke_all.html",
                         {"invalid": True, "done": None}), 400
    done = None
    if request.method == "POST":
        try:
            done = tk.get_action("dgaaccounts_token_revoke_all")(
                _context(), {"user": user.id, "signature": signature})
        except tk.ValidationError:
            return tk.render("dgaaccounts/token_revoke_all.html",
                             {"invalid": True, "done": None}), 400
    return tk.render("dgaaccounts/token_revoke_all.html", {
        "invalid": False, "done": done, "user_id": user_id, "signature": signature})


# -- usage ------------------------------------------------------------------------------

@dgaaccounts_tokens.route("/dgaaccounts/tokens")
def usage() -> Any:
    """The signed-in user's tokens, their expiry and their use per day."""
    _signed_in()
    try:
        found = tk.get_action("dgaaccounts_token_usage")(
            _context(), {"days": request.args.get("days") or None})
    except tk.ValidationError as exc:
        tk.abort(400, "; ".join(f"{k}: {v}" for k, v in exc.error_summary.items()))
    return tk.render("dgaaccounts/token_usage.html", {
        "tokens": found["tokens"], "days": found["days"], "chart": _chart(found["days"])})


def _chart(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Calls per day over every token, with a bar width in percent, oldest first."""
    per_day: dict[str, int] = {}
    for row in rows:
        per_day[row["day"]] = per_day.get(row["day"], 0) + row["calls"]
    top = max(per_day.values(), default=0) or 1
    return [{"day": d, "calls": c, "width": round(100 * c / top)}
            for d, c in sorted(per_day.items())]


@dgaaccounts_tokens.route("/ckan-admin/dgaaccounts/tokens", methods=["GET", "POST"])
def admin() -> Any:
    """Everyone's usage (and its CSV), the tiers and who has which."""
    errors: dict[str, Any] = {}
    if request.method == "POST":
        errors = _admin_post()
    args = {k: request.args.get(k) or None for k in ("user", "organization", "days")}
    try:
        rows = tk.get_action("dgaaccounts_token_usage_list")(_context(), args)["days"]
        tiers = tk.get_action("dgaaccounts_token_tier_list")(_context(), {})
    except tk.NotAuthorized:
        tk.abort(403, tk._("Only sysadmins may see everyone's API usage."))
    except tk.ValidationError as exc:
        tk.abort(400, "; ".join(f"{k}: {v}" for k, v in exc.error_summary.items()))
    if request.args.get("format") == "csv":
        return _csv(rows)
    return tk.render("dgaaccounts/admin/token_usage.html", {
        "rows": rows, "tiers": tiers, "args": args, "errors": errors,
        "form": dict(request.form) if errors else {}})


def _admin_post() -> dict[str, Any]:
    form = request.form
    name = "dgaaccounts_token_tier_assign" if form.get("assign") else "dgaaccounts_token_tier_set"
    fields = ("user", "tier") if form.get("assign") else ("name", "hourly_limit", "description")
    try:
        tk.get_action(name)(_context(), {f: form.get(f, "") for f in fields})
    except tk.NotAuthorized:
        tk.abort(403, tk._("Only sysadmins may change API tiers."))
    except tk.ValidationError as exc:
        return exc.error_summary
    tk.h.flash_success(tk._("Saved."))
    return {}


def _csv(rows: list[dict[str, Any]]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(_CSV_COLUMNS)
    for row in rows:
        actions = " ".join(f"{a['action']}:{a['calls']}" for a in row["top_actions"])
        writer.writerow([_cell(v) for v in (
            row["day"], row.get("user_name", ""), row["token_name"], row["token_id"],
            row["calls"], row["errors"], actions, row["last_used"] or "")])
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="dgaaccounts-token-usage.csv"'
    return response


def _cell(value: Any) -> Any:
    # A token name starting with = + - @ would run as a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
