"""Web pages. Thin: read the form, call the action, render or redirect."""
from __future__ import annotations

import logging
import urllib.parse
from typing import Any

from flask import Blueprint, Response, current_app, send_file, session
from flask_wtf.csrf import CSRFError, validate_csrf

import ckan.model as model
from ckan.common import current_user
from ckan.lib import captcha
from ckan.plugins import toolkit as tk
from ckan.types import Context

from . import account, exports, pdf, ratelimit, storage, workflow
from .model import Document, Request, utcnow

log = logging.getLogger(__name__)

dgaaccounts = Blueprint("dgaaccounts", __name__)
dgaaccounts_admin = Blueprint("dgaaccounts_admin", __name__, url_prefix="/ckan-admin/dgaaccounts")

_SESSION_KEY = "dgaaccounts_applicant"
_FORM_FIELDS = ("name", "fullname", "email", "password", "organization", "agency_name",
                "position", "phone", "superior_name", "superior_position")


@dgaaccounts.before_request
def _check_csrf() -> None:
    # CKAN never checks anonymous POSTs for CSRF; our registration, verification and upload
    # forms are anonymous, so they check the token themselves.
    if tk.request.method == "POST" and current_app.config.get("WTF_CSRF_ENABLED", True):
        field = current_app.config.get("WTF_CSRF_FIELD_NAME") or "_csrf_token"
        try:
            validate_csrf(tk.request.form.get(field))
        except CSRFError:
            tk.abort(400, tk._("The form has expired. Reload the page and try again."))
        except Exception:  # flask_wtf raises ValidationError for a missing or bad token
            tk.abort(400, tk._("The form has expired. Reload the page and try again."))


def _context() -> Context:
    return {"user": current_user.name if current_user.is_authenticated else ""}


# -- registration ------------------------------------------------------------------------

@dgaaccounts.route("/user/register", endpoint="core_register", methods=["GET", "POST"])
def core_register() -> Response:
    # Registered before CKAN's own blueprint, so it takes over /user/register: no account is
    # ever created outside the workflows.
    return tk.redirect_to("dgaaccounts.register")


@dgaaccounts.route("/user/reset", endpoint="core_request_reset", methods=["POST"])
def core_request_reset() -> Response:
    # Takes over the POST of CKAN's "forgot password" form: CKAN sends the email while the
    # visitor waits, and its answer then differs when the mail server is down, which tells
    # a known account from an unknown one. Here the email goes to the outbox, and the answer
    # is always the same. The reset link is CKAN's own (user.reset_key, CKAN's reset page).
    try:
        tk.check_access("request_reset", _context())
    except tk.NotAuthorized:
        return tk.abort(403, tk._("Unauthorized to request reset password."))
    try:
        captcha.check_recaptcha(tk.request)
    except captcha.CaptchaError:
        tk.h.flash_error(tk._("Bad Captcha. Please try again."))
        return tk.redirect_to("user.request_reset")
    wanted = (tk.request.form.get("user") or "").strip()
    if not wanted:
        tk.h.flash_error(tk._("Email is required"))
        return tk.redirect_to("user.request_reset")
    try:
        ratelimit.hit("reset", wanted.lower())
    except tk.ValidationError as e:
        _flash_errors(e)
        return tk.redirect_to("user.request_reset")
    account.send_password_reset(wanted)
    tk.h.flash_success(tk._(
        "A reset link has been emailed to you (unless the account specified does not exist)"))
    return tk.redirect_to(tk.config.get("ckan.user_reset_landing_page") or "home.index")


@dgaaccounts.route("/dgaaccounts/register")
def register() -> str:
    return tk.render("dgaaccounts/register_choose.html")


@dgaaccounts.route("/dgaaccounts/register/agency", methods=["GET", "POST"])
def register_agency() -> Any:
    if tk.request.method == "GET":
        return _render_agency_form({}, {})
    form = {k: tk.request.form.get(k, "") for k in _FORM_FIELDS}
    data: dict[str, Any] = dict(form)
    upload = tk.request.files.get("signed_form")
    if upload is not None and upload.filename:
        data["signed_form"] = upload
    try:
        result = tk.get_action("dgaaccounts_agency_register")(_context(), data)
    except tk.ValidationError as e:
        form["password"] = ""
        return _render_agency_form(form, e.error_dict)
    session["dgaaccounts_registered"] = result["reference"]
    return tk.redirect_to("dgaaccounts.registered")


def _field_labels() -> dict[str, str]:
    return {
        "name": tk._("Username"), "fullname": tk._("Full name"), "email": tk._("Email"),
        "password": tk._("Password"), "organization": tk._("Agency on the portal"),
        "agency_name": tk._("Agency name"), "position": tk._("Your position"),
        "phone": tk._("Phone"), "superior_name": tk._("Superior's name"),
        "superior_position": tk._("Superior's position"),
        "signed_form": tk._("Signed application form"), "purpose": tk._("Purpose"),
        "rate_limit": tk._("Attempts"), "kind": tk._("Request"), "reason": tk._("Reason"),
    }


def _error_summary(errors: dict[str, Any]) -> dict[str, str]:
    labels = _field_labels()
    return {labels.get(k, k): ", ".join(str(m) for m in v) for k, v in errors.items()
            if isinstance(v, list)}


def _render_agency_form(data: dict[str, Any], errors: dict[str, Any]) -> str:
    return tk.render("dgaaccounts/register_agency.html", {
        "data": data, "errors": errors, "error_summary": _error_summary(errors),
    })


@dgaaccounts.route("/dgaaccounts/register/developer", methods=["GET", "POST"])
def register_developer() -> Any:
    fields = ("name", "fullname", "email", "password", "purpose")
    if tk.request.method == "GET":
        return tk.render("dgaaccounts/register_developer.html",
                         {"data": {}, "errors": {}, "error_summary": {}})
    data = {k: tk.request.form.get(k, "") for k in fields}
    try:
        tk.get_action("dgaaccounts_developer_register")(_context(), dict(data))
    except tk.ValidationError as e:
        data["password"] = ""
        return tk.render("dgaaccounts/register_developer.html", {
            "data": data, "errors": e.error_dict, "error_summary": _error_summary(e.error_dict)})
    session.pop("dgaaccounts_registered", None)
    return tk.redirect_to("dgaaccounts.registered")


@dgaaccounts.route("/dgaaccounts/register/sent")
def registered() -> str:
    return tk.render("dgaaccounts/registered.html",
                     {"reference": session.get("dgaaccounts_registered")})


@dgaaccounts.route("/dgaaccounts/verify/<token>", methods=["GET", "POST"])
def verify(token: str) -> Any:
    # A GET only shows a button: mail scanners fetch links, and must not use up the token.
    if tk.request.method == "GET":
        return tk.render("dgaaccounts/verify.html", {"token": token})
    try:
        result = tk.get_action("dgaaccounts_email_verify")(_context(), {"token": token})
    except tk.ValidationError:
        return tk.render("dgaaccounts/verify.html", {"token": None, "invalid": True})
    if result.get("applicant_token"):
        _remember_applicant(result["request_id"], result["applicant_token"])
        tk.h.flash_success(tk._("Your email address is confirmed."))
        return tk.redirect_to("dgaaccounts.request_read", id=result["request_id"])
    _sign_in(model.Session.get(Request, result["request_id"]).user_id)
    return tk.render("dgaaccounts/verified_developer.html", {"result": result})


@dgaaccounts.route("/dgaaccounts/resend", methods=["GET", "POST"])
def resend() -> Any:
    if tk.request.method == "POST":
        try:
            result = tk.get_action("dgaaccounts_verification_resend")(
                _context(), {"email": tk.request.form.get("email", "")})
        except tk.ValidationError as e:
            return tk.render("dgaaccounts/resend.html", {"errors": e.error_dict})
        tk.h.flash_success(result["message"])
        return tk.redirect_to("dgaaccounts.resend")
    return tk.render("dgaaccounts/resend.html", {"errors": {}})


def explain_pending_login(identity: dict[str, Any]) -> None:
    """Tell an applicant who signs in with the right password why the account is not open yet.

    Only with the right password, so the message reveals nothing to someone guessing.
    """
    login, password = identity.get("login"), identity.get("password")
    if not login or not password:
        return
    user = model.User.by_name(login) or model.User.by_email(login)
    if user is None or user.state != "pending" or not user.validate_password(password):
        return
    if account.is_suspended(user):
        tk.h.flash_notice(tk._(
            "Your account is suspended. Contact the portal administrators to reactivate it."))
        return
    req = model.Session.query(Request).filter(
        Request.user_id == user.id, Request.state.in_(workflow.OPEN_STATES)
    ).order_by(Request.created.desc()).first()
    if req is None:
        return
    if req.state == workflow.AWAITING_VERIFICATION:
        tk.h.flash_notice(tk._(
            "Your email address is not confirmed yet. Open the link we emailed you, or ask "
            "for a new one on the page \"Did not get the verification email?\"."))
    else:
        tk.h.flash_notice(tk._(
            "Your account is waiting for the approval of your application. Follow it with the "
            "link in our emails."))


def _sign_in(user_id: str) -> None:
    # The same steps as CKAN's own login view: a new session, then the user.
    from ckan.views.user import regenerate_session  # not in the toolkit (2.11, 2.12)

    regenerate_session()
    tk.login_user(model.User.get(user_id))


# -- the applicant's request page ----------------------------------------------------------

def _remember_applicant(request_id: str, token: str) -> None:
    grants = dict(session.get(_SESSION_KEY) or {})
    grants[request_id] = token
    session[_SESSION_KEY] = grants


def _applicant_token(request_id: str) -> str | None:
    return (session.get(_SESSION_KEY) or {}).get(request_id)


def _show(request_id: str) -> dict[str, Any]:
    try:
        return tk.get_action("dgaaccounts_request_show")(
            _context(), {"id": request_id, "token": _applicant_token(request_id)})
    except tk.ObjectNotFound:
        return tk.abort(404, tk._("Request not found."))
    except tk.NotAuthorized:
        return tk.abort(403, tk._("Not authorized to see this request."))


@dgaaccounts.route("/dgaaccounts/request/<id>")
def request_read(id: str) -> Any:
    token = tk.request.args.get("token")
    if token:
        # The link from an email: keep the token in the session and drop it from the address.
        _remember_applicant(id, token)
        return tk.redirect_to("dgaaccounts.request_read", id=id)
    req = _show(id)
    return tk.render("dgaaccounts/request_read.html", {"req": req})


@dgaaccounts.route("/dgaaccounts/request/<id>/form.pdf")
def request_form(id: str) -> Response:
    req = _show(id)
    user = model.User.get(req["user_id"])
    details = req["details"]
    if req["kind"] == workflow.AGENCY:
        org = req.get("organization") or {}
        body = pdf.application_form_pdf({
            "reference": req["reference"], "fullname": user.fullname, "username": user.name,
            "email": req["email"], "phone": details.get("phone"),
            "position": details.get("position"),
            "agency": org.get("title") or details.get("agency_name"),
            "superior_name": details.get("superior_name"),
            "superior_position": details.get("superior_position"), "issued": utcnow().date(),
        })
    elif req["kind"] in (workflow.CANCELLATION, workflow.SUSPENSION):
        officer = _officer_details(user.id)
        body = pdf.cancellation_form_pdf({
            "reference": req["reference"], "kind": req["kind"], "fullname": user.fullname,
            "username": user.name, "email": user.email, "reason": details.get("reason"),
            "memberships": [tuple(m) for m in details.get("memberships") or []],
            "issued": utcnow().date(), "with_superior": officer is not None,
            "superior_name": (officer or {}).get("superior_name"),
            "superior_position": (officer or {}).get("superior_position"),
        })
    else:
        return tk.abort(404, tk._("This request has no form."))
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{req["reference"]}.pdf"')
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _officer_details(user_id: str) -> dict[str, Any] | None:
    """The details of the user's approved agency registration, if they are an officer."""
    req = model.Session.query(Request).filter(
        Request.user_id == user_id, Request.kind == workflow.AGENCY,
        Request.state == workflow.APPROVED).order_by(Request.decided.desc()).first()
    return dict(req.details or {}) if req is not None else None


@dgaaccounts.route("/dgaaccounts/account/close", methods=["GET", "POST"])
def account_close() -> Any:
    if not current_user.is_authenticated:
        return tk.redirect_to("user.login", came_from=tk.h.url_for("dgaaccounts.account_close"))
    open_request = model.Session.query(Request.id).filter(
        Request.user_id == current_user.id,
        Request.kind.in_((workflow.CANCELLATION, workflow.SUSPENSION)),
        Request.state.in_(workflow.OPEN_STATES)).scalar()
    data = {k: tk.request.form.get(k, "") for k in ("kind", "reason")}
    errors: dict[str, Any] = {}
    if tk.request.method == "POST":
        try:
            req = tk.get_action("dgaaccounts_cancellation_request_create")(_context(), dict(data))
        except tk.ValidationError as e:
            errors = e.error_dict
        else:
            return tk.redirect_to("dgaaccounts.request_read", id=req["id"])
    return tk.render("dgaaccounts/account_close.html", {
        "data": data, "errors": errors, "error_summary": _error_summary(errors),
        "open_request": open_request,
    })


@dgaaccounts.route("/dgaaccounts/request/<id>/upload", methods=["POST"])
def request_upload(id: str) -> Any:
    data = {"id": id, "token": _applicant_token(id),
            "signed_form": tk.request.files.get("signed_form")}
    try:
        tk.get_action("dgaaccounts_request_document_upload")(_context(), data)
    except tk.ValidationError as e:
        _flash_errors(e)
    except tk.ObjectNotFound:
        return tk.abort(404, tk._("Request not found."))
    except tk.NotAuthorized:
        return tk.abort(403, tk._("Not authorized to see this request."))
    else:
        tk.h.flash_success(tk._("Thank you. Your signed form was sent for review."))
    return tk.redirect_to("dgaaccounts.request_read", id=id)


@dgaaccounts.route("/dgaaccounts/request/<id>/withdraw", methods=["POST"])
def request_withdraw(id: str) -> Any:
    try:
        tk.get_action("dgaaccounts_request_withdraw")(
            _context(), {"id": id, "token": _applicant_token(id)})
    except tk.ValidationError as e:
        _flash_errors(e)
    except tk.ObjectNotFound:
        return tk.abort(404, tk._("Request not found."))
    except tk.NotAuthorized:
        return tk.abort(403, tk._("Not authorized to see this request."))
    else:
        tk.h.flash_success(tk._("Your request was withdrawn."))
    return tk.redirect_to("dgaaccounts.request_read", id=id)


@dgaaccounts.route("/dgaaccounts/request/<id>/document/<document_id>")
def document(id: str, document_id: str) -> Response:
    context = _context()
    try:
        tk.check_access("dgaaccounts_document_download", context,
                        {"id": id, "token": _applicant_token(id)})
    except tk.NotAuthorized:
        return tk.abort(403, tk._("Not authorized to see this request."))
    doc = model.Session.query(Document).filter(
        Document.id == document_id, Document.request_id == id, Document.purged.is_(None)
    ).one_or_none()
    if doc is None:
        return tk.abort(404, tk._("Document not found."))
    store = storage.get_store()
    if not store.exists(doc.storage_key):
        log.error("document %s of request %s is missing from storage", doc.id, id)
        return tk.abort(404, tk._("Document not found."))
    disposition = "attachment" if tk.request.args.get("download") else "inline"
    response = send_file(store.path(doc.storage_key), mimetype=doc.mimetype,
                         conditional=False, etag=False, max_age=0)
    quoted = urllib.parse.quote(doc.original_name)
    response.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quoted}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src 'self'; object-src 'self'; plugin-types application/pdf; "
        "frame-ancestors 'self'")
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


# -- the sysadmins' queue ------------------------------------------------------------------

@dgaaccounts_admin.before_request
def _sysadmins_only() -> None:
    try:
        tk.check_access("sysadmin", _context())
    except tk.NotAuthorized:
        tk.abort(403, tk._("Need to be system administrator to administer"))
    # CKAN 2.12 can leave these views exempt from its CSRF check for the rest of the process
    # once a request signed in by API token has reached them: check browser sessions here too.
    if not tk.g.get("login_via_auth_header"):
        _check_csrf()


@dgaaccounts_admin.route("/")
def queue() -> str:
    args = tk.request.args
    filters: dict[str, Any] = {k: args.get(k) for k in ("kind", "state", "q") if args.get(k)}
    if args.get("overdue"):
        filters["overdue"] = True
    return tk.render("dgaaccounts/admin/queue.html", dict(
        _page("dgaaccounts_request_list", filters, 20),
        kinds=workflow.KINDS, states=workflow.STATES))


@dgaaccounts_admin.route("/request/<id>")
def admin_request(id: str) -> str:
    req = _show(id)
    orgs = model.Session.query(model.Group).filter(
        model.Group.is_organization.is_(True), model.Group.state == "active"
    ).order_by(model.Group.title).all()
    user = model.User.get(req["user_id"])
    return tk.render("dgaaccounts/admin/request.html", {
        "req": req, "organizations": orgs,
        "events": workflow.allowed_events(_request_row(id)),
        "suspended": user is not None and user.state == "pending" and account.is_suspended(user),
    })


def _request_row(id: str) -> Request:
    return model.Session.get(Request, id)


@dgaaccounts_admin.route("/user/<id>/reactivate", methods=["POST"])
def admin_reactivate(id: str) -> Any:
    try:
        tk.get_action("dgaaccounts_user_reactivate")(_context(), {"id": id})
    except tk.ValidationError as e:
        _flash_errors(e)
    except tk.ObjectNotFound:
        return tk.abort(404, tk._("User not found."))
    else:
        tk.h.flash_success(tk._("The account is active again. The user will be emailed."))
    back = tk.request.form.get("request_id")
    if back:
        return tk.redirect_to("dgaaccounts_admin.admin_request", id=back)
    return tk.redirect_to("dgaaccounts_admin.queue")


@dgaaccounts_admin.route("/request/<id>/<decision>", methods=["POST"])
def admin_decide(id: str, decision: str) -> Any:
    actions = {"approve": "dgaaccounts_request_approve", "reject": "dgaaccounts_request_reject",
               "return": "dgaaccounts_request_return"}
    if decision not in actions:
        return tk.abort(404)
    form = tk.request.form
    data = {"id": id, **{k: form[k] for k in ("note", "reason", "organization", "role")
                         if form.get(k)}}
    try:
        tk.get_action(actions[decision])(_context(), data)
    except tk.ValidationError as e:
        _flash_errors(e)
    except tk.ObjectNotFound:
        return tk.abort(404, tk._("Request not found."))
    else:
        tk.h.flash_success(tk._("Decision recorded. The applicant will be emailed."))
    return tk.redirect_to("dgaaccounts_admin.admin_request", id=id)


# -- service report, audit log and exports --------------------------------------------------

_AUDIT_FILTERS = ("request_id", "user_id", "actor", "action", "since", "until")


def _page(action: str, filters: dict[str, Any], limit: int) -> dict[str, Any]:
    """One page (``?page=``) of a list action, for a template with a pager; a filter the
    action refuses is flashed and shows an empty page."""
    try:
        page = max(int(tk.request.args.get("page", 1)), 1)
    except ValueError:
        page = 1
    try:
        result = tk.get_action(action)(
            _context(), dict(filters, limit=limit, offset=(page - 1) * limit))
    except tk.ValidationError as e:
        _flash_errors(e)
        result = {"count": 0, "results": []}
    pages = max((result["count"] + limit - 1) // limit, 1)
    return {"result": result, "filters": filters, "page": page, "pages": pages}


def _args(names: tuple[str, ...]) -> dict[str, str]:
    return {k: tk.request.args[k].strip() for k in names if tk.request.args.get(k, "").strip()}


def _flash_errors(error: tk.ValidationError) -> None:
    labels = {"since": tk._("From"), "until": tk._("To"), "period": tk._("Per"),
              "kind": tk._("Kind"), "by": tk._("Dates"), "action": tk._("Event"),
              "request_id": tk._("Request"), "user_id": tk._("About user"), "actor": tk._("By")}
    tk.h.flash_error(" ".join(
        f"{labels.get(k, k)}: {', '.join(str(m) for m in v)}"
        for k, v in error.error_dict.items() if isinstance(v, list)))


@dgaaccounts_admin.route("/report")
def report() -> str:
    filters = _args(("since", "until", "period"))
    action = tk.get_action("dgaaccounts_sla_report")
    try:
        result = action(_context(), dict(filters))
    except tk.ValidationError as e:
        _flash_errors(e)
        result = action(_context(), {"period": filters.get("period", "week")}
                        if filters.get("period") in ("week", "month") else {})
    return tk.render("dgaaccounts/admin/report.html", {"report": result, "filters": filters})


@dgaaccounts_admin.route("/audit")
def audit() -> str:
    return tk.render("dgaaccounts/admin/audit.html",
                     _page("dgaaccounts_audit_list", _args(_AUDIT_FILTERS), 50))


def _csv_response(export: exports.Export) -> Response:
    response = Response(export.chunks, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@dgaaccounts_admin.route("/export/requests.csv")
def export_requests() -> Any:
    try:
        export = exports.requests_csv(_context(), _args(("since", "until", "by", "kind")))
    except tk.ValidationError as e:
        _flash_errors(e)
        return tk.redirect_to("dgaaccounts_admin.report")
    return _csv_response(export)


@dgaaccounts_admin.route("/export/audit.csv")
def export_audit() -> Any:
    filters = _args(_AUDIT_FILTERS)
    try:
        export = exports.audit_csv(_context(), filters)
    except tk.ValidationError as e:
        _flash_errors(e)
        return tk.redirect_to("dgaaccounts_admin.audit", **filters)
    return _csv_response(export)


# The provider sign-in (ThaID, DGA Digital ID) has its own module; the plugin's blanket collects
# the blueprints of this module.
from .views_oidc import dgaaccounts_oidc  # noqa: E402,F401
