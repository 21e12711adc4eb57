"""Decisions from the email: the page a decision link of a notification opens
(``/dgaaccounts/decide/<request id>/<event>``, mail.decide_links). Thin: check, render, call
the decision's action, redirect.

* GET never changes anything: it needs a signed-in approver (anonymous: CKAN's login, then back
  here), shows the request's summary and the decision, and asks for what the decision needs
  (a reason to reject, return or decline; the role of an approved officer; a tick for what
  cannot be undone). A decision already taken shows by whom and when, without a form.
* POST (CSRF) calls the decision's own action (``dgaaccounts_request_approve`` ...) as the
  signed-in user, which checks access and re-checks everything under lock (recheck.py); then
  the review page, with a flash.

The link carries no secret: whoever opens it must sign in and be allowed to decide.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, request

import ckan.model as model
from ckan.common import current_user
from ckan.plugins import toolkit as tk

from . import approval, workflow
from .model import Request
from .views_admin import _decision_confirmed
from .views_common import check_csrf as _check_csrf
from .views_common import context as _context
from .views_common import flash_errors as _flash_errors
from .views_common import server_error as _server_error

dgaaccounts_decide = Blueprint("dgaaccounts_decide", __name__, url_prefix="/dgaaccounts/decide")
dgaaccounts_decide.register_error_handler(Exception, _server_error)

# Each decision a link may name, and its action (the auth and the rules are the action's).
_ACTIONS = {event: workflow.ACTIONS[event] for event in approval.DECISIONS + approval.ENDORSEMENTS}
# The decisions that need a reason (the applicant, or the sysadmins, read it).
_NEEDS_REASON = ("reject", "return", "decline")


@dgaaccounts_decide.before_request
def _checked() -> Any:
    # CKAN 2.12 may leave extension views exempt from its CSRF check: check it here.
    if not tk.g.get("login_via_auth_header"):
        _check_csrf()
    return None


@dgaaccounts_decide.route("/<request_id>/<event>", methods=["GET", "POST"])
def decide(request_id: str, event: str) -> Any:
    if event not in _ACTIONS:
        return tk.abort(404, tk._("There is no such decision."))
    if not current_user.is_authenticated:
        if request.method == "POST":
            return tk.abort(403, tk._("Sign in to decide on requests."))
        # Back to this page after the sign-in, in the language of the link.
        return tk.redirect_to("user.login", came_from=tk.h.url_for(
            "dgaaccounts_decide.decide", request_id=request_id, event=event))
    req = model.Session.get(Request, request_id)
    if req is None:
        return tk.abort(404, tk._("Request not found."))
    try:
        shown = tk.get_action("dgaaccounts_request_show")(_context(), {"id": request_id})
    except tk.ObjectNotFound:
        return tk.abort(404, tk._("Request not found."))
    except tk.NotAuthorized:
        return tk.abort(403, tk._("You cannot decide on this request: only the portal's "
                                  "sysadmins, and the admins of its organization where its "
                                  "approval mode gives them a part, decide on it."))
    if event not in workflow.allowed_events(req):
        return _closed(shown, event)
    user = model.User.get(current_user.id)
    refusal = approval.refusal(user, req, event, {"role": approval.DELEGATED_ROLES[0]}
                               if event == "approve" else None)
    if refusal:
        return tk.abort(403, refusal)
    assert user is not None  # refusal() refuses anyone not signed in
    if request.method == "POST":
        return _post(req, shown, event, user)
    return _page(shown, event, user)


def _page(shown: dict[str, Any], event: str, user: model.User) -> str:
    return tk.render("dgaaccounts/decide.html", {
        "req": shown, "event": event, "label": _label(event), "closed": None,
        "needs_reason": event in _NEEDS_REASON,
        "roles": _roles(shown, event, user),
        "needs_organization": (event == "approve" and shown["kind"] == workflow.AGENCY
                               and not shown["organization_id"]),
        "organization": _organization_title(shown["organization_id"]),
        "confirm": workflow.needs_confirmation(shown["kind"], event),
        "review_url": _review_url(shown, user),
    })


def _label(event: str) -> str:
    return {"approve": tk._("Approve"), "return": tk._("Return for correction"),
            "reject": tk._("Reject"), "endorse": tk._("Endorse"),
            "decline": tk._("Decline")}[event]


def _roles(shown: dict[str, Any], event: str, user: model.User) -> tuple[str, ...]:
    """The roles the approver may give an approved officer (none for other decisions)."""
    if event != "approve" or shown["kind"] != workflow.AGENCY:
        return ()
    return ("editor", "member", "admin") if user.sysadmin else tuple(
        reversed(approval.DELEGATED_ROLES))


def _closed(shown: dict[str, Any], event: str) -> str:
    """The decision cannot be taken now: who decided, and when, if someone did."""
    done = [e for e in shown.get("history") or []
            if e["action"] in approval.DECISIONS + approval.ENDORSEMENTS]
    last = done[-1] if done else None
    if event in approval.ENDORSEMENTS and shown.get("endorsement"):
        last = next((e for e in reversed(done) if e["action"] in approval.ENDORSEMENTS), last)
    return tk.render("dgaaccounts/decide.html", {
        "req": shown, "event": event, "label": _label(event), "closed": last or {},
        "organization": _organization_title(shown["organization_id"]),
        "review_url": _review_url(shown, model.User.get(current_user.id)),
    })


def _post(req: Request, shown: dict[str, Any], event: str, user: model.User) -> Any:
    form = request.form
    data: dict[str, Any] = {"id": req.id, **{
        k: form[k] for k in ("note", "reason", "role") if form.get(k, "").strip()}}
    back = tk.h.url_for("dgaaccounts_decide.decide", request_id=req.id, event=event)
    if event == "approve" and req.kind == workflow.AGENCY:
        if not req.organization_id:  # the review page has the organizations to choose from
            return tk.redirect_to(_review_url(shown, user))
        data["organization"] = req.organization_id
    if event in _NEEDS_REASON and not data.get("reason"):
        tk.h.flash_error(tk._("Nothing was changed: give the reason for this decision."))
        return tk.redirect_to(back)
    if not _decision_confirmed(req.id, event):
        tk.h.flash_error(tk._("Nothing was changed: tick the box to confirm that you have read "
                              "what this decision will do."))
        return tk.redirect_to(back)
    try:
        tk.get_action(_ACTIONS[event])(_context(), data)
    except tk.ValidationError as e:
        _flash_errors(e)
        return tk.redirect_to(back)
    except tk.NotAuthorized as e:
        return tk.abort(403, str(e) or tk._("Not authorized to decide on this request."))
    except tk.ObjectNotFound:
        return tk.abort(404, tk._("Request not found."))
    tk.h.flash_success(tk._("Endorsement recorded. The portal's sysadmins will be emailed.")
                       if event in approval.ENDORSEMENTS else
                       tk._("Decision recorded. The applicant will be emailed."))
    return tk.redirect_to(_review_url(shown, user))


def _review_url(shown: dict[str, Any], user: model.User | None) -> str:
    """The review page the approver works from: the sysadmins' or the organization's."""
    url: str
    if user is not None and user.sysadmin or not shown.get("organization_id"):
        url = tk.h.url_for("dgaaccounts_admin.admin_request", id=shown["id"])
        return url
    org = model.Session.get(model.Group, shown["organization_id"])
    assert org is not None  # the request's organization_id is a foreign key
    url = tk.h.url_for("dgaaccounts_org.review", id=org.name, request_id=shown["id"])
    return url


def _organization_title(organization_id: str | None) -> str:
    org = model.Session.get(model.Group, organization_id) if organization_id else None
    return (org.title or org.name) if org is not None else ""
