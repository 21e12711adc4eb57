"""The pages of applicants and users: registration, email verification, the request page with
its form and scans, closing one's account, and the "forgot password" takeover. Thin: read the
form, call the action, render or redirect."""
from __future__ import annotations

import datetime
import urllib.parse
from typing import Any

from flask import Blueprint, Response, request, send_file, session

import ckan.model as model
from ckan.common import current_user
from ckan.lib import captcha
from ckan.plugins import toolkit as tk

from . import account, config, grants, pdf, signatures, storage, timefmt, workflow
from .model import utcnow
from .views_common import (
    FORM_FIELDS, check_csrf, chosen_agency, context, error_summary, release_session, run,
    server_error, show_request,
)

dgaaccounts = Blueprint("dgaaccounts", __name__)

dgaaccounts.before_request(check_csrf)
dgaaccounts.after_app_request(account.remember_cookie)
dgaaccounts.register_error_handler(Exception, server_error)
dgaaccounts.teardown_app_request(release_session)


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
    # a known account from an unknown one. Here the action puts the email in the outbox, and
    # the answer is always the same. The reset link is CKAN's own (user.reset_key, CKAN's
    # reset page).
    try:
        tk.check_access("dgaaccounts_password_reset_request", context())
    except tk.NotAuthorized:
        return tk.abort(403, tk._("Unauthorized to request reset password."))
    try:
        captcha.check_recaptcha(tk.request)
    except captcha.CaptchaError:
        tk.h.flash_error(tk._("Bad Captcha. Please try again."))
        return tk.redirect_to("user.request_reset")
    result = run("dgaaccounts_password_reset_request", {"user": request.form.get("user")})
    if result is None:
        return tk.redirect_to("user.request_reset")
    tk.h.flash_success(result["message"])
    return tk.redirect_to(tk.config.get("ckan.user_reset_landing_page") or "home.index")


@dgaaccounts.route("/dgaaccounts/register")
def register() -> str:
    return tk.render("dgaaccounts/register_choose.html")


@dgaaccounts.route("/dgaaccounts/register/agency", methods=["GET", "POST"])
def register_agency() -> Any:
    if request.method == "GET":
        return _render_agency_form({}, {})
    form = {k: request.form.get(k, "") for k in (*FORM_FIELDS, "agency_listed")}
    data = chosen_agency(form)
    upload = request.files.get("signed_form")
    if upload is not None and upload.filename:
        data["signed_form"] = upload
    try:
        result = tk.get_action("dgaaccounts_agency_register")(context(), data)
    except tk.ValidationError as e:
        form["password"] = ""
        return _render_agency_form(form, e.error_dict)
    session["dgaaccounts_registered"] = result["reference"]
    _remember_sent(data["email"])
    return tk.redirect_to("dgaaccounts.registered")


def _render_agency_form(data: dict[str, Any], errors: dict[str, Any]) -> str:
    return tk.render("dgaaccounts/register_agency.html", {
        "data": data, "errors": errors, "error_summary": error_summary(errors),
    })


@dgaaccounts.route("/dgaaccounts/register/developer", methods=["GET", "POST"])
def register_developer() -> Any:
    fields = ("name", "fullname", "email", "password", "purpose")
    if request.method == "GET":
        return tk.render("dgaaccounts/register_developer.html",
                         {"data": {}, "errors": {}, "error_summary": {}})
    data = {k: request.form.get(k, "") for k in fields}
    try:
        tk.get_action("dgaaccounts_developer_register")(context(), dict(data))
    except tk.ValidationError as e:
        data["password"] = ""
        return tk.render("dgaaccounts/register_developer.html", {
            "data": data, "errors": e.error_dict, "error_summary": error_summary(e.error_dict)})
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
    if request.method == "GET":
        if grants.token_shown_here(token):
            return _render_token_shown()
        return tk.render("dgaaccounts/verify.html", {"token": token})
    claim = grants.claim_redemption(token)
    try:
        result = tk.get_action("dgaaccounts_email_verify")(context(), {"token": token})
    except tk.ValidationError:
        if grants.token_shown_here(token) or (
                grants.redeemed_by_this_browser(context(), token, claim) == workflow.DEVELOPER):
            return _render_token_shown()
        return tk.render("dgaaccounts/verify.html", {"token": None, "invalid": True})
    if result.get("applicant_token"):
        grants.remember_applicant(result["request_id"], result["applicant_token"])
        tk.h.flash_success(tk._("Your email address is confirmed."))
        return tk.redirect_to("dgaaccounts.request_read", id=result["request_id"])
    _sign_in(result["user_name"])
    grants.mark_token_shown(token)
    return tk.render("dgaaccounts/verified_developer.html", {"result": result})


def _render_token_shown() -> str:
    tokens_url = None
    if current_user.is_authenticated:
        tokens_url = tk.h.url_for("user.api_tokens", id=current_user.name)
    return tk.render("dgaaccounts/verified_developer.html",
                     {"result": None, "already_shown": True, "tokens_url": tokens_url})


def _sign_in(user_name: str) -> None:
    # The same steps as CKAN's own login view: a new session, then the user.
    from ckan.views.user import regenerate_session  # not in the toolkit (2.11, 2.12)

    regenerate_session()
    tk.login_user(model.User.get(user_name))


@dgaaccounts.route("/dgaaccounts/resend", methods=["GET", "POST"])
def resend() -> Any:
    if request.method == "POST":
        try:
            result = tk.get_action("dgaaccounts_verification_resend")(
                context(), {"email": request.form.get("email", "")})
        except tk.ValidationError as e:
            return tk.render("dgaaccounts/resend.html", {"errors": e.error_dict})
        tk.h.flash_success(result["message"])
        return tk.redirect_to("dgaaccounts.resend")
    return tk.render("dgaaccounts/resend.html", {"errors": {}})


# -- the applicant's request page ----------------------------------------------------------

@dgaaccounts.route("/dgaaccounts/request/<id>")
def request_read(id: str) -> Any:
    token = request.args.get("token")
    if token:
        # The link from an email: keep the token in the session and drop it from the address.
        grants.remember_applicant(id, token)
        return tk.redirect_to("dgaaccounts.request_read", id=id)
    return tk.render("dgaaccounts/request_read.html", {"req": show_request(id)})


@dgaaccounts.route("/dgaaccounts/request/<id>/form.pdf")
def request_form(id: str) -> Response:
    try:
        form = tk.get_action("dgaaccounts_request_form_show")(
            context(), {"id": id, "token": grants.applicant_token(id)})
    except tk.NotAuthorized:
        return tk.abort(403, tk._("Not authorized to see this request."))
    except tk.ObjectNotFound as e:  # no such request, or one without a form
        return tk.abort(404, e.message or tk._("Request not found."))
    except tk.ValidationError:
        return tk.abort(404, tk._("Request not found."))
    fields = dict(form["fields"], issued=timefmt.form_date(), **signatures.issue_args(id))
    if form["kind"] == workflow.AGENCY:
        body = pdf.application_form_pdf(fields)
    else:
        body = pdf.cancellation_form_pdf(fields)
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{fields["reference"]}.pdf"')
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@dgaaccounts.route("/dgaaccounts/account/close", methods=["GET", "POST"])
def account_close() -> Any:
    if not current_user.is_authenticated:
        return tk.redirect_to("user.login", came_from=tk.h.url_for("dgaaccounts.account_close"))
    data = {k: request.form.get(k, "") for k in ("kind", "reason")}
    errors: dict[str, Any] = {}
    if request.method == "POST":
        try:
            req = tk.get_action("dgaaccounts_cancellation_request_create")(context(), dict(data))
        except tk.ValidationError as e:
            errors = e.error_dict
        else:
            return tk.redirect_to("dgaaccounts.request_read", id=req["id"])
    standing = tk.get_action("dgaaccounts_account_show")(context(), {})
    open_request = standing["open_account_request"]
    return tk.render("dgaaccounts/account_close.html", {
        "data": data, "errors": errors, "error_summary": error_summary(errors),
        "open_request": open_request["id"] if open_request else None,
    })


@dgaaccounts.route("/dgaaccounts/request/<id>/upload", methods=["POST"])
def request_upload(id: str) -> Any:
    data = {"id": id, "token": grants.applicant_token(id),
            "signed_form": request.files.get("signed_form")}
    if run("dgaaccounts_request_document_upload", data,
           forbidden=tk._("Not authorized to see this request.")) is not None:
        tk.h.flash_success(tk._("Thank you. Your signed form was sent for review."))
    return tk.redirect_to("dgaaccounts.request_read", id=id)


@dgaaccounts.route("/dgaaccounts/request/<id>/withdraw", methods=["POST"])
def request_withdraw(id: str) -> Any:
    if run("dgaaccounts_request_withdraw", {"id": id, "token": grants.applicant_token(id)},
           forbidden=tk._("Not authorized to see this request.")) is not None:
        tk.h.flash_success(tk._("Your request was withdrawn."))
    return tk.redirect_to("dgaaccounts.request_read", id=id)


@dgaaccounts.route("/dgaaccounts/request/<id>/document/<document_id>")
def document(id: str, document_id: str) -> Response:
    ctx = context()
    try:
        doc = tk.get_action("dgaaccounts_document_show")(
            ctx, {"id": id, "document_id": document_id, "token": grants.applicant_token(id)})
    except tk.NotAuthorized:
        return tk.abort(403, tk._("Not authorized to see this request."))
    except (tk.ObjectNotFound, tk.ValidationError):
        return tk.abort(404, tk._("Document not found."))
    # the row the action read (an extension's key: CKAN's Context type lists only core keys)
    row = ctx["dgaaccounts_document"]  # type: ignore[typeddict-item]
    disposition = "attachment" if request.args.get("download") else "inline"
    response = send_file(storage.get_store().path(row.storage_key), mimetype=doc["mimetype"],
                         conditional=False, etag=False, max_age=0)
    quoted = urllib.parse.quote(doc["original_name"])
    response.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quoted}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src 'self'; object-src 'self'; plugin-types application/pdf; "
        "frame-ancestors 'self'")
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
