"""Web pages of the provider sign-in (ThaID, DGA Digital ID): start, callback, the identities
page (link, unlink) and the RP-initiated sign-out. The protocol is in ``oidc``; the links in
``identity``."""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, request, session

import ckan.model as model
from ckan.common import current_user
from ckan.plugins import toolkit as tk
from ckan.types import Context

from . import grants, identity, oidc
from .views_common import FORM_FIELDS, chosen_agency, error_summary

log = logging.getLogger(__name__)

dgaaccounts_oidc = Blueprint("dgaaccounts_oidc", __name__, url_prefix="/user/oidc")

# the handle of a verified identity with no account yet (the identity: oidc.keep_verified)
_VERIFIED = "dgaaccounts_oidc_verified"


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
    identity.sign_in_refused(provider, reason, purpose, _actor(), user_id)
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
        verified = oidc.finish(found, dict(request.args), _callback_url(provider))
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
    assert user is not None  # why is set for a missing account
    identity.signed_in(row)
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
    identity.no_account(verified.provider, verified.issuer)
    session[_VERIFIED] = oidc.keep_verified({
        "provider": verified.provider, "issuer": verified.issuer, "sub": verified.sub,
        "fields": {k: v for k, v in verified.fields.items() if k != "pid"},
        "pid": identity.pid_hmac(verified.fields.get("pid"))})
    return tk.redirect_to("dgaaccounts_oidc.no_account")


def _gone() -> Any:
    """This browser's verified identity was used or has expired: sign in again."""
    session.pop(_VERIFIED, None)
    tk.h.flash_error(tk._("Your verified identity can no longer be used to register (it was "
                          "used, or has expired). Sign in with the provider again."))
    return tk.redirect_to("user.login")


@dgaaccounts_oidc.route("/no-account")
def no_account() -> Any:
    verified = oidc.kept_verified(session.get(_VERIFIED))
    if not verified:
        return _gone() if session.get(_VERIFIED) else tk.redirect_to("user.login")
    return tk.render("dgaaccounts/oidc_no_account.html", {
        "verified": verified, "title": title(_provider(verified["provider"]))})


def _context() -> Context:
    return {"user": current_user.name if current_user.is_authenticated else ""}


def _first_error(errors: Any) -> str:
    """The first message of a field's errors (a list of messages)."""
    return str(errors[0] if isinstance(errors, list) else errors)


def _finish_link(verified: oidc.Identity) -> Any:
    if not current_user.is_authenticated:
        return _refused(verified.provider, "not_signed_in",
                        tk._("Sign in with your password first."), purpose="link")
    found = identity.Verified(provider=verified.provider, issuer=verified.issuer,
                              sub=verified.sub,
                              pid_hmac=identity.pid_hmac(verified.fields.get("pid")))
    try:
        tk.get_action("dgaaccounts_identity_link")(
            identity.handing(_context(), found), {})
    except tk.NotAuthorized as e:
        return _refused(verified.provider, "account_state", str(e), user_id=current_user.id,
                        purpose="link")
    except tk.ValidationError as e:
        message = _first_error(next(iter(e.error_dict.values())))
        return _refused(verified.provider, "already_linked", message,
                        user_id=current_user.id, purpose="link")
    tk.h.flash_success(tk._("Your account is now linked to %(provider)s.")
                       % {"provider": title(_provider(verified.provider))})
    return tk.redirect_to("dgaaccounts_oidc.identities")


@dgaaccounts_oidc.route("/identities")
def identities() -> Any:
    if not current_user.is_authenticated:
        return tk.redirect_to("user.login")
    links = tk.get_action("dgaaccounts_identity_link_list")(_context(), {})
    return tk.render("dgaaccounts/oidc_identities.html", {
        "links": links, "providers": oidc.providers(),
        "titles": {p.name: title(p) for p in oidc.providers()}})


@dgaaccounts_oidc.route("/unlink/<link_id>", methods=["POST"])
def unlink(link_id: str) -> Any:
    if not current_user.is_authenticated:
        return tk.abort(403, tk._("Sign in with your password first."))
    try:
        tk.get_action("dgaaccounts_identity_unlink")(_context(), {"id": link_id})
    except tk.ObjectNotFound as e:
        return tk.abort(404, str(e))
    except tk.ValidationError:
        return tk.abort(404, tk._("Linked identity not found."))
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
    tk.logout_user()  # type: ignore[no-untyped-call]  # CKAN left it unannotated
    session.pop(oidc.SESSION_PROVIDER, None)
    return tk.redirect_to(url)


# -- registration from a verified identity -------------------------------------------------

def _verified_values(verified: dict[str, Any], *, agency: bool) -> dict[str, str]:
    """The form values that came verified from the provider: they are shown read-only, and
    win over whatever is posted."""
    fields = verified["fields"]
    values: dict[str, str] = {}
    fullname = identity.joined_names(fields.get("name_th"), fields.get("name_en"))
    if fullname:
        values["fullname"] = fullname
    if fields.get("email") and fields.get("email_verified") is True:
        values["email"] = str(fields["email"]).strip().lower()
    if agency and fields.get("organization_id_verified") is True:
        organization = identity.organization_for(fields.get("organization_id"))
        if organization:
            values["organization"] = organization
    return values


def _ial_refusal(provider: oidc.Provider, fields: dict[str, Any]) -> str | None:
    if provider.min_ial is None:
        return None
    try:
        claimed: Any = fields.get("ial")  # a number, a text or None: float() decides
        ial = float(claimed)
    except (TypeError, ValueError):
        ial = None
    if ial is not None and ial >= provider.min_ial:
        return None
    return tk._("The assurance level of your identity at %(provider)s is below what an agency "
                "officer registration requires (%(min_ial)s). Verify your identity at a higher "
                "level with the provider, or register with the form and a signed application.") % {
        "provider": title(provider), "min_ial": provider.min_ial}


def _registration(agency: bool) -> tuple[oidc.Provider, dict[str, str], identity.Verified] | Any:
    """The verified identity of this browser, its locked values and what the action gets; or
    the answer when there is none (the usual form), none any more, or it may not register."""
    verified = oidc.kept_verified(session.get(_VERIFIED))
    if not verified:
        return _gone() if session.get(_VERIFIED) else tk.redirect_to(
            "dgaaccounts.register_agency" if agency else "dgaaccounts.register_developer")
    provider = _provider(verified["provider"])
    why = _ial_refusal(provider, verified["fields"]) if agency else None
    if why:
        return _refused(provider.name, "ial_too_low", why)
    if identity.find(verified["issuer"], verified["sub"]) is not None:
        return _refused(provider.name, "already_linked", tk._(
            "This identity is already linked to an account on this portal."))
    values = _verified_values(verified, agency=agency)
    record = {"provider": provider.name, "issuer": verified["issuer"],
              "title_th": provider.title_th, "title_en": provider.title_en,
              "ial": verified["fields"].get("ial"), "verified": sorted(values)}
    return provider, values, identity.Verified(
        provider=provider.name, issuer=verified["issuer"], sub=verified["sub"],
        pid_hmac=verified.get("pid"), record=record, email=values.get("email"))


@dgaaccounts_oidc.route("/register/agency", methods=["GET", "POST"])
def register_agency() -> Any:
    """The agency officer registration, pre-filled and locked with the verified identity."""
    found = _registration(agency=True)
    if not isinstance(found, tuple):
        return found
    provider, values, verified = found
    if request.method == "GET":
        return _render_form("agency", values, {}, verified.record)
    form = {k: request.form.get(k, "") for k in (*FORM_FIELDS, "agency_listed")}
    form.update(values)  # locked: the verified values win over whatever was posted
    if "organization" in values:  # the agency is locked: no other may be typed
        form.update(agency_listed="yes", agency_name="")
    data = chosen_agency(form)
    upload = request.files.get("signed_form")
    if upload is not None and upload.filename:
        data["signed_form"] = upload
    result = _register("agency", provider, verified, form, data)
    if not isinstance(result, dict):
        return result
    session.pop(_VERIFIED, None)
    if result.get("applicant_token"):
        # The provider verified the address: no email to confirm, straight to the request.
        grants.remember_applicant(result["request_id"], result["applicant_token"])
        tk.h.flash_success(tk._("Your email address was verified by %(provider)s.")
                           % {"provider": title(provider)})
        return tk.redirect_to("dgaaccounts.request_read", id=result["request_id"])
    session["dgaaccounts_registered"] = result["reference"]
    return _sent(data["email"])


@dgaaccounts_oidc.route("/register/developer", methods=["GET", "POST"])
def register_developer() -> Any:
    """The developer sign-up, pre-filled and locked with the verified identity; with an
    address the provider verified, the account opens at once and its API token is shown."""
    found = _registration(agency=False)
    if not isinstance(found, tuple):
        return found
    provider, values, verified = found
    if request.method == "GET":
        return _render_form("developer", values, {}, verified.record)
    form = {k: request.form.get(k, "") for k in ("name", "fullname", "email", "password",
                                                  "purpose")}
    form.update(values)  # locked: the verified values win over whatever was posted
    result = _register("developer", provider, verified, form, dict(form))
    if not isinstance(result, dict):
        return result
    session.pop(_VERIFIED, None)
    session.pop("dgaaccounts_registered", None)
    if not result.get("api_token"):
        return _sent(form["email"])
    user = model.User.get(form["name"])
    assert user is not None  # made by the action
    _sign_in(user)
    session[oidc.SESSION_PROVIDER] = provider.name
    return tk.render("dgaaccounts/verified_developer.html", {"result": result})


def _register(which: str, provider: oidc.Provider, verified: identity.Verified,
              form: dict[str, Any], data: dict[str, Any]) -> Any:
    """The registration action of ``which`` with the verified identity: its answer (a dict),
    or the page to show instead (the form again with its errors, or the refusal when the
    identity was used or linked meanwhile: nothing was made). The identity is taken for the
    action, once, and given back when nothing was made with it."""
    handle = session.get(_VERIFIED)
    taken = oidc.take_verified(handle)
    if taken is None or not isinstance(handle, str):
        return _gone()
    try:
        result: dict[str, Any] = tk.get_action(f"dgaaccounts_{which}_register")(
            identity.handing({"user": ""}, verified), data)
    except tk.ValidationError as e:
        if "identity" in e.error_dict:
            return _refused(provider.name, "already_linked",
                            _first_error(e.error_dict["identity"]))
        oidc.give_back_verified(handle, taken)  # to correct the form and send it again
        form["password"] = ""
        return _render_form(which, form, e.error_dict, verified.record)
    except BaseException:
        oidc.give_back_verified(handle, taken)
        raise
    return result


def _sent(address: str) -> Any:
    from .views_applicant import _remember_sent

    _remember_sent(address)
    return tk.redirect_to("dgaaccounts.registered")


def _render_form(which: str, data: dict[str, Any], errors: dict[str, Any],
                 record: dict[str, Any]) -> str:
    return tk.render(f"dgaaccounts/register_{which}.html", {
        "data": data, "errors": errors, "error_summary": error_summary(errors),
        "form_action": tk.url_for(f"dgaaccounts_oidc.register_{which}"), "verified": record})
