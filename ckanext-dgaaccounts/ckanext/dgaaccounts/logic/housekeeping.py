"""Housekeeping actions: expiry, scrubbing, the purge of scans, the sysadmins' reminders and
the CSV exports. Sysadmins only; ``ckan dgaaccounts expire|scrub|purge|remind|export`` calls
them as the site user, and the admin pages call the exports, so the auth functions (and their
matrix, tests/logic/test_auth.py) cover every way in.

The work itself stays in ``maintenance``, ``reminders`` and ``exports``; each action checks
access, validates and hands over. Published through logic/action.py (see the end of that
module): ``tk.blanket.actions`` takes a module's ``__all__``.
"""
from __future__ import annotations

from typing import Any, Final

from ckan.plugins import toolkit as tk
from ckan.types import Context, DataDict

from .. import exports, maintenance, reminders
from . import schema

__all__ = [
    "dgaaccounts_registrations_expire", "dgaaccounts_accounts_scrub",
    "dgaaccounts_documents_purge", "dgaaccounts_reminders_send",
    "dgaaccounts_requests_export", "dgaaccounts_audit_export",
]

#: Set in the context by the callers that stream the CSV (the admin page, the CLI): the
#: export's result then holds ``chunks``, an iterator, instead of the whole text in ``csv``.
STREAM: Final = "dgaaccounts_stream"


def streaming(context: Context) -> Context:
    """``context`` for an export whose caller streams the CSV (:data:`STREAM`)."""
    # (the extension's own key: CKAN's Context type lists only core keys)
    return {**context, STREAM: True}  # type: ignore[typeddict-unknown-key]


def dgaaccounts_registrations_expire(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Expire the registrations whose email was never confirmed in time, and remove their
    pending accounts (the username and address can be used again; the audit trail keeps the
    registration and its expiry). Sysadmins only; for cron (``ckan dgaaccounts expire``).

    :returns: ``expired`` (how many)
    """
    tk.check_access("dgaaccounts_registrations_expire", context, data_dict)
    return {"expired": maintenance.expire_unverified()}


def dgaaccounts_accounts_scrub(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Erase the personal details of the accounts cancelled longer ago than the retention
    period (``cancelled_retention_days``). Sysadmins only; for cron (``ckan dgaaccounts scrub``).

    :returns: ``scrubbed`` (how many accounts)
    """
    tk.check_access("dgaaccounts_accounts_scrub", context, data_dict)
    return {"scrubbed": maintenance.scrub_cancelled()}


def dgaaccounts_documents_purge(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Delete the files of the scans kept longer than ``document_retention_days`` after their
    request was closed; their metadata and the audit trail stay, and each deletion is audited.
    Sysadmins only; for cron (``ckan dgaaccounts purge``).

    :param dry_run: (optional) list the scans that would be deleted; delete nothing
    :returns: ``documents``: each with ``document_id``, ``request_id``, ``reference``,
        ``closed``, ``uploaded``, ``size`` and ``mimetype``, oldest closed first
    """
    tk.check_access("dgaaccounts_documents_purge", context, data_dict)
    data = _validate(data_dict, schema.housekeeping(), context)
    items = maintenance.purge_documents(dry_run=data["dry_run"])
    return {"documents": [{k: v.isoformat() if hasattr(v, "isoformat") else v
                           for k, v in item.items()} for item in items]}


def dgaaccounts_reminders_send(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """Email every active sysadmin about the requests due soon and overdue, once per request
    and threshold (see ``reminders``). Sysadmins only; for cron (``ckan dgaaccounts remind``).

    :param dry_run: (optional) list what would be reminded; send and record nothing
    :returns: ``overdue`` and ``due_soon`` (the requests: ``id``, ``reference``, ``kind``,
        ``username``, ``due``) and ``emails`` (how many were queued)
    """
    tk.check_access("dgaaccounts_reminders_send", context, data_dict)
    data = _validate(data_dict, schema.housekeeping(), context)
    return reminders.send(dry_run=data["dry_run"])


def dgaaccounts_requests_export(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """The requests as CSV (the columns of ``exports.REQUEST_COLUMNS``, UTC times, a UTF-8
    byte order mark). Sysadmins only.

    :param since: (optional) from this day (``YYYY-MM-DD``) or time (ISO 8601, UTC)
    :param until: (optional) up to this day or time, included
    :param by: (optional) the date the range applies to: ``created`` (default), ``submitted``
        or ``decided``
    :param kind: (optional) one kind of request
    :returns: ``filename`` and ``csv`` (the text); the admin page and the CLI stream it
    """
    tk.check_access("dgaaccounts_requests_export", context, data_dict)
    return _result(context, exports.requests_csv(context, dict(data_dict)))


def dgaaccounts_audit_export(context: Context, data_dict: DataDict) -> dict[str, Any]:
    """The audit log as CSV, oldest first, with the filters of ``dgaaccounts_audit_list``.
    Sysadmins only.

    :param request_id: (optional) events of one request (its id or reference)
    :param user_id: (optional) events about one user (id or name)
    :param actor: (optional) events caused by one user (id or name)
    :param action: (optional) one kind of event, e.g. ``approve``
    :param since: (optional) from this day or time, included
    :param until: (optional) up to this day or time, included
    :returns: ``filename`` and ``csv`` (the text); the admin page and the CLI stream it
    """
    tk.check_access("dgaaccounts_audit_export", context, data_dict)
    return _result(context, exports.audit_csv(context, dict(data_dict)))


def _validate(data_dict: DataDict, sch: dict[str, Any], context: Context) -> dict[str, Any]:
    data, errors = tk.navl_validate(dict(data_dict), sch, context)
    if errors:
        raise tk.ValidationError(errors)
    return data


def _result(context: Context, export: exports.Export) -> dict[str, Any]:
    if context.get(STREAM):
        return {"filename": export.filename, "chunks": export.chunks}
    return {"filename": export.filename, "csv": "".join(export.chunks)}
