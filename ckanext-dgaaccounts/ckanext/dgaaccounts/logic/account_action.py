"""Actions behind the applicants' and sysadmins' pages: an account's standing, what a request's
form prints, one scan, a verification link's use, the organizations to choose from, and the
"forgot password" form. The pages call these instead of reading the database themselves.

Published through logic/action.py (see the end of that module): ``tk.blanket.actions`` takes a
module's ``__all__``. Their auth functions are in logic/auth.py, under the same names.
"""
from __future__ import annotations

import logging
from typing import Any

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.types import Context, DataDict

from .. import account, organizations, ratelimit, storage, tokens, workflow
from ..model import Document, Request
from . import schema

log = logging.getLogger(__name__)

__all__ = [
    "dgaaccounts_account_show", "dgaaccounts_request_form_show", "dgaaccounts_document_show",
    "dgaaccounts_verification_show", "dgaaccounts_organization_list",
    "dgaaccounts_password_reset_request",
]


@tk.side_effect_free
def dgaaccounts_account_show(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """An account's standing in the workflows. The signed-in user about their own account (no
    ``id``); sysadmins about any account.

    :param id: (optional) id or name of the user; by default the caller
    :returns: ``id``, ``name``, ``state``, ``suspended``, ``officer`` (the details of the
        user's approved agency registration: ``position``, ``superior_name``... or None) and
        ``open_account_request`` (``id``, ``reference``, ``kind`` and ``state`` of the user's
        open cancellation or suspension request, or None)
    """
    tk.check_access("dgaaccounts_account_show", context, data_dict)
    data = _validate(data_dict, schema.account_show(), context)
    user = model.User.get(data.get("id") or context.get("user") or "")
    if user is None:
        raise tk.ObjectNotFound(tk._("User not found."))
    open_request = model.Session.query(Request).filter(
        Request.user_id == user.id,
        Request.kind.in_(workflow.ACCOUNT_CHANGES),
        Request.state.in_(workflow.OPEN_STATES)).first()
    return {
        "id": user.id, "name": user.name, "state": user.state,
        "suspended": user.state == "pending" and account.is_suspended(user),
        "officer": _officer_details(user.id),
        "open_account_request": None if open_request is None else {
            k: getattr(open_request, k) for k in ("id", "reference", "kind", "state")},
    }


def _officer_details(user_id: str) -> dict[str, Any] | None:
    """The details of the user's approved agency registration, if they are an officer."""
    req = model.Session.query(Request).filter(
        Request.user_id == user_id, Request.kind == workflow.AGENCY,
        Request.state == workflow.APPROVED).order_by(Request.decided.desc()).first()
    return dict(req.details or {}) if req is not None else None


@tk.side_effect_free
def dgaaccounts_request_form_show(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """What the form of a request prints: the application form of an agency registration, or
    the request form of a cancellation or suspension (with a block for the superior when the
    user is an approved officer). The request's applicant (signed in, or with the applicant
    token) and sysadmins. A developer sign-up has no form (404).

    :param id: the request id
    :param token: (optional) the applicant token
    :returns: ``kind`` and ``fields``: ``reference``, ``fullname``, ``username``, ``email``
        and, per kind, ``phone``, ``position``, ``agency``, ``superior_name``,
        ``superior_position`` or ``reason``, ``memberships``, ``with_superior``...
    """
    req = _request(data_dict, context)
    tk.check_access("dgaaccounts_request_form_show", context, data_dict)
    user = model.Session.get(model.User, req.user_id)
    assert user is not None  # user_id is a foreign key
    details = dict(req.details or {})
    fields: dict[str, Any] = {"reference": req.reference, "fullname": user.fullname,
                              "username": user.name}
    if req.kind == workflow.AGENCY:
        org = model.Session.get(model.Group, req.organization_id) if req.organization_id \
            else None
        fields.update(
            email=req.email, phone=details.get("phone"), position=details.get("position"),
            agency=(org.title if org is not None else None) or details.get("agency_name"),
            superior_name=details.get("superior_name"),
            superior_position=details.get("superior_position"))
    elif req.kind in workflow.ACCOUNT_CHANGES:
        officer = _officer_details(user.id)
        fields.update(
            kind=req.kind, email=user.email, reason=details.get("reason"),
            memberships=[list(m) for m in details.get("memberships") or []],
            with_superior=officer is not None,
            superior_name=(officer or {}).get("superior_name"),
            superior_position=(officer or {}).get("superior_position"))
    else:
        raise tk.ObjectNotFound(tk._("This request has no form."))
    return {"kind": req.kind, "fields": fields}


@tk.side_effect_free
def dgaaccounts_document_show(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """One scan of a request, not purged and present in storage: its metadata. The request's
    applicant (signed in, or with the applicant token) and sysadmins. The download page streams
    the file; it finds the row in ``context["dgaaccounts_document"]``.

    :param id: the request id
    :param document_id: the document id
    :param token: (optional) the applicant token
    :returns: ``id``, ``request_id``, ``original_name``, ``mimetype``, ``size``, ``sha256``,
        ``uploaded``, ``purged``
    """
    data = _validate(data_dict, schema.document_show(), context)
    req = model.Session.get(Request, data["id"])
    # for the auth function (an extension's key: CKAN's Context type lists only core keys)
    context["dgaaccounts_request"] = req  # type: ignore[typeddict-unknown-key]
    # Access first: an unknown request is refused (403) as one that is not the caller's.
    tk.check_access("dgaaccounts_document_show", context, data_dict)
    if req is None:  # a sysadmin (CKAN skips auth functions for them)
        raise tk.ObjectNotFound(tk._("Document not found."))
    doc = model.Session.query(Document).filter(
        Document.id == data["document_id"], Document.request_id == req.id,
        Document.purged.is_(None)).one_or_none()
    if doc is None:
        raise tk.ObjectNotFound(tk._("Document not found."))
    if not storage.get_store().exists(doc.storage_key):
        log.error("document %s of request %s is missing from storage", doc.id, req.id)
        raise tk.ObjectNotFound(tk._("Document not found."))
    context["dgaaccounts_document"] = doc  # type: ignore[typeddict-unknown-key]
    return doc.as_dict()


@tk.side_effect_free
def dgaaccounts_verification_show(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Whether a verification link was used, and when. Anyone holding the link's token (which
    is the only key: nothing is told about a link one does not have).

    :param token: the token from the email link
    :returns: ``kind`` (of the request) and ``used`` (ISO 8601, UTC; None while unused)
    """
    tk.check_access("dgaaccounts_verification_show", context, data_dict)
    data = _validate(data_dict, schema.token(), context)
    found = tokens.verification_use(data["token"])
    if found is None:
        raise tk.ObjectNotFound(tk._("This link is invalid, used or expired."))
    used, kind = found
    return {"kind": kind, "used": used.isoformat() if used else None}


@tk.side_effect_free
def dgaaccounts_organization_list(context: Context, data_dict: DataDict) -> list[dict[str, Any]]:
    """The active organizations an officer may join, by title (one query, every one of them:
    the registration form's type-ahead and the approval page choose from them). Anyone.

    :returns: a list of ``id``, ``name``, ``title`` (the name when there is no title) and
        ``title_en`` (the ``title_en`` extra, "" when there is none; see organizations.py)
    """
    tk.check_access("dgaaccounts_organization_list", context, data_dict)
    return organizations.active()


def dgaaccounts_password_reset_request(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Email CKAN's password-reset link to the active account(s) that ``user`` names: by
    email (compared exactly) or by login name. Anyone may call it (CKAN's ``request_reset``
    rule); the answer is the same whether or not such an account exists, and the email goes
    through the outbox. Pending applicants get nothing: a reset would activate them.

    :param user: an email address or a login name
    :returns: ``message``
    """
    tk.check_access("dgaaccounts_password_reset_request", context, data_dict)
    wanted = data_dict.get("user")
    wanted = wanted.strip() if isinstance(wanted, str) else ""
    if not wanted:
        raise tk.ValidationError({"user": [tk._("Email is required")]})
    ratelimit.hit("reset", wanted.lower())
    account.send_password_reset(wanted)
    return {"message": tk._(
        "A reset link has been emailed to you (unless the account specified does not exist)")}


# -- helpers -----------------------------------------------------------------------------

def _validate(data_dict: DataDict, sch: dict[str, Any], context: Context) -> dict[str, Any]:
    data, errors = tk.navl_validate(dict(data_dict), sch, context)
    if errors:
        raise tk.ValidationError(errors)
    return data


def _request(data_dict: DataDict, context: Context) -> Request:
    """The request ``id`` names (404 if none), put in the context for its auth function."""
    data = _validate(data_dict, schema.request_id(), context)
    req = model.Session.get(Request, data["id"])
    if req is None:
        raise tk.ObjectNotFound(tk._("Request not found."))
    # for the auth function (an extension's key: CKAN's Context type lists only core keys)
    context["dgaaccounts_request"] = req  # type: ignore[typeddict-unknown-key]
    return req
