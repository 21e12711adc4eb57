"""Why an account that is not open cannot sign in: one message, given on CKAN's login form to
whoever typed the account's right password (IAuthenticator.login, before CKAN's own check)."""
from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import func

import ckan.model as model
from ckan.common import current_user
from ckan.plugins import toolkit as tk

from . import account, workflow
from .model import Request


def explain_refused_login() -> str | None:
    """CKAN's login form: an account that is not open (pending, suspended or closed) and is
    given its RIGHT password gets one page with one message that says what to do. Anything else
    (a wrong password, an unknown name, an active account) is left to CKAN, which answers every
    failure alike."""
    if request.method != "POST" or current_user.is_authenticated:
        return None
    message = explain_pending_login({"login": request.form.get("login"),
                                     "password": request.form.get("password")})
    if message is None:
        return None
    tk.h.flash_notice(message)
    return tk.render("user/login.html", {})


def explain_pending_login(identity: dict[str, Any]) -> str | None:
    """Why the account named in ``identity`` cannot sign in, if its password is right and it is
    not active; None otherwise, so the message reveals nothing to someone guessing.

    Not an action on purpose: over the API it would tell passwords of accounts that cannot sign
    in apart from wrong ones, without the login form around it."""
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
