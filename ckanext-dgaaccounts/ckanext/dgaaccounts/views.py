"""Web pages. Thin: read the form, call the action, render or redirect."""
from __future__ import annotations

import datetime
import hashlib
import logging
import re
import time
import urllib.parse
from typing import Any

from flask import Blueprint, Response, current_app, send_file, session
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.exceptions import HTTPException

from sqlalchemy import func

import ckan.model as model
from ckan.common import current_user
from ckan.lib import captcha
from ckan.plugins import toolkit as tk
from ckan.types import Context

from . import account, config, exports, pdf, ratelimit, signatures, storage, timefmt, workflow
from .model import Document, Request, utcnow
from .views_tokens import dgaaccounts_tokens  # noqa: F401 - registered by tk.blanket.blueprints

log = logging.getLogger(__name__)

dgaaccounts = Blueprint("dgaaccounts", __name__)
dgaaccounts_admin = Blueprint("dgaaccounts_admin", __name__, url_prefix="/ckan-admin/dgaaccounts")

_SESSION_KEY = "dgaaccounts_applicant"
_GRANTED_AT_KEY = "dgaaccounts_applicant_at"  # when each link grant was made (epoch seconds)
_TOKEN_SHOWN_KEY = "dgaaccounts_token_shown"  # hashes of verification links redeemed here
TOKEN_SHOWN_WINDOW = 600  # seconds in which a repeated confirmation says "already shown"
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


dgaaccounts.after_app_request(account.remember_cookie)


def _context() -> Context:
    return {"user": current_user.name if current_user.is_authenticated else ""}


# -- errors: never leave the database session in a failed transaction -----------------------

def _server_error(error: Exception) -> Any:
    """An unexpected error in one of the extension's pages: the session is rolled back
    before the error page is rendered (the page reads the database too), then CKAN's page."""
    if isinstance(error, HTTPException):  # tk.abort(...): CKAN's own handlers answer it
        return error
    model.Session.rollback()
    log.error("Error on %s", tk.request.path, exc_info=error)
    return tk.render("error_document_template.html",
                     {"code": [500], "content": tk._("Internal server error")}), 500


dgaaccounts.register_error_handler(Exception, _server_error)
dgaaccounts_admin.register_error_handler(Exception, _server_error)


@dgaaccounts.teardown_app_request
def _release_session(error: BaseException | None) -> None:
    # Every request of the site, CKAN's own pages too. CKAN disposes of the session in an
    # after_request handler, which does not run when an error escapes the request (or its
    # error page fails): the worker's next request would find the transaction aborted.
    if error is not None:
        model.Session.rollback()
        model.Session.remove()


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
    # The form's explicit choice (snippets/agency_field.html): only the chosen field is sent.
    form["agency_listed"] = tk.request.form.get("agency_listed", "")
    if form["agency_listed"] == "no":
        data["organization"] = ""
    elif form["agency_listed"] == "yes":
        data["agency_name"] = ""
    upload = tk.request.files.get("signed_form")
    if upload is not None and upload.filename:
        data["signed_form"] = upload
    try:
        result = tk.get_action("dgaaccounts_agency_register")(_context(), data)
    except tk.ValidationError as e:
        form["password"] = ""
        return _render_agency_form(form, e.error_dict)
    session["dgaaccounts_registered"] = result["reference"]
    _remember_sent(data["email"])
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
    _remember_sent(data["email"])
    return tk.redirect_to("dgaaccounts.registered")


def _remember_sent(address: str) -> None:
    # For the next page only: the address the person just typed, and when the link was asked.
    session["dgaaccounts_sent"] = {"email": address.strip(), "at": utcnow().isoformat()}


@dgaaccounts.route("/dgaaccounts/register/sent")
def registered() -> str:
    sent = session.get("dgaaccounts_sent") or {}
    expires = None
    if sent.get("at"):
        at = datetime.datetime.fromisoformat(sent["at"])
        expires = timefmt.format_datetime(
            at + config.verification_lifetime(), timefmt.page_locale())
    return tk.render("dgaaccounts/registered.html",
                     {"reference": session.get("dgaaccounts_registered"),
                      "email": sent.get("email"), "expires": expires})


@dgaaccounts.route("/dgaaccounts/verify/<token>", methods=["GET", "POST"])
def verify(token: str) -> Any:
    # A GET only shows a button: mail scanners fetch links, and must not use up the token.
    if tk.request.method == "GET":
        if _token_shown_here(token):
            return _render_token_shown()
        return tk.render("dgaaccounts/verify.html", {"token": token})
    claim = _claim_redemption(token)
    try:
        result = tk.get_action("dgaaccounts_email_verify")(_context(), {"token": token})
    except tk.ValidationError:
        if _token_shown_here(token) or (
                _redeemed_by_this_browser(token, claim) == workflow.DEVELOPER):
            return _render_token_shown()
        return tk.render("dgaaccounts/verify.html", {"token": None, "invalid": True})
    if result.get("applicant_token"):
        _remember_applicant(result["request_id"], result["applicant_token"])
        tk.h.flash_success(tk._("Your email address is confirmed."))
        return tk.redirect_to("dgaaccounts.request_read", id=result["request_id"])
    _sign_in(model.Session.get(Request, result["request_id"]).user_id)
    shown = dict(session.get(_TOKEN_SHOWN_KEY) or {})
    shown[_link_hash(token)] = int(time.time())
    session[_TOKEN_SHOWN_KEY] = shown
    return tk.render("dgaaccounts/verified_developer.html", {"result": result})


# A developer's token is shown once. A second press of the button (a double click, a reload
# that posts again) finds the link used: from the same browser, within TOKEN_SHOWN_WINDOW, it
# says that the token was shown and where to make another, instead of "invalid link". The token
# itself is never kept; only hashes of the link and of the browser's CSRF secret.

def _link_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _token_shown_here(token: str) -> bool:
    shown = (session.get(_TOKEN_SHOWN_KEY) or {}).get(_link_hash(token))
    return bool(shown) and time.time() - shown < TOKEN_SHOWN_WINDOW


def _browser_key() -> str | None:
    secret = session.get(current_app.config.get("WTF_CSRF_FIELD_NAME") or "_csrf_token")
    return hashlib.sha256(str(secret).encode()).hexdigest() if secret else None


def _claim_redemption(token: str) -> str | None:
    """Before redeeming: note (in Redis, for TOKEN_SHOWN_WINDOW) that this browser presses the
    button of this link. Two presses of one browser carry the same session cookie, even when
    the second leaves before the first has answered."""
    from ckan.lib.redis import connect_to_redis

    browser = _browser_key()
    if browser is None:
        return None
    key = f"dgaaccounts:redeem:{_link_hash(token)}"
    try:
        redis = connect_to_redis()
        redis.set(key, browser, nx=True, ex=TOKEN_SHOWN_WINDOW)
    except Exception:  # noqa: BLE001 - without Redis the page says "invalid", as before
        log.warning("could not note a verification attempt in Redis")
        return None
    return browser


def _redeemed_by_this_browser(token: str, claim: str | None) -> str | None:
    """The kind of request whose link this browser pressed first and which was redeemed within
    the window (by that press); None otherwise."""
    from ckan.lib.redis import connect_to_redis

    from .model import Token

    if claim is None:
        return None
    try:
        first = connect_to_redis().get(f"dgaaccounts:redeem:{_link_hash(token)}")
    except Exception:  # noqa: BLE001
        return None
    if isinstance(first, bytes):
        first = first.decode()
    if first is None or first != claim:
        return None
    found = model.Session.query(Token.used, Request.kind).join(
        Request, Request.id == Token.request_id).filter(
        Token.token_hash == _link_hash(token), Token.purpose == "verify").first()
    if found is None or found.used is None:
        return None
    if (utcnow() - found.used).total_seconds() >= TOKEN_SHOWN_WINDOW:
        return None
    return found.kind


def _render_token_shown() -> str:
    tokens_url = None
    if current_user.is_authenticated:
        tokens_url = tk.h.url_for("user.api_tokens", id=current_user.name)
    return tk.render("dgaaccounts/verified_developer.html",
                     {"result": None, "already_shown": True, "tokens_url": tokens_url})


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


def explain_refused_login() -> str | None:
    """CKAN's login form (IAuthenticator.login, before CKAN's own check): an account that is
    not open (pending, suspended or closed) and is given its RIGHT password gets one page with
    one message that says what to do. Anything else (a wrong password, an unknown name, an
    active account) is left to CKAN, which answers every failure alike."""
    if tk.request.method != "POST" or current_user.is_authenticated:
        return None
    message = explain_pending_login({"login": tk.request.form.get("login"),
                                     "password": tk.request.form.get("password")})
    if message is None:
        return None
    tk.h.flash_notice(message)
    return tk.render("user/login.html", {})


def explain_pending_login(identity: dict[str, Any]) -> str | None:
    """Why the account named in ``identity`` cannot sign in, if its password is right and it is
    not active; None otherwise, so the message reveals nothing to someone guessing."""
    login, password = identity.get("login"), identity.get("password")
    if not isinstance(login, str) or not isinstance(password, str) or not login or not password:
        return None
    candidates = model.Session.query(model.User).filter(
        (model.User.name == login) | (func.lower(model.User.email) == login.strip().lower()))
    if any(u.state == "active" for u in candidates):
        return None  # CKAN signs it in, or says the password is wrong
    user = next((u for u in candidates if u.validate_password(password)), None)
    if user is None:
        return None
    if user.state == "deleted":
        return tk._("This account is closed. Register again to use the portal, or contact "
                    "the portal administrators.")
    if account.is_suspended(user):
        return tk._(
            "Your account is suspended. Contact the portal administrators to reactivate it.")
    req = model.Session.query(Request).filter(
        Request.user_id == user.id, Request.state.in_(workflow.OPEN_STATES)
    ).order_by(Request.created.desc()).first()
    if req is not None and req.state == workflow.AWAITING_VERIFICATION:
        return tk._(
            "Your email address is not confirmed yet. Open the link we emailed you, or ask "
            "for a new one on the page \"Did not get the verification email?\".")
    if req is not None:
        return tk._(
            "Your account is waiting for the approval of your application. Follow it with the "
            "link in our emails.")
    return tk._("Your account is not open. Contact the portal administrators.")


def _sign_in(user_id: str) -> None:
    # The same steps as CKAN's own login view: a new session, then the user.
    from ckan.views.user import regenerate_session  # not in the toolkit (2.11, 2.12)

    regenerate_session()
    tk.login_user(model.User.get(user_id))


# -- the applicant's request page ----------------------------------------------------------

# An opened applicant link is a grant in this browser's session: it lasts
# ``applicant_grant_lifetime`` from the opening (the link in the email opens it again while the
# link itself is valid), and every sign-in and sign-out clears every grant, so the next person
# at the same browser inherits none.

def _remember_applicant(request_id: str, token: str) -> None:
    grants = dict(session.get(_SESSION_KEY) or {})
    granted_at = dict(session.get(_GRANTED_AT_KEY) or {})
    grants[request_id] = token
    granted_at[request_id] = int(time.time())
    session[_SESSION_KEY] = grants
    session[_GRANTED_AT_KEY] = granted_at


def _applicant_token(request_id: str) -> str | None:
    token = (session.get(_SESSION_KEY) or {}).get(request_id)
    granted = (session.get(_GRANTED_AT_KEY) or {}).get(request_id)
    if token is None:
        return None
    lifetime = config.applicant_grant_lifetime().total_seconds()
    if not isinstance(granted, int) or not 0 <= time.time() - granted < lifetime:
        _drop_grant(request_id)
        return None
    return token


def _drop_grant(request_id: str) -> None:
    for key in (_SESSION_KEY, _GRANTED_AT_KEY):
        found = dict(session.get(key) or {})
        if found.pop(request_id, None) is not None:
            session[key] = found


def forget_applicant_links(sender: Any, **kwargs: Any) -> None:
    """At every sign-in and sign-out (CKAN's user_logged_in / user_logged_out signals)."""
    for key in (_SESSION_KEY, _GRANTED_AT_KEY, _TOKEN_SHOWN_KEY):
        session.pop(key, None)


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
            "superior_position": details.get("superior_position"), "issued": timefmt.form_date(),
            **signatures.issue_args(req["id"]),
        })
    elif req["kind"] in (workflow.CANCELLATION, workflow.SUSPENSION):
        officer = _officer_details(user.id)
        body = pdf.cancellation_form_pdf({
            "reference": req["reference"], "kind": req["kind"], "fullname": user.fullname,
            "username": user.name, "email": user.email, "reason": details.get("reason"),
            "memberships": [tuple(m) for m in details.get("memberships") or []],
            "issued": timefmt.form_date(), "with_superior": officer is not None,
            "superior_name": (officer or {}).get("superior_name"),
            "superior_position": (officer or {}).get("superior_position"),
            **signatures.issue_args(req["id"]),
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
    req = _show(id)
    orgs = model.Session.query(model.Group).filter(
        model.Group.is_organization.is_(True), model.Group.state == "active"
    ).order_by(model.Group.title).all()
    user = model.User.get(req["user_id"])
    return tk.render("dgaaccounts/admin/request.html", {
        "req": req, "organizations": orgs,
        "suspended": user is not None and user.state == "pending" and account.is_suspended(user),
    })


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
    if tk.request.form.get("back") == "profile":  # the form on the user's profile
        return tk.redirect_to("user.read", id=id)
    back = tk.request.form.get("request_id")
    if back:
        return tk.redirect_to("dgaaccounts_admin.admin_request", id=back)
    return tk.redirect_to("dgaaccounts_admin.queue")


@dgaaccounts_admin.route("/request/<id>/<decision>", methods=["POST"])
def admin_decide(id: str, decision: str) -> Any:
    actions = {"approve": "dgaaccounts_request_approve", "reject": "dgaaccounts_request_reject",
               "return": "dgaaccounts_request_return",
               "reject_spam": "dgaaccounts_request_reject_spam"}
    if decision not in actions:
        return tk.abort(404)
    form = tk.request.form
    data = {"id": id, **{k: form[k] for k in ("note", "reason", "organization", "role")
                         if form.get(k)}}
    if not _decision_confirmed(id, decision):
        tk.h.flash_error(tk._("Nothing was changed: tick the box to confirm that you have read "
                              "what this decision will do."))
        return tk.redirect_to("dgaaccounts_admin.admin_request", id=id)
    try:
        tk.get_action(actions[decision])(_context(), data)
    except tk.ValidationError as e:
        _flash_errors(e)
    except tk.ObjectNotFound:
        return tk.abort(404, tk._("Request not found."))
    else:
        tk.h.flash_success(tk._("Decision recorded. The applicant will be emailed."))
    return tk.redirect_to("dgaaccounts_admin.admin_request", id=id)


@dgaaccounts_admin.route("/decide", methods=["POST"])
def admin_decide_bulk() -> Any:
    """One decision on the requests ticked in the queue: a confirmation page first (what will
    happen to which requests), then ``dgaaccounts_requests_decide``, each request on its own."""
    form = tk.request.form
    data = {"ids": form.getlist("ids"), "decision": form.get("decision", ""),
            **{k: form[k] for k in ("reason", "role") if form.get(k)}}
    if form.get("confirm") != "yes":
        if data["decision"] not in ("approve", "return", "reject") or not data["ids"]:
            tk.h.flash_error(tk._("Tick one or more requests and choose a decision."))
            return tk.redirect_to("dgaaccounts_admin.queue")
        chosen = []
        for request_id in data["ids"][:100]:
            try:
                chosen.append(tk.get_action("dgaaccounts_request_show")(
                    _context(), {"id": request_id}))
            except (tk.ObjectNotFound, tk.ValidationError):
                continue
        return tk.render("dgaaccounts/admin/bulk_confirm.html", {"data": data, "chosen": chosen})
    try:
        result = tk.get_action("dgaaccounts_requests_decide")(_context(), data)
    except tk.ValidationError as e:
        _flash_errors(e)
        return tk.redirect_to("dgaaccounts_admin.queue")
    if result["decided"]:
        tk.h.flash_success(tk.ungettext(
            "%(num)s request decided. Each applicant will be emailed.",
            "%(num)s requests decided. Each applicant will be emailed.",
            result["decided"]) % {"num": result["decided"]})
    for item in result["results"]:
        if not item["success"]:
            tk.h.flash_error(tk._("%(ref)s was not decided: %(error)s") % {
                "ref": item["reference"] or item["id"], "error": item["error"]})
    return tk.redirect_to("dgaaccounts_admin.queue")


def _decision_confirmed(id: str, decision: str) -> bool:
    """An irreversible decision made on the page needs its confirmation box ticked (the API,
    used by scripts, does not ask). A rejection without a reason goes on to the action, which
    refuses it with its own message and changes nothing."""
    form = tk.request.form
    if form.get("confirm") == "yes":
        return True
    if decision == "reject" and not form.get("reason", "").strip():
        return True
    req = model.Session.get(Request, id)
    return req is None or not workflow.needs_confirmation(req.kind, decision)


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
            _context(), dict(params or filters, limit=limit, offset=(page - 1) * limit))
    except tk.ValidationError as e:
        _flash_errors(e)
        result = {"count": 0, "results": []}
    pages = max((result["count"] + limit - 1) // limit, 1)
    return {"result": result, "filters": filters, "page": page, "pages": pages}


_MAX_PAGE = 1_000_000


def _page_number() -> int:
    """The ``?page=`` argument: a whole number from 1 to ``_MAX_PAGE`` (1 if absent); anything
    else is a bad request (400), never a database error."""
    raw = tk.request.args.get("page", "").strip()
    if not raw:
        return 1
    if not re.fullmatch(r"0*[1-9][0-9]{0,6}", raw) or int(raw) > _MAX_PAGE:
        return tk.abort(400, tk._("The page number must be a whole number from 1 to "
                                  "%(n)s.") % {"n": _MAX_PAGE})
    return int(raw)


def _args(names: tuple[str, ...]) -> dict[str, str]:
    return {k: tk.request.args[k].strip() for k in names if tk.request.args.get(k, "").strip()}


def _flash_errors(error: tk.ValidationError) -> None:
    # The form's own words for every field, never its raw name ("signed_form:").
    labels = {**_field_labels(), "state": tk._("Status"), "id": tk._("Request"),
              "since": tk._("From"), "until": tk._("To"), "period": tk._("Per"),
              "kind": tk._("Kind"), "by": tk._("Dates"), "action": tk._("Event"),
              "request_id": tk._("Request"), "user_id": tk._("About user"), "actor": tk._("By"),
              "account": tk._("Account"), "organization": tk._("Organization"),
              "ids": tk._("Requests"), "decision": tk._("Decision"), "reason": tk._("Reason")}
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


@dgaaccounts_admin.route("/export/organizations.csv")
def export_organizations() -> Any:
    try:
        export = exports.organizations_csv(_context(), _args(("since", "until", "kind")))
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
from .views_org import dgaaccounts_org  # noqa: E402,F401
