"""What every page of the extension shares: the caller's context, the CSRF check of anonymous
forms, the error page, and the one way to run an action and tell its refusal (flashed, or
a 404/403 page). No blueprint here: views.py lists them."""
from __future__ import annotations

import logging
from typing import Any

from flask import current_app, request
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.exceptions import HTTPException

import ckan.model as model
from ckan.common import current_user
from ckan.plugins import toolkit as tk
from ckan.types import Context

from . import grants
from .logic import inputs

log = logging.getLogger(__name__)

#: The agency registration form (the plain one and the one after a provider sign-in).
FORM_FIELDS = ("name", "fullname", "email", "password", "organization", "agency_name",
               "position", "phone", "superior_name", "superior_position")


def chosen_agency(form: dict[str, Any]) -> dict[str, Any]:
    """The agency form's data for the action: of the agency on the portal and the agency
    typed, only the one of the form's explicit choice (``agency_listed``,
    snippets/agency_field.html) is sent."""
    data = {k: v for k, v in form.items() if k != "agency_listed"}
    if form.get("agency_listed") == "no":
        data["organization"] = ""
    elif form.get("agency_listed") == "yes":
        data["agency_name"] = ""
    return data


def context() -> Context:
    return {"user": current_user.name if current_user.is_authenticated else ""}


def sign_in_first() -> Any:
    """A page for signed-in people opened signed out (a link from an email): the login page,
    then back to this page (as the decision links do); None when signed in or not a GET."""
    if request.method != "GET" or current_user.is_authenticated:
        return None
    here = tk.h.url_for(request.endpoint, **(request.view_args or {}),
                        **request.args.to_dict())
    return tk.redirect_to("user.login", came_from=here)


def _form_expired() -> str:
    return tk._("The form has expired. Reload the page and try again.")


def csrf_refused(error: CSRFError) -> Any:
    """CKAN's own CSRF check refused a form of the extension (a signed-in browser's): the same
    page, in the reader's language, as the extension's own check gives."""
    return tk.render("error_document_template.html", {"code": 400, "content": _form_expired()}), 400


def check_csrf() -> None:
    # CKAN never checks anonymous POSTs for CSRF; our registration, verification and upload
    # forms are anonymous, so they check the token themselves.
    if request.method == "POST" and current_app.config.get("WTF_CSRF_ENABLED", True):
        field = current_app.config.get("WTF_CSRF_FIELD_NAME") or "_csrf_token"
        try:
            validate_csrf(request.form.get(field))
        except Exception:  # CSRFError, or flask_wtf's ValidationError for a missing or bad one
            tk.abort(400, _form_expired())


def refuse_unstorable() -> None:
    """Every page of the extension: an address whose path carries a NUL or a lone surrogate
    names nothing and cannot be looked up. (A query's values go to the actions, which refuse
    such input on its field, logic/inputs.py: the page shows the filter's error.)"""
    values = (request.view_args or {}).values()
    if not all(inputs.storable(v) for v in values if isinstance(v, str)):
        tk.abort(400, tk._("The address contains characters that are not allowed."))


# -- errors: never leave the database session in a failed transaction -----------------------

def server_error(error: Exception) -> Any:
    """An unexpected error in one of the extension's pages: the session is rolled back
    before the error page is rendered (the page reads the database too), then CKAN's page."""
    if isinstance(error, HTTPException):  # tk.abort(...): CKAN's own handlers answer it
        return error
    model.Session.rollback()
    log.error("Error on %s", request.path, exc_info=error)
    return tk.render("error_document_template.html",
                     {"code": [500], "content": tk._("Internal server error")}), 500


def release_session(error: BaseException | None) -> None:
    # Every request of the site, CKAN's own pages too. CKAN disposes of the session in an
    # after_request handler, which does not run when an error escapes the request (or its
    # error page fails): the worker's next request would find the transaction aborted.
    if error is not None:
        model.Session.rollback()
        model.Session.remove()


# -- running an action -------------------------------------------------------------------

def run(action: str, data: dict[str, Any], *, not_found: str | None = None,
        forbidden: str | None = None) -> Any | None:
    """``action`` as the signed-in user (or anonymous). Its refusal of the input is flashed
    (None is returned); "not found" and "not authorized" end the page with a 404 or 403."""
    try:
        return tk.get_action(action)(context(), data)
    except tk.ValidationError as e:
        flash_errors(e)
        return None
    except tk.ObjectNotFound as e:
        return tk.abort(404, not_found or e.message or tk._("Request not found."))
    except tk.NotAuthorized as e:
        return tk.abort(403, forbidden or e.message or tk._(
            "Not authorized to see this request."))


def show_request(request_id: str) -> dict[str, Any]:
    """The request, as its applicant (with this browser's grant) or a sysadmin sees it."""
    try:
        shown: dict[str, Any] = tk.get_action("dgaaccounts_request_show")(
            context(), {"id": request_id, "token": grants.applicant_token(request_id)})
    except tk.ObjectNotFound:
        return tk.abort(404, tk._("Request not found."))
    except tk.NotAuthorized:
        return tk.abort(403, tk._("Not authorized to see this request."))
    return shown


def _flash_labels() -> dict[str, str]:
    # The form's own words for every field, never its raw name ("signed_form:").
    return {**_field_labels(), "state": tk._("Status"), "id": tk._("Request"),
            "since": tk._("From"), "until": tk._("To"), "period": tk._("Per"),
            "kind": tk._("Kind"), "by": tk._("Dates"), "action": tk._("Event"),
            "request_id": tk._("Request"), "user_id": tk._("About user"), "actor": tk._("By"),
            "account": tk._("Account"), "organization": tk._("Organization"),
            "ids": tk._("Requests"), "decision": tk._("Decision"), "reason": tk._("Reason"),
            # Messages that say what they are about: shown alone.
            "rate_limit": "", "user": ""}


def flash_errors(error: tk.ValidationError) -> None:
    """A refusal as one flashed line: each field's label (or name) and its messages."""
    labels = _flash_labels()
    parts = []
    for field, messages in error.error_dict.items():
        if isinstance(messages, list):
            text = ", ".join(str(m) for m in messages)
            label = labels.get(field, field)
            parts.append(f"{label}: {text}" if label else text)
    tk.h.flash_error(" ".join(parts))


# -- forms -------------------------------------------------------------------------------

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


def error_summary(errors: dict[str, Any]) -> dict[str, str]:
    """The errors of a form, by field label, for the form's error summary."""
    labels = _field_labels()
    return {labels.get(k, k): ", ".join(str(m) for m in v) for k, v in errors.items()
            if isinstance(v, list)}
