"""Actions of the identity links (sign-in with ThaID / DGA Digital ID): list, link, unlink.

Published through logic/action.py (see the end of that module); auth functions of the same
names in logic/identity_auth.py. Linking and unlinking are audited (``identity_linked``,
``identity_unlinked``) by :mod:`ckanext.dgaaccounts.identity`.
"""
from __future__ import annotations

from typing import Any

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.types import Context, DataDict

from .. import identity, oidc
from . import schema

__all__ = [
    "dgaaccounts_identity_link_list", "dgaaccounts_identity_link", "dgaaccounts_identity_unlink",
]


def _validate(data_dict: DataDict, sch: dict[str, Any], context: Context) -> dict[str, Any]:
    data, errors = tk.navl_validate(dict(data_dict), sch, context)
    if errors:
        raise tk.ValidationError(errors)
    return data


def _caller(context: Context) -> model.User:
    user = model.User.get(context.get("user") or "") if context.get("user") else None
    if user is None:
        raise tk.NotAuthorized(tk._("Sign in with your password first."))
    return user


def _whose(context: Context, wanted: str | None) -> model.User:
    """The caller, or (sysadmins; the auth function refuses others) the user ``wanted``."""
    me = _caller(context)
    if not wanted or wanted in (me.id, me.name):
        return me
    user = model.User.get(wanted)
    if user is None:
        raise tk.ObjectNotFound(tk._("User not found."))
    return user


@tk.side_effect_free
def dgaaccounts_identity_link_list(context: Context, data_dict: DataDict) -> list[dict[str, Any]]:
    """The government identities linked to an account, oldest first.

    The signed-in user, for their own account; sysadmins, for anyone's. The citizen id is
    never stored, so never shown; neither is the provider's ``sub``.

    :param user: (optional) id or name of the account; default: the caller
    :returns: list of ``id``, ``user_id``, ``provider``, ``issuer``, ``linked``,
        ``linked_by``, ``last_used``
    """
    tk.check_access("dgaaccounts_identity_link_list", context, data_dict)
    data = _validate(data_dict, schema.identity_link_list(), context)
    user = _whose(context, data.get("user"))
    return [row.as_dict() for row in identity.of_user(user.id)]


def dgaaccounts_identity_link(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Link the identity a provider has just verified to the signed-in user's account.

    The signed-in (active) user only. The identity comes from the provider sign-in that the
    user started on their *Linked identities* page: only that page's callback can hand it to
    this action, never the action's parameters, so a call without it (e.g. over the API) is
    refused on ``identity``. Refused too: an identity linked to any account already, and a
    second identity of the same provider on one account.

    :returns: the link, as in ``dgaaccounts_identity_link_list``
    """
    tk.check_access("dgaaccounts_identity_link", context, data_dict)
    user = _caller(context)
    verified = identity.verified_from(context)
    if verified is None:
        raise tk.ValidationError({"identity": [tk._(
            "Sign in with the identity provider from the page \"Linked identities\" of your "
            "profile to link it.")]})
    why = oidc.refusal(user)
    if why:
        raise tk.NotAuthorized(why)
    try:
        row = identity.link_verified(user, verified, user.id)
    except tk.ValidationError:
        model.Session.rollback()
        raise
    if not context.get("defer_commit"):
        model.Session.commit()
    return row.as_dict()


def dgaaccounts_identity_unlink(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Unlink a government identity from an account; the provider no longer signs in to it.

    The signed-in user, for their own links; sysadmins, for anyone's. A link that is not the
    caller's is not found (404), whether or not it exists.

    :param id: the link's id (from ``dgaaccounts_identity_link_list``)
    :returns: the removed link
    """
    tk.check_access("dgaaccounts_identity_unlink", context, data_dict)
    data = _validate(data_dict, schema.identity_unlink(), context)
    me = _caller(context)
    row = identity.get(data["id"])
    if row is None or (row.user_id != me.id and not me.sysadmin):
        raise tk.ObjectNotFound(tk._("Linked identity not found."))
    removed = row.as_dict()
    identity.unlink_row(row, me.id)
    if not context.get("defer_commit"):
        model.Session.commit()
    return removed
