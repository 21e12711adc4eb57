"""Pages of approval delegated to agencies (approval.py). Thin: read the form, call the action,
render or redirect.

* ``dgaaccounts_org``: an organization's queue of account requests, a tab of its pages
  (``/organization/requests/<org>``), the review page of one request and its decisions, for the
  organization's admins (in the ``endorse`` and ``delegated`` modes) and sysadmins;
* on the sysadmins' blueprint: the approval mode of each organization
  (``/ckan-admin/dgaaccounts/approval-modes``).
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from ckan.common import current_user
from ckan.plugins import toolkit as tk

from . import approval, views_admin, workflow
from .views_admin import _decision_confirmed, _page, dgaaccounts_admin
from .views_common import (
    check_csrf as _check_csrf, context as _context, flash_errors as _flash_errors,
    server_error as _server_error, sign_in_first,
)

dgaaccounts_org = Blueprint("dgaaccounts_org", __name__, url_prefix="/organization/requests")
dgaaccounts_org.register_error_handler(Exception, _server_error)

# What an organization's admins may decide on their organization's page (workflow.ACTIONS names
# the actions), and the roles they may grant (at most editor: approval.DELEGATED_ROLES).
DECISIONS = ("endorse", "decline", "approve", "return", "reject")
ROLES = tuple(role for role in views_admin.ROLES if role in approval.DELEGATED_ROLES)


@dgaaccounts_org.before_request
def _signed_in_with_csrf() -> Any:
    signing_in = sign_in_first()
    if signing_in is not None:
        return signing_in
    if not current_user.is_authenticated:
        tk.abort(403, tk._("Sign in to see the account requests of your organization."))
    # As the sysadmins' pages: CKAN 2.12 may leave extension views exempt from its CSRF check.
    if not tk.g.get("login_via_auth_header"):
        _check_csrf()
    return None


def _organization(id: str) -> dict[str, Any]:
    """The organization of the page, as CKAN's own organization pages read it."""
    try:
        org: dict[str, Any] = tk.get_action("organization_show")(
            _context(), {"id": id, "include_datasets": False, "include_users": False})
    except (tk.ObjectNotFound, tk.NotAuthorized):
        return tk.abort(404, tk._("Organization not found"))
    return org


@dgaaccounts_org.route("/<id>")
def queue(id: str) -> str:
    org = _organization(id)
    args = request.args
    filters: dict[str, Any] = {k: args.get(k) for k in ("kind", "state", "q") if args.get(k)}
    if args.get("overdue"):
        filters["overdue"] = True
    try:
        tk.check_access("dgaaccounts_request_list", _context(), {"organization": org["id"]})
    except tk.NotAuthorized:
        return tk.abort(403, tk._("Only the admins of this organization see its account "
                                  "requests, and only where its approval mode gives them a part "
                                  "in the decision."))
    page = _page("dgaaccounts_request_list", dict(filters, organization=org["id"]), 20)
    page["filters"] = filters  # the pager's links: the organization is in the path
    return tk.render("dgaaccounts/org_queue.html", dict(
        page, group_dict=org, group_type="organization",
        mode=approval.mode_for(org["id"]), kinds=workflow.KINDS, states=workflow.STATES))


@dgaaccounts_org.route("/<id>/decide", methods=["POST"])
def decide_bulk(id: str) -> Any:
    """The organization admins' bulk decision (mode ``delegated``): the same confirmation page
    and action as the sysadmins'; each request checked on its own."""
    org = _organization(id)
    return views_admin.decide_bulk("dgaaccounts/org_bulk_confirm.html", {
        "group_dict": org, "group_type": "organization", "roles": ROLES},
        tk.url_for("dgaaccounts_org.queue", id=org["name"]))


@dgaaccounts_org.route("/<id>/<request_id>")
def review(id: str, request_id: str) -> str:
    org = _organization(id)
    req = _show(org, request_id)
    return tk.render("dgaaccounts/org_request.html", {
        "group_dict": org, "group_type": "organization", "req": req,
        "mode": approval.mode_for(org["id"]),
        "events": [e for e in req["allowed_events"] if e in DECISIONS],
        "roles": ROLES,
    })


def _show(org: dict[str, Any], request_id: str) -> dict[str, Any]:
    try:
        req: dict[str, Any] = tk.get_action("dgaaccounts_request_show")(
            _context(), {"id": request_id})
    except tk.ObjectNotFound:
        return tk.abort(404, tk._("Request not found."))
    except tk.NotAuthorized:
        return tk.abort(403, tk._("Not authorized to see this request."))
    if req["organization_id"] != org["id"]:  # each request under its own organization only
        return tk.abort(404, tk._("Request not found."))
    return req


@dgaaccounts_org.route("/<id>/<request_id>/<decision>", methods=["POST"])
def decide(id: str, request_id: str, decision: str) -> Any:
    org = _organization(id)
    _show(org, request_id)  # who may not see the request learns nothing more
    if decision not in DECISIONS:
        return tk.abort(404)
    form = request.form
    data: dict[str, Any] = {"id": request_id, **{
        k: form[k] for k in ("note", "reason", "role") if form.get(k)}}
    if decision == "approve":
        data["organization"] = org["id"]  # an organization admin approves into their own
    if not _decision_confirmed(request_id, decision):
        tk.h.flash_error(tk._("Nothing was changed: tick the box to confirm that you have read "
                              "what this decision will do."))
        return tk.redirect_to("dgaaccounts_org.review", id=id, request_id=request_id)
    try:
        tk.get_action(workflow.ACTIONS[decision])(_context(), data)
    except tk.ValidationError as e:
        _flash_errors(e)
    except tk.NotAuthorized as e:
        return tk.abort(403, str(e) or tk._("Not authorized to decide on this request."))
    else:
        tk.h.flash_success(tk._("Endorsement recorded. The portal's sysadmins will be emailed.")
                           if decision in approval.ENDORSEMENTS else
                           tk._("Decision recorded. The applicant will be emailed."))
    return tk.redirect_to("dgaaccounts_org.review", id=id, request_id=request_id)


# -- the sysadmins' page of approval modes -----------------------------------------------------

@dgaaccounts_admin.route("/approval-modes")
def approval_modes() -> str:
    args = request.args
    filters = {k: args[k].strip() for k in ("q", "mode") if args.get(k, "").strip()}
    page = _page("dgaaccounts_approval_mode_list", filters, 50)
    return tk.render("dgaaccounts/org_approval_modes.html", dict(page, modes=approval.MODES))


@dgaaccounts_admin.route("/approval-modes/<organization>", methods=["POST"])
def approval_mode_update(organization: str) -> Any:
    mode = request.form.get("mode", "")
    try:
        result = tk.get_action("dgaaccounts_approval_mode_update")(
            _context(), {"organization": organization, "mode": mode})
    except tk.ValidationError as e:
        _flash_errors(e)
    else:
        tk.h.flash_success(tk._("%(org)s: requests are now decided in the mode %(mode)s.") % {
            "org": result["organization_title"] or result["organization_name"],
            "mode": approval.mode_label(result["mode"])})
    back = {k: v for k, v in request.form.items() if k in ("q", "page") and v}
    return tk.redirect_to("dgaaccounts_admin.approval_modes", **back)
