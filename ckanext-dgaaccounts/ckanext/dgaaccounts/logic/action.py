"""The action API of the extension (the contract: the README's "Action API" section).

Every public function here is an action, registered by the plugin's blanket. Each reads the same
way: check access, validate with a schema, let the workflow module change the state (it audits and
queues the emails), commit once, then hand the emails to the background worker.

Actions compose: the decisions, withdrawals, account requests, reactivations and resends honour
``defer_commit`` (the caller commits, and the emails go with the outbox's next sweep or the
caller's ``mail.dispatch()``), and a refusal raises without rolling back a transaction that the
caller holds. Without ``defer_commit`` an action that fails rolls its transaction back. Sign-ups,
verification and uploads keep files or tokens outside the database and always commit.
"""
from __future__ import annotations

import functools
import logging
import unicodedata
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, or_, text
from sqlalchemy.exc import IntegrityError

import ckan.model as model
import ckan.plugins as p
from ckan.plugins import toolkit as tk
from ckan.types import Context, DataDict

from .. import (
    account, approval, auditlog, config, identity, mail, ratelimit, recheck,
    reports, requests_read, signature_store, storage, tokens, workflow,
)
from ..model import ApprovalMode, Document, Request, utcnow
from . import schema
from .auth import _user as _caller  # the caller's User (None when anonymous)
from .schema import validate as _validate

log = logging.getLogger(__name__)


Action = Callable[[Context, DataDict], Any]


def _rolls_back(action: Action) -> Action:
    """A writing action: when it fails, its transaction is rolled back (nothing half-done, the
    row locks released), unless the caller holds the transaction (``defer_commit``) and
    decides."""
    @functools.wraps(action)
    def wrapper(context: Context, data_dict: DataDict) -> Any:
        try:
            return action(context, data_dict)
        except BaseException:
            if not context.get("defer_commit"):
                model.Session.rollback()
            raise

    return wrapper


def _commit(context: Context) -> None:
    """Commit and hand the emails to the worker, unless the caller commits (``defer_commit``)."""
    if not context.get("defer_commit"):
        model.Session.commit()
        mail.dispatch()


# -- registration ------------------------------------------------------------------------

def dgaaccounts_agency_register(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Register an agency officer: a pending account and an agency registration request.

    Anyone may call it. A verification email is sent at once; the request moves on when the
    address is confirmed (see ``dgaaccounts_email_verify``).

    :param name: username
    :param fullname: full name
    :param email: the officer's email (on an agency domain where the portal requires one)
    :param password: password for the account
    :param organization: id or name of the agency's organization on the portal, or
    :param agency_name: the agency's name, when it has no organization on the portal yet
    :param position: the officer's position
    :param phone: the officer's phone number
    :param superior_name: name of the superior who approves the application
    :param superior_position: position of that superior
    :param signed_form: (optional) the signed application form, a PDF, JPEG or PNG upload
    :returns: ``request_id``, ``reference`` and ``state`` (and ``applicant_token`` when a
        provider sign-in verified the address: see the README, "Sign in with ThaID")
    """
    tk.check_access("dgaaccounts_agency_register", context, data_dict)
    ratelimit.hit("register", _email_key(data_dict))
    data = _validate(data_dict, schema.agency_register(), context)
    details = {k: data.get(k) for k in (
        "position", "phone", "superior_name", "superior_position", "agency_name")}
    # Set only by the provider sign-in's views (views_oidc), never from an API call's data.
    verified = identity.verified_from(context)
    details["identity"] = verified.record if verified else None
    result: dict[str, Any] = {}
    upload = data_dict.get("signed_form")
    if upload not in (None, "") and not _is_upload(upload):
        raise tk.ValidationError({"signed_form": [tk._("Upload the scan as a file.")]})
    stored: storage.StoredDocument | None = None
    audited: dict[str, Any] = {}
    try:
        if _is_upload(upload):
            stored = _store(upload)
        req = _create_applicant(context, data, workflow.AGENCY, details,
                                organization_id=data.get("organization"))
        if stored is not None:
            doc = _add_document(req, stored, uploaded_by=req.user_id)
            audited["signatures"] = signature_store.audit_details(
                signature_store.check_upload(req, doc))
        workflow.audit("register", req.user_id, req, to_state=req.state,
                       details={"with_document": stored is not None, **audited})
        result = _verify_or_send(req, verified, data["email"], "verify_agency")
        model.Session.commit()
    except BaseException:
        model.Session.rollback()
        if stored is not None:
            storage.get_store().delete(stored.key)
        raise
    mail.dispatch()
    return {**result, "request_id": req.id, "reference": req.reference, "state": req.state}


def dgaaccounts_developer_register(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Sign up a developer: a pending account, active once the email is confirmed.

    Anyone may call it. The verification email is sent at once; confirming it returns an API
    token (see ``dgaaccounts_email_verify``).

    :param name: username
    :param fullname: full name
    :param email: email address
    :param password: password for the account
    :param purpose: (optional) what the developer builds, and for whom
    :returns: ``request_id`` and ``state`` (the same answer for an address already waiting
        for verification, which gets its link again); when a provider sign-in verified the
        address, the account is active at once and ``api_token`` is there too
    """
    tk.check_access("dgaaccounts_developer_register", context, data_dict)
    ratelimit.hit("register", _email_key(data_dict))
    sch = schema.developer_register()
    # Set only by the provider sign-in's views (views_oidc), never from an API call's data.
    verified = identity.verified_from(context)
    # A waiting sign-up is someone's account: a verified identity never takes it over (the
    # address is then refused as for any account that has it).
    waiting = None if verified else model.Session.query(Request).filter(
        Request.kind == workflow.DEVELOPER, Request.email == _email_key(data_dict),
        Request.state == workflow.AWAITING_VERIFICATION,
    ).first()
    if waiting is not None:
        # Signing up again before verifying sends the link again, never a second account. The
        # form is checked as for a new address (the answer must not tell the two apart), less
        # the checks that the address, and the applicant's own login name, are still free.
        _drop_validator(sch, "email", "dgaaccounts_email_available")
        owner = model.Session.get(model.User, waiting.user_id)
        if owner is not None and data_dict.get("name") == owner.name:
            _drop_validator(sch, "name", "user_name_validator")
    data = _validate(data_dict, sch, context)
    if waiting is not None:
        mail.queue_to_applicant(waiting, "verify_developer")
        workflow.audit("verification_resend", None, waiting)
        model.Session.commit()
        mail.dispatch()
        return {"request_id": waiting.id, "state": waiting.state}
    try:
        req = _create_applicant(context, data, workflow.DEVELOPER, {
            "purpose": data.get("purpose"), "identity": verified.record if verified else None})
        workflow.audit("register", req.user_id, req, to_state=req.state)
        result = _verify_or_send(req, verified, data["email"], "verify_developer")
        model.Session.commit()
    except BaseException:
        model.Session.rollback()
        raise
    if result:
        result.update(_developer_token(req))
    mail.dispatch()
    # No reference here: it would tell a new address from one already waiting.
    return {**result, "request_id": req.id, "state": req.state}


def _drop_validator(sch: dict[str, Any], field: str, name: str) -> None:
    validator = tk.get_validator(name)
    sch[field] = [v for v in sch[field] if v is not validator]


def _create_applicant(context: Context, data: dict[str, Any], kind: str,
                      details: dict[str, Any], organization_id: str | None = None) -> Request:
    """A pending CKAN user and its request, in the current transaction (not committed)."""
    site_user = _site_user()
    locale = _current_locale()
    try:
        user_dict = tk.get_action("user_create")(
            {"user": site_user["name"], "ignore_auth": True, "defer_commit": True,
             "schema": _user_create_schema()},
            {
                # An allowlist: never pass the caller's dict to user_create (mass assignment).
                "name": data["name"], "fullname": data["fullname"], "email": data["email"],
                "password": data["password"], "state": "pending",
                "plugin_extras": {"dgaaccounts": {"locale": locale}},
            },
        )
        model.Session.flush()
    except IntegrityError as exc:
        # The same form submitted twice at once: both passed the name check, the user
        # table's unique name keeps one.
        model.Session.rollback()
        raise tk.ValidationError(
            {"name": [tk._("That login name is not available.")]}) from exc
    req = Request(
        reference=_next_reference(), kind=kind, state=workflow.AWAITING_VERIFICATION,
        user_id=user_dict["id"], email=data["email"], organization_id=organization_id,
        details={k: v for k, v in details.items() if v not in (None, "")}, locale=locale,
    )
    # Two sign-ups with one address at the same moment: the unique index keeps one.
    _add_unique(req, "dgaaccounts_request_open_email_uq", "email",
                tk._("This email address cannot be used for a new account."))
    verified = identity.verified_from(context)
    if verified is not None:
        # The identity signs in to this account once it is open (same transaction: an
        # identity linked meanwhile refuses the registration, nothing is made).
        user = model.User.get(req.user_id)
        assert user is not None  # made above
        identity.link_verified(user, verified, None)
    return req


def _verify_or_send(req: Request, verified: identity.Verified | None, email: str,
                    template: str) -> dict[str, Any]:
    """The verification email, or, when the provider sign-in asserted this very address
    verified, the verification itself at once (what ``dgaaccounts_email_verify`` does)."""
    if not identity.email_confirmed_by(verified, email):
        mail.queue_to_applicant(req, template)
        return {}
    return _confirm_email(req, {"email_verified_by": verified.provider})


def _site_user() -> dict[str, Any]:
    # The first two sign-ups of a new portal may both create the site user: one of them loses
    # on the unique name, and then finds the other's.
    site_user: dict[str, Any]
    try:
        site_user = tk.get_action("get_site_user")({"ignore_auth": True}, {})
    except IntegrityError:
        model.Session.rollback()
        site_user = tk.get_action("get_site_user")({"ignore_auth": True}, {})
    return site_user


def _user_create_schema() -> dict[str, Any]:
    # CKAN's own user schema, minus email_is_unique: it compares with ILIKE, where "%" and "_"
    # are wildcards. Our dgaaccounts_email_available has already compared exact addresses.
    from ckan.logic.schema import default_user_schema

    sch = default_user_schema()
    email_is_unique = tk.get_validator("email_is_unique")
    email = sch["email"]
    assert isinstance(email, list)  # a field's validators
    sch["email"] = [v for v in email if v is not email_is_unique]
    return sch


def _add_unique(req: Request, index: str, field: str, message: str) -> None:
    """Add ``req``; a clash on the unique ``index`` becomes a ValidationError on ``field``."""
    model.Session.add(req)
    try:
        model.Session.flush()
    except IntegrityError as exc:
        model.Session.rollback()
        if index not in str(exc.orig):
            raise
        raise tk.ValidationError({field: [message]}) from exc


def _next_reference() -> str:
    number = model.Session.execute(text("SELECT nextval('dgaaccounts_reference_seq')")).scalar()
    return f"DGA-{utcnow().year}-{number:06d}"


def _current_locale() -> str:
    try:
        lang = tk.h.lang()
    except (RuntimeError, AttributeError):
        lang = None
    if lang not in mail.LOCALES:
        lang = tk.config.get("ckan.locale_default")
    return lang if lang in mail.LOCALES else "th"


# -- verification ------------------------------------------------------------------------

@_rolls_back
def dgaaccounts_email_verify(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Confirm an email address with the token from the verification email.

    Anyone holding the token may call it; the token works once and expires. An agency
    registration moves on to ``awaiting_document`` (or ``submitted`` when the signed form came
    with the registration) and the result holds an ``applicant_token`` for the status page and
    uploads. A developer account becomes active and the result holds its ``api_token``, shown
    only this once.

    :param token: the token from the email link
    :returns: ``request_id``, ``kind``, ``state`` and ``applicant_token``, or ``api_token``
        and the developer's ``user_name``
    """
    tk.check_access("dgaaccounts_email_verify", context, data_dict)
    ratelimit.hit("verify")
    data = _validate(data_dict, schema.token(), context)
    row = tokens.find(data["token"], tokens.VERIFY, lock=True)
    if row is None:
        model.Session.rollback()
        raise tk.ValidationError({"token": [tk._("This link is invalid, used or expired.")]})
    req = model.Session.get(Request, row.request_id)
    assert req is not None  # request_id is a foreign key
    row.used = utcnow()
    result = _confirm_email(req)
    model.Session.commit()
    if req.kind == workflow.DEVELOPER:
        result.update(_developer_token(req))
        result["user_name"] = _applicant(req).name  # the page signs them in
    result["state"] = req.state
    mail.dispatch()
    return result


def _confirm_email(req: Request, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The address of ``req`` is confirmed (in the caller's transaction): the request moves on;
    a developer's account opens, an agency applicant gets the token of the status page."""
    event = "verify_email_with_document" if (
        req.kind == workflow.AGENCY and requests_read.documents(req)) else "verify_email"
    workflow.transition(req, event, req.user_id, details=details)
    result: dict[str, Any] = {"request_id": req.id, "kind": req.kind}
    if req.kind != workflow.DEVELOPER:
        result["applicant_token"] = tokens.mint(req, tokens.APPLICANT)
    return result


def _applicant(req: Request) -> model.User:
    user = model.User.get(req.user_id)
    assert user is not None  # user_id is a foreign key
    return user


def _developer_token(req: Request) -> dict[str, Any]:
    """A verified developer's API token. CKAN's own token API, after the commit (it commits):
    the token shows in the user's API tokens tab; the welcome email tells of this one."""
    user = _applicant(req)
    token_request: dict[str, Any] = {"user": user.name, "name": "dgaaccounts"}
    if p.plugin_loaded("expire_api_token"):
        # That plugin requires a lifetime: give the one its operator configured.
        token_request.update(
            expires_in=tk.config.get("expire_api_token.default_lifetime"), unit=1)
    # (the extension's own key: CKAN's Context type lists only core keys)
    signup: Context = {  # type: ignore[typeddict-unknown-key]
        "user": user.name, "ignore_auth": True, "dgaaccounts_signup": True}
    token = tk.get_action("api_token_create")(signup, token_request)
    return {"api_token": token["token"], "api_token_expires": token.get("expires_at")}


@_rolls_back
def dgaaccounts_verification_resend(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Send the verification email again.

    Anyone may call it; the answer is the same whether or not the address is known.

    :param email: the address used to register
    :returns: ``message``
    """
    tk.check_access("dgaaccounts_verification_resend", context, data_dict)
    ratelimit.hit("resend", _email_key(data_dict))
    data = _validate(data_dict, schema.verification_resend(), context)
    req = model.Session.query(Request).filter(
        Request.email == data["email"], Request.state == workflow.AWAITING_VERIFICATION
    ).first()
    if req is not None:
        template = "verify_developer" if req.kind == workflow.DEVELOPER else "verify_agency"
        mail.queue_to_applicant(req, template)
        workflow.audit("verification_resend", None, req)
        _commit(context)
    return {"message": tk._(
        "If this address is waiting for verification, a new link is on its way.")}


# -- cancellation and suspension ---------------------------------------------------------

@_rolls_back
def dgaaccounts_cancellation_request_create(context: Context,
                                            data_dict: DataDict) -> dict[str, Any]:
    """Ask for the cancellation (permanent) or suspension (until reactivated) of one's account.

    The signed-in user only. The request waits for the signed request form (see
    ``dgaaccounts_request_document_upload``); one open request of this kind per user.

    :param kind: ``cancellation`` or ``suspension``
    :param reason: why
    :returns: the request, as ``dgaaccounts_request_show``
    """
    tk.check_access("dgaaccounts_cancellation_request_create", context, data_dict)
    data = _validate(data_dict, schema.cancellation_request_create(), context)
    user = model.User.get(context.get("user") or "")
    if user is None or user.state != "active":
        raise tk.NotAuthorized(tk._("Sign in to ask for this."))
    if account.is_last_active_sysadmin(user):
        raise tk.ValidationError({"kind": [tk._(
            "You are the last active sysadmin: make someone else a sysadmin first.")]})
    req = Request(
        reference=_next_reference(), kind=data["kind"], state=workflow.AWAITING_DOCUMENT,
        user_id=user.id, email=(user.email or "").strip().lower(), locale=_current_locale(),
        organization_id=approval.organization_for_account(user),
        details={"reason": data["reason"],
                 "memberships": [list(m) for m in account.memberships(user)]},
    )
    _add_unique(req, "dgaaccounts_request_open_account_uq", "kind", tk._(
        "You already have an open request to close or suspend your account."))
    workflow.audit("request_create", user.id, req, to_state=req.state,
                   details={"kind": req.kind})
    mail.queue_to_applicant(req, "account_request_received")
    _commit(context)
    return _shown(req, context, data_dict)


@_rolls_back
def dgaaccounts_user_reactivate(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Open a suspended account again. Sysadmins only.

    The account's old sessions and API tokens stay invalid: the user signs in again and
    creates new tokens.

    :param id: id or name of the suspended user
    :returns: ``id``, ``name`` and ``state`` of the user
    """
    tk.check_access("dgaaccounts_user_reactivate", context, data_dict)
    data = _validate(data_dict, schema.user_reactivate(), context)
    user = model.Session.query(model.User).filter(
        or_(model.User.id == data["id"], model.User.name == data["id"])
    ).with_for_update().one_or_none()
    if user is None:
        raise tk.ObjectNotFound(tk._("User not found."))
    if not account.is_suspended(user) or user.state != "pending":
        raise tk.ValidationError({"id": [tk._("This account is not suspended.")]})
    account.reactivate(user)
    workflow.audit("reactivate", _actor_id(context), target_user_id=user.id,
                   from_state=workflow.SUSPENDED, to_state=workflow.ACTIVE)
    if user.email:
        mail.queue(None, "reactivated", user.email, recipient_name=user.fullname or user.name,
                   locale=mail.user_locale(user))
    _commit(context)
    return {"id": user.id, "name": user.name, "state": user.state}


# -- documents ---------------------------------------------------------------------------

@_rolls_back
def dgaaccounts_request_document_upload(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Upload the signed form (a scan: PDF, JPEG or PNG) of a request.

    The request's applicant may call it, signed in or with the applicant token from the email.
    The request moves to ``submitted`` and the sysadmins are told.

    :param id: the request id
    :param signed_form: the file
    :param token: (optional) the applicant token, for an applicant who is not signed in
    :returns: the request, as ``dgaaccounts_request_show``
    """
    data = _validate(data_dict, schema.request_id(), context)
    req = requests_read.get(data["id"])
    # for the auth function (an extension's key: CKAN's Context type lists only core keys)
    context["dgaaccounts_request"] = req  # type: ignore[typeddict-unknown-key]
    tk.check_access("dgaaccounts_request_document_upload", context, data_dict)
    ratelimit.hit("upload", req.id)
    workflow.check(req, "upload_document")
    upload = data_dict.get("signed_form")
    if not _is_upload(upload):
        raise tk.ValidationError({"signed_form": [tk._("Choose the scan of the signed form.")]})
    stored = _store(upload)
    try:
        doc = _add_document(req, stored, uploaded_by=_actor_id(context) or req.user_id)
        checked = signature_store.check_upload(req, doc)
        workflow.transition(req, "upload_document", _actor_id(context) or req.user_id,
                            details={"document_id": doc.id, "sha256": doc.sha256,
                                     "signatures": signature_store.audit_details(checked)})
        model.Session.commit()
    except BaseException:
        model.Session.rollback()
        storage.get_store().delete(stored.key)
        raise
    mail.dispatch()
    return _shown(req, context, data_dict, with_history=False)


def _is_upload(value: Any) -> bool:
    return value is not None and (hasattr(value, "read") or hasattr(value, "stream"))


def _store(upload: Any) -> storage.StoredDocument:
    stream = getattr(upload, "stream", upload)
    name = getattr(upload, "filename", None) or ""
    try:
        return storage.get_store().save(
            stream, name, max_size=config.upload_max_size(), allowed=config.upload_types())
    except storage.DocumentError as exc:
        raise tk.ValidationError({"signed_form": [str(exc)]}) from exc


def _add_document(req: Request, stored: storage.StoredDocument, uploaded_by: str) -> Document:
    doc = Document(
        request_id=req.id, original_name=stored.original_name, mimetype=stored.mimetype,
        size=stored.size, sha256=stored.sha256, storage_key=stored.key, uploaded_by=uploaded_by,
    )
    model.Session.add(doc)
    model.Session.flush()
    return doc


# -- reading -----------------------------------------------------------------------------

@tk.side_effect_free
def dgaaccounts_request_show(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """One request with its documents' metadata and its history.

    Sysadmins may call it, and the request's applicant (signed in, or with the applicant token).

    :param id: the request id
    :param token: (optional) the applicant token
    :returns: the request: ``id``, ``reference``, ``kind``, ``state``, ``user_id``, ``created``,
        ``submitted``, ``due``, ``overdue``, ``documents``, ``history``... and
        ``allowed_events``: the events the caller may fire now (``upload_document``,
        ``approve``, ``reject``, ``return``, ``withdraw``), each legal in the request's state
        and allowed to the caller by the auth function of its action
    """
    data = _validate(data_dict, schema.request_id(), context)
    req = requests_read.get(data["id"])
    # for the auth function (an extension's key: CKAN's Context type lists only core keys)
    context["dgaaccounts_request"] = req  # type: ignore[typeddict-unknown-key]
    tk.check_access("dgaaccounts_request_show", context, data_dict)
    return _shown(req, context, data_dict)


@tk.side_effect_free
def dgaaccounts_request_list(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """The approval queue: requests, oldest due first. Sysadmins only.

    :param kind: (optional) one kind of request
    :param state: (optional) one state; by default every open request
    :param every_state: (optional) true: requests in every state, closed ones too (unless
        ``state`` is given)
    :param overdue: (optional) only requests past their due time
    :param q: (optional) text found in the reference, username, name, email or agency
    :param signatures: (optional) ``verified``: only requests whose latest document carries
        valid, matched digital signatures of everyone who must sign
    :param organization: (optional) one organization's requests (id or name); its admins may
        list these where its approval mode gives them a part
    :param limit: page size (default 20)
    :param offset: (optional)
    :returns: ``count`` and ``results``; with ``q``, also ``other_states``: how many more
        requests match the search and the other filters in the states not listed
    """
    tk.check_access("dgaaccounts_request_list", context, data_dict)
    return requests_read.queue(_validate(data_dict, schema.request_list(), context))


@tk.side_effect_free
def dgaaccounts_audit_list(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Audit events, newest first. Sysadmins only.

    :param request_id: (optional) events of one request (its id or reference)
    :param user_id: (optional) events about one user (id or name)
    :param actor: (optional) events caused by one user (id or name)
    :param action: (optional) one kind of event, e.g. ``approve``
    :param since: (optional) events from this day (``YYYY-MM-DD``, the portal's time zone) or
        time (ISO 8601, UTC unless an offset is given), included
    :param until: (optional) events up to this day or time, included
    :param limit: page size (default 50)
    :param offset: (optional)
    :returns: ``count`` and ``results``; each event also names its ``request_reference``,
        ``actor_name`` and ``target_user_name``
    """
    tk.check_access("dgaaccounts_audit_list", context, data_dict)
    data = _validate(data_dict, schema.audit_list(), context)
    conditions = auditlog.filters(data)
    count = auditlog.count(conditions)
    rows = auditlog.query(conditions).limit(data["limit"]).offset(data["offset"])
    return {"count": count, "results": [auditlog.row_dict(row) for row in rows]}


# -- decisions ---------------------------------------------------------------------------

@_rolls_back
def dgaaccounts_request_approve(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Approve a submitted request. Sysadmins; in the ``delegated`` approval mode also the
    admins of the request's organization (never their own request; into their own organization,
    as ``member`` or ``editor``; not the cancellation or suspension of an organization admin).

    In the same transaction, an agency registration's account becomes active and a member of
    the organization; a cancelled account is deleted, a suspended one blocked (both signed out,
    without API tokens).

    :param id: the request id
    :param note: (optional) a note for the record
    :param organization: (agency registrations) the organization, by default the applicant's
        choice
    :param role: (agency registrations) ``member``, ``editor`` (default) or ``admin``
    :returns: the request, as ``dgaaccounts_request_show``
    """
    tk.check_access("dgaaccounts_request_approve", context, data_dict)
    data = _validate(data_dict, schema.request_approve(), context)
    req = requests_read.get(data["id"], lock=True)
    workflow.check(req, "approve")
    actor = _actor_id(context)
    _not_own_request(req, actor)
    details: dict[str, Any] = {}
    if req.kind in workflow.ACCOUNT_CHANGES:
        recheck.lock_sysadmins()  # before the count, and before any row lock
    capacity = recheck.decider(req, actor, "approve", data)
    user = recheck.account_for(req)
    if req.kind in workflow.ACCOUNT_CHANGES and account.is_last_active_sysadmin(user):
        raise tk.ValidationError({"id": [tk._(
            "This is the last active sysadmin: make someone else a sysadmin first.")]})
    if req.kind == workflow.AGENCY:
        org_id = recheck.organization(data.get("organization") or req.organization_id).id
        details = {"organization_id": org_id, "role": data["role"]}
    details["by"] = capacity  # sysadmin or organization_admin (approval.py)
    # The event's effects (workflow.TRANSITIONS) change the account and the membership.
    workflow.transition(req, "approve", actor, note=data.get("note"), details=details)
    _commit(context)
    return _shown(req, context, data_dict)


@_rolls_back
def dgaaccounts_request_reject(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Reject a submitted request; the reason is sent to the applicant. Sysadmins; in the
    ``delegated`` approval mode also the admins of the request's organization.

    :param id: the request id
    :param reason: why (required)
    :returns: the request, as ``dgaaccounts_request_show``
    """
    return _decide_with_reason(context, data_dict, "dgaaccounts_request_reject", "reject")


@_rolls_back
def dgaaccounts_request_return(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Return a submitted request to the applicant for a corrected document. Sysadmins; in the
    ``delegated`` approval mode also the admins of the request's organization.

    :param id: the request id
    :param reason: what to correct (required)
    :returns: the request, as ``dgaaccounts_request_show``
    """
    return _decide_with_reason(context, data_dict, "dgaaccounts_request_return", "return")


def _decide_with_reason(context: Context, data_dict: DataDict, name: str,
                        event: str) -> dict[str, Any]:
    tk.check_access(name, context, data_dict)
    data = _validate(data_dict, schema.request_decision_with_reason(), context)
    req = requests_read.get(data["id"], lock=True)
    workflow.check(req, event)
    _not_own_request(req, _actor_id(context))
    capacity = recheck.decider(req, _actor_id(context), event, data)
    recheck.account_for(req)
    workflow.transition(req, event, _actor_id(context), note=data["reason"],
                        details={"by": capacity})
    _commit(context)
    return _shown(req, context, data)


@_rolls_back
def dgaaccounts_request_endorse(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Endorse a submitted request: the agency confirms the applicant (``endorse`` approval
    mode). The admins of the request's organization, once per submission; the request stays
    submitted and the sysadmins are emailed to decide.

    :param id: the request id
    :param note: (optional) a note for the sysadmins
    :returns: the request, as ``dgaaccounts_request_show``
    """
    tk.check_access("dgaaccounts_request_endorse", context, data_dict)
    data = _validate(data_dict, schema.request_endorse(), context)
    return _endorsement(context, data, "endorse", data.get("note"))


@_rolls_back
def dgaaccounts_request_decline(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Decline a submitted request: the agency does not confirm the applicant (``endorse``
    approval mode). The admins of the request's organization, once per submission; the request
    stays submitted and the sysadmins are emailed to decide.

    :param id: the request id
    :param reason: why (required; shown to the sysadmins)
    :returns: the request, as ``dgaaccounts_request_show``
    """
    tk.check_access("dgaaccounts_request_decline", context, data_dict)
    data = _validate(data_dict, schema.request_decision_with_reason(), context)
    return _endorsement(context, data, "decline", data["reason"])


def _endorsement(context: Context, data: dict[str, Any], event: str,
                 note: str | None) -> dict[str, Any]:
    req = requests_read.get(data["id"], lock=True)
    workflow.check(req, event)
    actor = _actor_id(context)
    _not_own_request(req, actor)
    capacity = recheck.decider(req, actor, event, data)
    recheck.account_for(req)
    workflow.transition(req, event, actor, note=note, details={"by": capacity})
    _commit(context)
    return _shown(req, context, data)


@_rolls_back
def dgaaccounts_request_reject_spam(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Reject as spam a registration still awaiting email verification. Sysadmins only.

    The request is closed (``rejected``, audited as ``reject_spam``), its pending account is
    removed and its verification link stops working; nobody is emailed (the address may not be
    the sender's).

    :param id: the request id
    :param reason: (optional) a note for the record
    :returns: the request, as ``dgaaccounts_request_show``
    """
    tk.check_access("dgaaccounts_request_reject_spam", context, data_dict)
    data = _validate(data_dict, schema.request_reject_spam(), context)
    req = requests_read.get(data["id"], lock=True)
    workflow.check(req, "reject_spam")
    _not_own_request(req, _actor_id(context))
    recheck.account_for(req)
    # The event's effect (workflow.TRANSITIONS) removes the pending account.
    workflow.transition(req, "reject_spam", _actor_id(context), note=data.get("reason"))
    _commit(context)
    return _shown(req, context, data)


@_rolls_back
def dgaaccounts_request_withdraw(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Withdraw an open request. The request's applicant only (signed in or with the token).

    :param id: the request id
    :param token: (optional) the applicant token
    :returns: the request, as ``dgaaccounts_request_show``
    """
    data = _validate(data_dict, schema.request_id(), context)
    req = requests_read.get(data["id"], lock=True)
    # for the auth function (an extension's key: CKAN's Context type lists only core keys)
    context["dgaaccounts_request"] = req  # type: ignore[typeddict-unknown-key]
    tk.check_access("dgaaccounts_request_withdraw", context, data_dict)
    workflow.transition(req, "withdraw", _actor_id(context) or req.user_id)
    _commit(context)
    return _shown(req, context, data_dict)


# -- approval modes (approval.py) --------------------------------------------------------------

def dgaaccounts_approval_mode_update(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Set who decides the requests of an organization. Sysadmins only.

    :param organization: id or name of the organization
    :param mode: ``central`` (the sysadmins decide), ``endorse`` (its admins endorse or
        decline, then the sysadmins decide), ``delegated`` (its admins decide; sysadmins can
        too) or ``default`` (follow the portal's ``approval_mode_default``)
    :returns: as ``dgaaccounts_approval_mode_show``
    """
    tk.check_access("dgaaccounts_approval_mode_update", context, data_dict)
    data = _validate(data_dict, schema.approval_mode_update(), context)
    # Locked until the commit: a decision re-checks the mode under a shared lock of this row.
    group = model.Session.query(model.Group).filter(
        model.Group.id == data["organization"]).with_for_update().one()
    mode = None if data["mode"] == "default" else data["mode"]
    previous = approval.set_mode(group.id, mode, _actor_id(context))
    workflow.audit("approval_mode_set", _actor_id(context), details={
        "organization_id": group.id, "organization": group.name, "from": previous,
        "to": approval.mode_for(group.id), "stored": mode})
    model.Session.commit()
    return _approval_mode_dict(group)


@tk.side_effect_free
def dgaaccounts_approval_mode_show(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """The approval mode of an organization. Sysadmins and the organization's admins.

    :param organization: id or name of the organization
    :returns: ``organization_id``, ``organization_name``, ``mode`` (the one that applies),
        ``stored`` (the one sysadmins set, or null where it follows the default) and
        ``default`` (the portal's default)
    """
    tk.check_access("dgaaccounts_approval_mode_show", context, data_dict)
    data = _validate(data_dict, schema.approval_mode_show(), context)
    group = model.Session.get(model.Group, data["organization"])
    assert group is not None  # the schema's dgaaccounts_organization found it
    return _approval_mode_dict(group)


@tk.side_effect_free
def dgaaccounts_approval_mode_list(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """The active organizations with their approval modes, by title. Sysadmins only.

    :param q: (optional) text in the organization's name or title
    :param mode: (optional) only organizations under this mode
    :param limit: page size (default 50)
    :param offset: (optional)
    :returns: ``count``, ``default`` and ``results`` (as ``dgaaccounts_approval_mode_show``)
    """
    tk.check_access("dgaaccounts_approval_mode_list", context, data_dict)
    data = _validate(data_dict, schema.approval_mode_list(), context)
    default = approval.default_mode()
    stored = func.coalesce(ApprovalMode.mode, default)
    query = model.Session.query(model.Group, ApprovalMode.mode).outerjoin(
        ApprovalMode, ApprovalMode.organization_id == model.Group.id).filter(
        model.Group.is_organization.is_(True), model.Group.state == "active")
    if data.get("q"):
        like = "%" + data["q"].replace("\\", "\\\\").replace("%", "\\%").replace(
            "_", "\\_") + "%"
        query = query.filter(or_(model.Group.name.ilike(like, escape="\\"),
                                 model.Group.title.ilike(like, escape="\\")))
    if data.get("mode"):
        query = query.filter(stored == data["mode"])
    count = query.count()
    rows = query.order_by(model.Group.title, model.Group.name).limit(
        data["limit"]).offset(data["offset"]).all()
    return {"count": count, "default": default, "results": [
        _approval_mode_dict(group, stored_mode=mode or None) for group, mode in rows]}


def _approval_mode_dict(group: model.Group, stored_mode: Any = False) -> dict[str, Any]:
    if stored_mode is False:
        stored_mode = approval.stored_mode(group.id)
    return {"organization_id": group.id, "organization_name": group.name,
            "organization_title": group.title, "stored": stored_mode,
            "mode": stored_mode or approval.default_mode(), "default": approval.default_mode()}


# -- helpers (private: a leading underscore keeps them out of the action API) -------------

def _email_key(data_dict: DataDict) -> str:
    """The address to count attempts and find a waiting sign-up by; "" for no usable text
    (the schema then says what is wrong with it)."""
    value = data_dict.get("email")
    if not isinstance(value, str) or any(
            unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in value.strip()):
        return ""
    return value.strip().lower()


def _shown(req: Request, context: Context, data_dict: DataDict, *,
           with_history: bool = True) -> dict[str, Any]:
    """The request as ``dgaaccounts_request_show`` returns it to this caller."""
    result = requests_read.as_dict(req, with_history=with_history)
    result["allowed_events"] = _allowed_events(req, context, data_dict.get("token"))
    return result


def _allowed_events(req: Request, context: Context, token: Any) -> list[str]:
    """The events of ``req`` that the caller may fire now: legal in its state, fired by an
    action (``workflow.ACTIONS``) whose auth function lets the caller call it, and, for a
    decision or an endorsement, not on the caller's own request and allowed to them by the
    request's approval mode (``approval.can_decide``, which sysadmins do not skip)."""
    actor = _actor_id(context)
    user = model.Session.get(model.User, actor) if actor else None
    allowed = []
    for event in workflow.allowed_events(req):
        action = workflow.ACTIONS.get(event)
        if action is None:
            continue
        if event in workflow.DECISIONS and (actor == req.user_id or (
                not context.get("ignore_auth") and not approval.can_decide(
                    user, req, event, {"role": "member"} if event == "approve" else None))):
            continue
        # (the request for the auth function: CKAN's Context type lists only core keys)
        asking: Context = {  # type: ignore[typeddict-unknown-key]
            "user": context.get("user", ""), "dgaaccounts_request": req}
        for key in ("auth_user_obj", "ignore_auth"):
            if context.get(key):
                asking[key] = context[key]
        try:
            tk.check_access(action, asking, {"id": req.id, "token": token})
        except tk.NotAuthorized:
            continue
        allowed.append(event)
    return allowed


def _actor_id(context: Context) -> str | None:
    user = _caller(context)
    return user.id if user is not None else None


def _not_own_request(req: Request, actor_id: str | None) -> None:
    if actor_id is not None and actor_id == req.user_id:
        raise tk.NotAuthorized(tk._("A sysadmin cannot decide their own request."))


# -- service report --------------------------------------------------------------------------

_REPORT_MAX_DAYS = 3660


@tk.side_effect_free
def dgaaccounts_sla_report(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Service figures per kind of request: does the portal keep its promises? Sysadmins only.

    Per kind: ``open``, ``awaiting_decision`` and ``overdue`` requests now; over the range, the
    requests ``decided``, those decided ``within_target`` (count and ``within_target_share``,
    0 to 1), the ``median_seconds`` and ``p90_seconds`` of the time to decision, and the same
    per week or month in ``periods``. Time to decision is ``decided - submitted`` (developers:
    ``decided - created``); within target means ``decided <= due``; percentiles interpolate
    linearly between closest ranks (PostgreSQL ``percentile_cont``). Days, weeks (from Monday)
    and months follow ``ckan.display_timezone``.

    :param since: (optional) first day, ``YYYY-MM-DD`` (default: twelve weeks or months ago)
    :param until: (optional) last day, included (default: today)
    :param period: (optional) ``week`` (default) or ``month``
    :param kind: (optional) one kind of request; by default every kind
    :returns: ``since``, ``until``, ``period``, ``timezone``, ``generated`` and ``kinds``: one
        dict per kind with ``kind``, ``target_seconds``, the figures above and ``periods``
    """
    tk.check_access("dgaaccounts_sla_report", context, data_dict)
    data = _validate(data_dict, schema.sla_report(), context)
    since, until = reports.default_range(data["period"])
    until = data.get("until") or until
    if data.get("since"):
        since = data["since"]
    elif data.get("until"):
        since = reports.default_range(data["period"], until)[0]
    if since > until:
        raise tk.ValidationError({"until": [tk._("The end of the range comes before its start.")]})
    if (until - since).days > _REPORT_MAX_DAYS:
        raise tk.ValidationError({"until": [tk._("Choose a range of ten years or less.")]})
    kinds = (data["kind"],) if data.get("kind") else None
    return reports.sla_report(since, until, data["period"], kinds=kinds)


# -- developer API keys (logic/token_action.py), identity links (logic/identity_action.py) --
# tk.blanket.actions registers a module's __all__ when it has one (else its own public
# functions): the list names this module's actions and those of token_action.
from inspect import isfunction as _isfunction  # noqa: E402
from . import identity_action as _identity_action  # noqa: E402
from . import token_action as _token_action  # noqa: E402
from .identity_action import *  # noqa: E402,F401,F403
from .token_action import *  # noqa: E402,F401,F403
from . import housekeeping as _housekeeping  # noqa: E402
from .housekeeping import *  # noqa: E402,F401,F403
from . import account_action as _account_action  # noqa: E402
from .account_action import *  # noqa: E402,F401,F403
from . import queue_action as _queue_action  # noqa: E402
from .queue_action import *  # noqa: E402,F401,F403

__all__ = sorted(
    {name for name, value in list(globals().items()) if _isfunction(value)
     and getattr(value, "__module__", None) == __name__ and not name.startswith("_")}
    | set(_token_action.__all__) | set(_queue_action.__all__) | set(_housekeeping.__all__)
    | set(_account_action.__all__) | set(_identity_action.__all__))
