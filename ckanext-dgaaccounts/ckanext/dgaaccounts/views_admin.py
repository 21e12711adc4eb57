"""The sysadmins' pages: the approval queue, one request and its decision, reactivation, the
service report, the audit log and the CSV exports. Thin: each calls actions and renders."""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, request

from ckan.plugins import toolkit as tk

from . import exports, workflow
from .logic import housekeeping
from .views_common import (
    check_csrf, context, flash_errors, run, server_error, show_request, sign_in_first,
)

dgaaccounts_admin = Blueprint("dgaaccounts_admin", __name__, url_prefix="/ckan-admin/dgaaccounts")

# The decisions a sysadmin makes on the review page (workflow.ACTIONS names their actions), and
# the roles an approval may grant, in the order the page offers them.
DECISIONS = ("approve", "return", "reject", "reject_spam")
ROLES = ("editor", "member", "admin")
dgaaccounts_admin.register_error_handler(Exception, server_error)


@dgaaccounts_admin.before_request
def _sysadmins_only() -> Any:
    signing_in = sign_in_first()
    if signing_in is not None:
        return signing_in
    try:
        tk.check_access("sysadmin", context())
    except tk.NotAuthorized:
        tk.abort(403, tk._("Need to be system administrator to administer"))
    # CKAN 2.12 can leave these views exempt from its CSRF check for the rest of the process
    # once a request signed in by API token has reached them: check browser sessions here too.
    if not tk.g.get("login_via_auth_header"):
        check_csrf()
    return None


# -- the queue and one request -------------------------------------------------------------

@dgaaccounts_admin.route("/")
def queue() -> str:
    args = request.args
    filters: dict[str, Any] = {
        k: args.get(k) for k in ("kind", "state", "q", "signatures") if args.get(k)}
    if args.get("overdue"):
        filters["overdue"] = True
    params = dict(filters)
    if params.get("state") == "all":  # the state filter's "every state"
        del params["state"]
        params["every_state"] = True
    return tk.render("dgaaccounts/admin/queue.html", dict(
        _page("dgaaccounts_request_list", filters, 20, params),
        kinds=workflow.KINDS, states=workflow.STATES))


@dgaaccounts_admin.route("/request/<id>")
def admin_request(id: str) -> str:
    req = show_request(id)
    try:
        applicant = tk.get_action("dgaaccounts_account_show")(context(), {"id": req["user_id"]})
    except tk.ObjectNotFound:
        applicant = None
    return tk.render("dgaaccounts/admin/request.html", {
        "req": req,
        "events": [e for e in req["allowed_events"] if e in DECISIONS],
        "organizations": tk.get_action("dgaaccounts_organization_list")(context(), {}),
        "roles": ROLES,
        "suspended": bool(applicant and applicant["suspended"]),
    })


@dgaaccounts_admin.route("/user/<id>/reactivate", methods=["POST"])
def admin_reactivate(id: str) -> Any:
    if run("dgaaccounts_user_reactivate", {"id": id},
           not_found=tk._("User not found.")) is not None:
        tk.h.flash_success(tk._("The account is active again. The user will be emailed."))
    if request.form.get("back") == "profile":  # the form on the user's profile
        return tk.redirect_to("user.read", id=id)
    back = request.form.get("request_id")
    if back:
        return tk.redirect_to("dgaaccounts_admin.admin_request", id=back)
    return tk.redirect_to("dgaaccounts_admin.queue")


@dgaaccounts_admin.route("/request/<id>/<decision>", methods=["POST"])
def admin_decide(id: str, decision: str) -> Any:
    if decision not in DECISIONS:
        return tk.abort(404)
    form = request.form
    data = {"id": id, **{k: form[k] for k in ("note", "reason", "organization", "role")
                         if form.get(k)}}
    if not _decision_confirmed(id, decision):
        tk.h.flash_error(tk._("Nothing was changed: tick the box to confirm that you have read "
                              "what this decision will do."))
        return tk.redirect_to("dgaaccounts_admin.admin_request", id=id)
    if run(workflow.ACTIONS[decision], data) is not None:
        tk.h.flash_success(tk._("Decision recorded. The applicant will be emailed."))
    return tk.redirect_to("dgaaccounts_admin.admin_request", id=id)


@dgaaccounts_admin.route("/decide", methods=["POST"])
def admin_decide_bulk() -> Any:
    """One decision on the requests ticked in the queue: a confirmation page first (what will
    happen to which requests), then ``dgaaccounts_requests_decide``, each request on its own."""
    return decide_bulk("dgaaccounts/admin/bulk_confirm.html", {"roles": ROLES},
                       tk.url_for("dgaaccounts_admin.queue"))


def decide_bulk(template: str, extra: dict[str, Any], back: str) -> Any:
    """The bulk decision of a queue page (the sysadmins' or an organization's): ``template``
    confirms the ticked requests (with ``extra``), then the action decides; back to ``back``."""
    form = request.form
    data = {"ids": form.getlist("ids"), "decision": form.get("decision", ""),
            **{k: form[k] for k in ("reason", "role") if form.get(k)}}
    if form.get("confirm") != "yes":
        if data["decision"] not in ("approve", "return", "reject") or not data["ids"]:
            tk.h.flash_error(tk._("Tick one or more requests and choose a decision."))
            return tk.redirect_to(back)
        chosen = []
        for request_id in data["ids"][:100]:
            try:
                chosen.append(tk.get_action("dgaaccounts_request_show")(
                    context(), {"id": request_id}))
            except (tk.ObjectNotFound, tk.NotAuthorized, tk.ValidationError):
                continue  # nothing shown of a request the reader may not see
        ask_role = data["decision"] == "approve" and any(
            r["kind"] == workflow.AGENCY for r in chosen)  # the role an officer gets
        return tk.render(template, dict(extra, data=data, chosen=chosen, ask_role=ask_role))
    result = run("dgaaccounts_requests_decide", data)
    if result is None:
        return tk.redirect_to(back)
    if result["decided"]:
        tk.h.flash_success(tk.ungettext(
            "%(num)s request decided. Each applicant will be emailed.",
            "%(num)s requests decided. Each applicant will be emailed.",
            result["decided"]) % {"num": result["decided"]})
    for item in result["results"]:
        if not item["success"]:
            tk.h.flash_error(tk._("%(ref)s was not decided: %(error)s") % {
                "ref": item["reference"] or item["id"], "error": item["error"]})
    return tk.redirect_to(back)


def _decision_confirmed(id: str, decision: str) -> bool:
    """An irreversible decision made on the page needs its confirmation box ticked (the API,
    used by scripts, does not ask). A rejection without a reason goes on to the action, which
    refuses it with its own message and changes nothing."""
    form = request.form
    if form.get("confirm") == "yes":
        return True
    if decision == "reject" and not form.get("reason", "").strip():
        return True
    return not workflow.needs_confirmation(show_request(id)["kind"], decision)


# -- service report, audit log and exports --------------------------------------------------

_AUDIT_FILTERS = ("request_id", "user_id", "actor", "action", "since", "until")


def _page(action: str, filters: dict[str, Any], limit: int,
          params: dict[str, Any] | None = None) -> dict[str, Any]:
    """One page (``?page=``) of a list action, for a template with a pager; a filter the
    action refuses is flashed and shows an empty page. ``filters`` are the page's (its links
    keep them), ``params`` what the action is given if they differ."""
    page = _page_number()
    try:
        result = tk.get_action(action)(
            context(), dict(params or filters, limit=limit, offset=(page - 1) * limit))
    except tk.ValidationError as e:
        flash_errors(e)
        result = {"count": 0, "results": []}
    pages = max((result["count"] + limit - 1) // limit, 1)
    return {"result": result, "filters": filters, "page": page, "pages": pages}


_MAX_PAGE = 1_000_000


def _page_number() -> int:
    """The ``?page=`` argument: a whole number from 1 to ``_MAX_PAGE`` (1 if absent); anything
    else is a bad request (400), never a database error."""
    raw = request.args.get("page", "").strip()
    if not raw:
        return 1
    if not re.fullmatch(r"0*[1-9][0-9]{0,6}", raw) or int(raw) > _MAX_PAGE:
        return tk.abort(400, tk._("The page number must be a whole number from 1 to "
                                  "%(n)s.") % {"n": _MAX_PAGE})
    return int(raw)


def _args(names: tuple[str, ...]) -> dict[str, str]:
    return {k: request.args[k].strip() for k in names if request.args.get(k, "").strip()}


@dgaaccounts_admin.route("/report")
def report() -> str:
    filters = _args(("since", "until", "period"))
    action = tk.get_action("dgaaccounts_sla_report")
    try:
        result = action(context(), dict(filters))
    except tk.ValidationError as e:
        flash_errors(e)
        result = action(context(), {"period": filters.get("period", "week")}
                        if filters.get("period") in ("week", "month") else {})
    return tk.render("dgaaccounts/admin/report.html", {"report": result, "filters": filters})


@dgaaccounts_admin.route("/audit")
def audit() -> str:
    return tk.render("dgaaccounts/admin/audit.html",
                     _page("dgaaccounts_audit_list", _args(_AUDIT_FILTERS), 50))


def _csv(action: str, filters: dict[str, str]) -> Response | None:
    """The export streamed as a CSV download; None (the refusal flashed) for bad filters."""
    try:
        export = tk.get_action(action)(housekeeping.streaming(context()), dict(filters))
    except tk.ValidationError as e:
        flash_errors(e)
        return None
    return _csv_response(export["filename"], export["chunks"])


def _csv_response(filename: str, chunks: Any) -> Response:
    response = Response(chunks, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@dgaaccounts_admin.route("/export/requests.csv")
def export_requests() -> Any:
    response = _csv("dgaaccounts_requests_export", _args(("since", "until", "by", "kind")))
    if response is None:
        return tk.redirect_to("dgaaccounts_admin.report")
    return response


@dgaaccounts_admin.route("/export/organizations.csv")
def export_organizations() -> Any:
    try:
        export = exports.organizations_csv(context(), _args(("since", "until", "kind")))
    except tk.ValidationError as e:
        flash_errors(e)
        return tk.redirect_to("dgaaccounts_admin.report")
    return _csv_response(export.filename, export.chunks)


@dgaaccounts_admin.route("/export/audit.csv")
def export_audit() -> Any:
    filters = _args(_AUDIT_FILTERS)
    response = _csv("dgaaccounts_audit_export", filters)
    if response is None:
        return tk.redirect_to("dgaaccounts_admin.audit", **filters)
    return response
