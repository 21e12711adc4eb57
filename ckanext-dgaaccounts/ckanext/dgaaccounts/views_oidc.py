"""Web pages of the provider sign-in (ThaID, DGA Digital ID): start, callback, the identities
page (link, unlink) and the RP-initiated sign-out. The protocol is in ``oidc``; the links in
``identity``."""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, session

import ckan.model as model
from ckan.common import current_user
from ckan.plugins import toolkit as tk

from . import identity, oidc, workflow

log = logging.getLogger(__name__)

dgaaccounts_oidc = Blueprint("dgaaccounts_oidc", __name__, url_prefix="/user/oidc")

_VERIFIED = "dgaaccounts_oidc_verified"  # a verified identity with no account yet


def _callback_url(name: str) -> str:
    return tk.url_for("dgaaccounts_oidc.callback", provider=name, _external=True)


def _provider(name: str) -> oidc.Provider:
    try:
        return oidc.get(name)
    except tk.ObjectNotFound:
        return tk.abort(404, tk._("Unknown identity provider."))


def _actor() -> str | None:
    return current_user.id if current_user.is_authenticated else None


def _refused(provider: str, reason: str, message: str, *, user_id: str | None = None,
             purpose: str = "login") -> Any:
    """Audit a refused sign-in or link, tell the user, and go back where it started."""
    model.Session.rollback()
    workflow.audit("oidc_refused", _actor(), target_user_id=user_id,
                   details={"provider": provider, "reason": reason, "purpose": purpose})
    model.Session.commit()
    tk.h.flash_error(message)
    if purpose == "link" and current_user.is_authenticated:
        return tk.redirect_to("dgaaccounts_oidc.identities")
    return tk.redirect_to("user.login")


@dgaaccounts_oidc.route("/<provider>/login")
def login(provider: str) -> Any:
    found = _provider(provider)
    if current_user.is_authenticated:
        return tk.redirect_to("dashboard.datasets")
    try:
        return tk.redirect_to(oidc.start(found, "login", _callback_url(provider)))
    except oidc.SignInError as e:
        return _refused(provider, e.reason, e.message)


@dgaaccounts_oidc.route("/<provider>/link", methods=["POST"])
def link(provider: str) -> Any:
    found = _provider(provider)
    if not current_user.is_authenticated:
        return tk.abort(403, tk._("Sign in with your password first."))
    try:
        return tk.redirect_to(oidc.start(found, "link", _callback_url(provider)))
    except oidc.SignInError as e:
        return _refused(provider, e.reason, e.message, purpose="link")


@dgaaccounts_oidc.route("/<provider>/callback")
def callback(provider: str) -> Any:
    found = _provider(provider)
    try:
        verified = oidc.finish(found, dict(tk.request.args), _callback_url(provider))
    except oidc.SignInError as e:
        return _refused(provider, e.reason, e.message)
    if verified.purpose == "link":
        return _finish_link(verified)
    return _finish_login(verified)


def _finish_login(verified: oidc.Identity) -> Any:
    row = identity.find(verified.issuer, verified.sub)
    if row is None:
        return _no_account(verified)
    user = model.User.get(row.user_id)
    why = oidc.refusal(user) if user is not None else tk._("Account not found.")
    if why:
        return _refused(verified.provider, "account_state", why, user_id=row.user_id)
    identity.touch(row)
    workflow.audit("oidc_sign_in", user.id, target_user_id=user.id,
                   details={"provider": verified.provider, "issuer": verified.issuer})
    model.Session.commit()
    _sign_in(user)
    session[oidc.SESSION_PROVIDER] = verified.provider
    return tk.redirect_to("dashboard.datasets")


def _sign_in(user: model.User) -> None:
    # CKAN's own steps: a new session, then login_user, whose user_logged_in signal stamps
    # the session epoch (account.stamp_session) exactly as for a password sign-in.
    from ckan.views.user import regenerate_session  # not in the toolkit (2.11, 2.12)

    regenerate_session()
    tk.login_user(user)


def _no_account(verified: oidc.Identity) -> Any:
    workflow.audit("oidc_no_account", None,
                   details={"provider": verified.provider, "issuer": verified.issuer})
    model.Session.commit()
    session[_VERIFIED] = {"provider": verified.provider, "issuer": verified.issuer,
                          "sub": verified.sub,
                          "fields": {k: v for k, v in verified.fields.items() if k != "pid"}}
    return tk.redirect_to("dgaaccounts_oidc.no_account")


@dgaaccounts_oidc.route("/no-account")
def no_account() -> Any:
    verified = session.get(_VERIFIED)
    if not verified:
        return tk.redirect_to("user.login")
    return tk.render("dgaaccounts/oidc_no_account.html", {
        "verified": verified, "title": title(_provider(verified["provider"]))})


def _finish_link(verified: oidc.Identity) -> Any:
    if not current_user.is_authenticated:
        return _refused(verified.provider, "not_signed_in",
                        tk._("Sign in with your password first."), purpose="link")
    user = model.User.get(current_user.id)
    why = oidc.refusal(user)
    if why:
        return _refused(verified.provider, "account_state", why, user_id=user.id,
                        purpose="link")
    try:
        identity.link(user, verified.provider, verified.issuer, verified.sub,
                      verified.fields.get("pid"), user.id)
    except tk.ValidationError as e:
        message = next(iter(e.error_dict.values()))[0]
        return _refused(verified.provider, "already_linked", message, user_id=user.id,
                        purpose="link")
    model.Session.commit()
    tk.h.flash_success(tk._("Your account is now linked to %(provider)s.")
                       % {"provider": title(_provider(verified.provider))})
    return tk.redirect_to("dgaaccounts_oidc.identities")


@dgaaccounts_oidc.route("/identities")
def identities() -> Any:
    if not current_user.is_authenticated:
        return tk.redirect_to("user.login")
    links = identity.of_user(current_user.id)
    linked = {row.issuer for row in links}
    return tk.render("dgaaccounts/oidc_identities.html", {
        "links": links, "providers": oidc.providers(), "linked_issuers": linked,
        "titles": {p.name: title(p) for p in oidc.providers()}})


@dgaaccounts_oidc.route("/unlink/<link_id>", methods=["POST"])
def unlink(link_id: str) -> Any:
    if not current_user.is_authenticated:
        return tk.abort(403, tk._("Sign in with your password first."))
    try:
        identity.unlink(link_id, current_user.id, current_user.id)
    except tk.ObjectNotFound as e:
        return tk.abort(404, str(e))
    model.Session.commit()
    tk.h.flash_success(tk._("The identity is no longer linked to your account."))
    return tk.redirect_to("dgaaccounts_oidc.identities")


def title(provider: oidc.Provider) -> str:
    return provider.title_th if (tk.h.lang() or "").startswith("th") else provider.title_en


def logout_response() -> Any:
    """CKAN's logout (IAuthenticator.logout): after a provider sign-in, sign out here and at
    the provider (RP-initiated logout). None lets CKAN sign out as usual."""
    name = session.get(oidc.SESSION_PROVIDER)
    if not name or not current_user.is_authenticated:
        return None
    url = oidc.end_session_url(name, tk.url_for("user.logged_out_page", _external=True))
    if url is None:
        return None
    tk.logout_user()
    session.pop(oidc.SESSION_PROVIDER, None)
    return tk.redirect_to(url)
