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
from .views_common import FORM_FIELDS, error_summary

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
                          "fields": {k: v for k, v in verified.fields.items() if k != "pid"},
                          "pid": identity.pid_hmac(verified.fields.get("pid"))}
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


# -- registration from a verified identity -------------------------------------------------

def _verified_values(verified: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The form values that came verified from the provider, and their field names."""
    fields = verified["fields"]
    values: dict[str, str] = {}
    names = [fields.get("name_th"), fields.get("name_en")]
    fullname = " / ".join(str(n) for n in names if n)
    if fullname:
        values["fullname"] = fullname
    if fields.get("email") and fields.get("email_verified") is True:
        values["email"] = str(fields["email"]).strip().lower()
    if fields.get("organization_id_verified") is True:
        organization = identity.organization_for(fields.get("organization_id"))
        if organization:
            values["organization"] = organization
    return values, sorted(values)


def _ial_refusal(provider: oidc.Provider, fields: dict[str, Any]) -> str | None:
    if provider.min_ial is None:
        return None
    try:
        ial = float(fields.get("ial"))
    except (TypeError, ValueError):
        ial = None
    if ial is not None and ial >= provider.min_ial:
        return None
    return tk._("The assurance level of your identity at %(provider)s is below what an agency "
                "officer registration requires (%(min_ial)s). Verify your identity at a higher "
                "level with the provider, or register with the form and a signed application.") % {
        "provider": title(provider), "min_ial": provider.min_ial}


@dgaaccounts_oidc.route("/register/agency", methods=["GET", "POST"])
def register_agency() -> Any:
    """The agency officer registration, pre-filled and locked with the verified identity."""
    verified = session.get(_VERIFIED)
    if not verified:
        return tk.redirect_to("dgaaccounts.register_agency")
    provider = _provider(verified["provider"])
    why = _ial_refusal(provider, verified["fields"])
    if why:
        return _refused(provider.name, "ial_too_low", why)
    values, locked = _verified_values(verified)
    record = {"provider": provider.name, "issuer": verified["issuer"],
              "title_th": provider.title_th, "title_en": provider.title_en,
              "ial": verified["fields"].get("ial"), "verified": locked}
    if tk.request.method == "GET":
        return _render_form(values, {}, record)
    form = {k: tk.request.form.get(k, "") for k in FORM_FIELDS}
    form.update(values)  # locked: the verified values win over whatever was posted
    data: dict[str, Any] = dict(form)
    upload = tk.request.files.get("signed_form")
    if upload is not None and upload.filename:
        data["signed_form"] = upload
    if identity.find(verified["issuer"], verified["sub"]) is not None:
        return _refused(provider.name, "already_linked", tk._(
            "This identity is already linked to an account on this portal."))
    # The action links the identity to the new (pending) applicant, who signs in with it
    # once approved; both context keys are set here only, never from an API call's data.
    link = {"provider": provider.name, "issuer": verified["issuer"], "sub": verified["sub"],
            "pid": verified.get("pid")}
    try:
        result = tk.get_action("dgaaccounts_agency_register")(
            {"user": "", "dgaaccounts_identity": record, "dgaaccounts_identity_link": link},
            data)
    except tk.ValidationError as e:
        form["password"] = ""
        return _render_form(form, e.error_dict, record)
    session.pop(_VERIFIED, None)
    session["dgaaccounts_registered"] = result["reference"]
    return tk.redirect_to("dgaaccounts.registered")


def _render_form(data: dict[str, Any], errors: dict[str, Any], record: dict[str, Any]) -> str:
    return tk.render("dgaaccounts/register_agency.html", {
        "data": data, "errors": errors, "error_summary": error_summary(errors),
        "form_action": tk.url_for("dgaaccounts_oidc.register_agency"), "verified": record})
