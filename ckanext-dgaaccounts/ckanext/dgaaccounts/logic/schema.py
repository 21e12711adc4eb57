"""Input schemas, one per action (navl, built from CKAN's validators and ours)."""
from __future__ import annotations

from typing import Any

from ckan.plugins import toolkit as tk
from ckan.types import Context, Schema, Validator, ValidatorFactory

from .messages import plain_errors


def validate(data_dict: dict[str, Any], sch: Schema, context: Context) -> dict[str, Any]:
    """``data_dict`` as the schema makes it, or ``ValidationError`` with a message per field.

    Nothing is rolled back: validation comes before any change, and a caller that composes
    actions in its own transaction (``defer_commit``) keeps it."""
    data, errors = tk.navl_validate(dict(data_dict), sch, context)
    if errors:
        raise tk.ValidationError(plain_errors(errors))
    return data


# -- the rule for every text field ------------------------------------------------------------
# A text field's type is checked before anything converts it (CKAN's unicode_safe turns a
# number, a list or an uploaded file into its text): ``dgaaccounts_text`` comes first, after
# not_empty or ignore_missing only, and before ignore_empty (see :func:`optional`). One-line
# fields then refuse every control character (they may end up in a mail header); fields of
# several lines allow line breaks and tabs. tests/security/test_types.py and
# test_control_chars.py walk every schema for these rules.

def line(*more: Validator, required: bool = False) -> list[Validator]:
    """The validators of a one-line text field, followed by ``more``; a ``required`` one is
    refused when missing and when it is empty once cleaned (text of only spaces)."""
    return _text("dgaaccounts_single_line", more, required)


def lines(*more: Validator, required: bool = False) -> list[Validator]:
    """The validators of a text field of several lines, followed by ``more`` (``required``:
    as for :func:`line`)."""
    return _text("dgaaccounts_clean_text", more, required)


def _text(cleaner: str, more: tuple[Validator, ...], required: bool) -> list[Validator]:
    get = tk.get_validator
    cleaned = [get("dgaaccounts_text"), get("unicode_safe"), get(cleaner)]
    if required:
        return [get("not_empty"), *cleaned, get("not_empty"), *more]
    return [*cleaned, *more]


def optional(validators: list[Validator]) -> list[Validator]:
    """An optional text field (``validators`` from :func:`line` or :func:`lines`): its type
    is checked before ``ignore_empty``, which would drop a 0 or a false as if empty."""
    get = tk.get_validator
    return [get("dgaaccounts_text"), get("ignore_empty"), *validators]


def raw_text(*more: Validator) -> list[Validator]:
    """The validators of text taken as typed (a password, a token), followed by ``more``."""
    get = tk.get_validator
    return [get("dgaaccounts_text"), get("unicode_safe"), *more]


@tk.validator_args
def _account(
    not_empty: Validator, name_validator: Validator,
    user_name_validator: Validator, email_validator: Validator,
    dgaaccounts_canonical_email: Validator,
    dgaaccounts_email_available: Validator, dgaaccounts_password: Validator,
    dgaaccounts_max_length: ValidatorFactory, dgaaccounts_encodable: Validator,
) -> Schema:
    limit = dgaaccounts_max_length(200)
    return {
        "name": line(name_validator, user_name_validator, required=True),
        "fullname": line(limit, required=True),
        "email": line(dgaaccounts_canonical_email, limit, email_validator,
                      dgaaccounts_email_available, required=True),
        "password": [not_empty, *raw_text(dgaaccounts_encodable, dgaaccounts_password)],
    }


@tk.validator_args
def agency_register(
    dgaaccounts_agency_email: Validator,
    dgaaccounts_phone: Validator, dgaaccounts_organization: Validator,
    dgaaccounts_organization_or_agency: Validator, dgaaccounts_max_length: ValidatorFactory,
    ignore: Validator,
) -> Schema:
    schema = _account()
    limit = dgaaccounts_max_length(200)
    required = line(limit, required=True)
    email = schema["email"]
    assert isinstance(email, list)  # every field of _account() is a list of validators
    email.insert(-1, dgaaccounts_agency_email)
    schema.update({
        "organization": optional(line(dgaaccounts_organization)),
        "agency_name": optional(line(limit)),
        "position": required,
        "phone": line(dgaaccounts_phone, required=True),
        "superior_name": required,
        "superior_position": required,
        "signed_form": [ignore],  # a file, checked by the storage module
        "__after": [dgaaccounts_organization_or_agency],
    })
    return schema


@tk.validator_args
def developer_register(
    dgaaccounts_max_length: ValidatorFactory,
) -> Schema:
    schema = _account()
    schema["purpose"] = optional(lines(dgaaccounts_max_length(1000)))
    return schema


@tk.validator_args
def token(
    not_empty: Validator, dgaaccounts_max_length: ValidatorFactory,
) -> Schema:
    # A secret is compared as given (not trimmed): it is text, and no token has control
    # characters, so one with them is simply not found.
    return {"token": [not_empty, *raw_text(dgaaccounts_max_length(200))]}


@tk.validator_args
def verification_resend(
    dgaaccounts_canonical_email: Validator,
    email_validator: Validator, dgaaccounts_max_length: ValidatorFactory,
) -> Schema:
    return {"email": line(dgaaccounts_canonical_email, dgaaccounts_max_length(200),
                          email_validator, required=True)}


@tk.validator_args
def password_reset(
    dgaaccounts_max_length: ValidatorFactory,
) -> Schema:
    # What CKAN's "forgot password" form was given: a login name or an email address.
    return {"user": line(dgaaccounts_max_length(200), required=True)}


@tk.validator_args
def request_id(ignore_missing: Validator, ignore: Validator,
               dgaaccounts_optional_credential: Validator) -> Schema:
    return {
        "id": line(required=True),
        # Not a field error: a token that is not text is no token (403, as without one).
        "token": [ignore_missing, dgaaccounts_optional_credential],
        "signed_form": [ignore],
    }


@tk.validator_args
def request_list(
    ignore_missing: Validator, dgaaccounts_natural_number: Validator,
    limit_to_configured_maximum: ValidatorFactory,
    default: ValidatorFactory, dgaaccounts_request_kind: Validator,
    dgaaccounts_request_state: Validator, dgaaccounts_boolean: Validator,
    dgaaccounts_max_length: ValidatorFactory, dgaaccounts_one_of: ValidatorFactory,
    dgaaccounts_organization: Validator,
) -> Schema:
    return {
        "signatures": [ignore_missing, *line(dgaaccounts_one_of(["verified"]))],
        "organization": [ignore_missing, *line(dgaaccounts_organization)],
        "kind": [ignore_missing, *line(dgaaccounts_request_kind)],
        "state": [ignore_missing, *line(dgaaccounts_request_state)],
        # Not CKAN's boolean_validator: it takes a list or a number for false.
        "overdue": [ignore_missing, dgaaccounts_boolean],
        "every_state": [ignore_missing, dgaaccounts_boolean],
        "q": [ignore_missing, *line(dgaaccounts_max_length(200))],
        "limit": [default(20), dgaaccounts_natural_number,
                  limit_to_configured_maximum("ckan.search.rows_max", 100)],
        "offset": [default(0), dgaaccounts_natural_number],
    }


@tk.validator_args
def request_approve(
    dgaaccounts_organization: Validator,
    dgaaccounts_role: Validator, dgaaccounts_max_length: ValidatorFactory,
) -> Schema:
    return {
        "id": line(required=True),
        "note": optional(lines(dgaaccounts_max_length(2000))),
        "organization": optional(line(dgaaccounts_organization)),
        "role": line(dgaaccounts_role),
    }


@tk.validator_args
def request_decision_with_reason(
    dgaaccounts_max_length: ValidatorFactory,
) -> Schema:
    return {
        "id": line(required=True),
        "reason": lines(dgaaccounts_max_length(2000), required=True),
    }


@tk.validator_args
def request_reject_spam(
    dgaaccounts_max_length: ValidatorFactory,
) -> Schema:
    return {
        "id": line(required=True),
        "reason": optional(lines(dgaaccounts_max_length(2000))),
    }


@tk.validator_args
def request_endorse(dgaaccounts_max_length: ValidatorFactory) -> Schema:
    return {
        "id": line(required=True),
        "note": optional(lines(dgaaccounts_max_length(2000))),
    }


@tk.validator_args
def approval_mode_update(dgaaccounts_one_of: ValidatorFactory,
                         dgaaccounts_organization: Validator) -> Schema:
    return {
        "organization": line(dgaaccounts_organization, required=True),
        "mode": line(dgaaccounts_one_of(["central", "endorse", "delegated", "default"]),
                     required=True),
    }


@tk.validator_args
def approval_mode_show(dgaaccounts_organization: Validator) -> Schema:
    return {"organization": line(dgaaccounts_organization, required=True)}


@tk.validator_args
def approval_mode_list(
    ignore_missing: Validator, dgaaccounts_one_of: ValidatorFactory, default: ValidatorFactory,
    dgaaccounts_natural_number: Validator, dgaaccounts_max_length: ValidatorFactory,
    limit_to_configured_maximum: ValidatorFactory,
) -> Schema:
    return {
        "q": [ignore_missing, *line(dgaaccounts_max_length(200))],
        "mode": [ignore_missing, *line(dgaaccounts_one_of(["central", "endorse", "delegated"]))],
        "limit": [default(50), dgaaccounts_natural_number,
                  limit_to_configured_maximum("ckan.search.rows_max", 100)],
        "offset": [default(0), dgaaccounts_natural_number],
    }


@tk.validator_args
def cancellation_request_create(
    dgaaccounts_max_length: ValidatorFactory,
    dgaaccounts_account_request_kind: Validator,
) -> Schema:
    return {
        "kind": line(dgaaccounts_account_request_kind, required=True),
        "reason": lines(dgaaccounts_max_length(2000), required=True),
    }


@tk.validator_args
def user_reactivate() -> Schema:
    return {"id": line(required=True)}


@tk.validator_args
def audit_list(
    dgaaccounts_natural_number: Validator, limit_to_configured_maximum: ValidatorFactory,
    default: ValidatorFactory,
) -> Schema:
    return {
        "limit": [default(50), dgaaccounts_natural_number,
                  limit_to_configured_maximum("ckan.search.rows_max", 500)],
        "offset": [default(0), dgaaccounts_natural_number],
        # request_id, user_id, actor, action, since, until
        **_audit_filters(),
    }


@tk.validator_args
def _audit_filters(
    ignore_missing: Validator, dgaaccounts_date_or_time: Validator,
    dgaaccounts_date_range: Validator, dgaaccounts_encodable: Validator,
    dgaaccounts_max_length: ValidatorFactory,
) -> Schema:
    """Filters shared by the audit list and its CSV export."""
    def text() -> list[Validator]:
        return [ignore_missing, *line(dgaaccounts_encodable, dgaaccounts_max_length(200))]

    return {
        "request_id": text(),
        "user_id": text(),
        "actor": text(),
        "action": text(),
        "since": [ignore_missing, dgaaccounts_date_or_time],
        "until": [ignore_missing, dgaaccounts_date_or_time],
        "__after": [dgaaccounts_date_range],
    }


@tk.validator_args
def sla_report(
    ignore_missing: Validator, dgaaccounts_date: Validator, dgaaccounts_report_period: Validator,
    dgaaccounts_request_kind: Validator, dgaaccounts_date_range: Validator,
) -> Schema:
    return {
        "since": [ignore_missing, dgaaccounts_date],
        "until": [ignore_missing, dgaaccounts_date],
        "period": line(dgaaccounts_report_period),
        "kind": [ignore_missing, *line(dgaaccounts_request_kind)],
        "__after": [dgaaccounts_date_range],
    }


@tk.validator_args
def requests_export(
    ignore_missing: Validator, dgaaccounts_date_or_time: Validator,
    dgaaccounts_date_range: Validator, dgaaccounts_request_kind: Validator,
    dgaaccounts_export_date_field: Validator,
) -> Schema:
    """The CSV export of requests (the admin page and ``ckan dgaaccounts export``)."""
    return {
        "since": [ignore_missing, dgaaccounts_date_or_time],
        "until": [ignore_missing, dgaaccounts_date_or_time],
        "by": line(dgaaccounts_export_date_field),
        "kind": [ignore_missing, *line(dgaaccounts_request_kind)],
        "__after": [dgaaccounts_date_range],
    }


def audit_export() -> Schema:
    """The CSV export of the audit log: the audit list's filters, without paging."""
    return _audit_filters()


@tk.validator_args
def requests_escalate(ignore_missing: Validator, dgaaccounts_boolean: Validator) -> Schema:
    """``dgaaccounts_requests_escalate``: only ``dry_run``."""
    return {"dry_run": [ignore_missing, dgaaccounts_boolean]}


@tk.validator_args
def requests_decide(
    not_empty: Validator, ignore_missing: Validator, dgaaccounts_one_of: ValidatorFactory,
    dgaaccounts_request_ids: Validator, dgaaccounts_role: Validator,
    dgaaccounts_max_length: ValidatorFactory,
) -> Schema:
    """``dgaaccounts_requests_decide``: one decision, one reason, several requests."""
    return {
        "ids": [not_empty, dgaaccounts_request_ids],
        "decision": line(dgaaccounts_one_of(["approve", "return", "reject"]), required=True),
        "reason": optional(lines(dgaaccounts_max_length(2000))),
        "role": [ignore_missing, *line(dgaaccounts_role)],
    }


@tk.validator_args
def housekeeping(default: ValidatorFactory, dgaaccounts_boolean: Validator) -> Schema:
    """The housekeeping actions that can only list what they would do (purge, remind)."""
    return {"dry_run": [default(False), dgaaccounts_boolean]}


@tk.validator_args
def account_show(ignore_missing: Validator) -> Schema:
    return {"id": [ignore_missing, *line()]}


@tk.validator_args
def document_show(ignore_missing: Validator,
                  dgaaccounts_optional_credential: Validator) -> Schema:
    return {
        "id": line(required=True),
        "document_id": line(required=True),
        "token": [ignore_missing, dgaaccounts_optional_credential],
    }


# -- identity links (logic/identity_action.py) ---------------------------------------------------

@tk.validator_args
def identity_link_list(dgaaccounts_max_length: ValidatorFactory) -> Schema:
    return {"user": optional(line(dgaaccounts_max_length(200)))}


@tk.validator_args
def identity_unlink(dgaaccounts_max_length: ValidatorFactory) -> Schema:
    return {"id": line(dgaaccounts_max_length(100), required=True)}
