"""Input schemas, one per action (navl, built from CKAN's validators and ours)."""
from __future__ import annotations

from ckan.plugins import toolkit as tk
from ckan.types import Schema, Validator


@tk.validator_args
def _account(
    not_empty: Validator, unicode_safe: Validator, name_validator: Validator,
    user_name_validator: Validator, email_validator: Validator,
    dgaaccounts_clean_text: Validator, dgaaccounts_canonical_email: Validator,
    dgaaccounts_email_available: Validator, dgaaccounts_password: Validator,
    dgaaccounts_max_length: Validator, dgaaccounts_encodable: Validator,
) -> Schema:
    limit = dgaaccounts_max_length(200)
    return {
        "name": [not_empty, unicode_safe, dgaaccounts_clean_text, name_validator,
                 user_name_validator],
        "fullname": [not_empty, unicode_safe, dgaaccounts_clean_text, not_empty, limit],
        "email": [not_empty, unicode_safe, dgaaccounts_clean_text, dgaaccounts_canonical_email,
                  limit, email_validator, dgaaccounts_email_available],
        "password": [not_empty, unicode_safe, dgaaccounts_encodable, dgaaccounts_password],
    }


@tk.validator_args
def agency_register(
    not_empty: Validator, ignore_empty: Validator, unicode_safe: Validator,
    dgaaccounts_clean_text: Validator, dgaaccounts_agency_email: Validator,
    dgaaccounts_phone: Validator, dgaaccounts_organization: Validator,
    dgaaccounts_organization_or_agency: Validator, dgaaccounts_max_length: Validator,
    ignore: Validator,
) -> Schema:
    schema = _account()
    limit = dgaaccounts_max_length(200)
    text = [unicode_safe, dgaaccounts_clean_text, limit]
    required = [not_empty, *text, not_empty]  # not_empty again: "   " is cleaned to ""
    schema["email"].insert(-1, dgaaccounts_agency_email)
    schema.update({
        "organization": [ignore_empty, unicode_safe, dgaaccounts_clean_text,
                         dgaaccounts_organization],
        "agency_name": [ignore_empty, *text],
        "position": required,
        "phone": [not_empty, unicode_safe, dgaaccounts_phone],
        "superior_name": required,
        "superior_position": required,
        "signed_form": [ignore],  # a file, checked by the storage module
        "__after": [dgaaccounts_organization_or_agency],
    })
    return schema


@tk.validator_args
def developer_register(
    ignore_empty: Validator, unicode_safe: Validator, dgaaccounts_clean_text: Validator,
    dgaaccounts_max_length: Validator,
) -> Schema:
    schema = _account()
    schema["purpose"] = [ignore_empty, unicode_safe, dgaaccounts_clean_text,
                         dgaaccounts_max_length(1000)]
    return schema


@tk.validator_args
def token(
    not_empty: Validator, unicode_safe: Validator, dgaaccounts_max_length: Validator,
) -> Schema:
    return {"token": [not_empty, unicode_safe, dgaaccounts_max_length(200)]}


@tk.validator_args
def verification_resend(
    not_empty: Validator, unicode_safe: Validator, dgaaccounts_canonical_email: Validator,
    email_validator: Validator, dgaaccounts_max_length: Validator,
) -> Schema:
    return {"email": [not_empty, unicode_safe, dgaaccounts_canonical_email,
                      dgaaccounts_max_length(200), email_validator]}


@tk.validator_args
def password_reset(
    not_empty: Validator, unicode_safe: Validator, dgaaccounts_clean_text: Validator,
    dgaaccounts_max_length: Validator,
) -> Schema:
    # What CKAN's "forgot password" form was given: a login name or an email address.
    return {"user": [not_empty, unicode_safe, dgaaccounts_clean_text, dgaaccounts_max_length(200)]}


@tk.validator_args
def request_id(not_empty: Validator, unicode_safe: Validator, ignore_missing: Validator,
               ignore: Validator, dgaaccounts_clean_text: Validator) -> Schema:
    return {
        "id": [not_empty, unicode_safe, dgaaccounts_clean_text],
        "token": [ignore_missing, unicode_safe],
        "signed_form": [ignore],
    }


@tk.validator_args
def request_list(
    ignore_missing: Validator, unicode_safe: Validator, boolean_validator: Validator,
    dgaaccounts_natural_number: Validator, limit_to_configured_maximum: Validator,
    default: Validator, dgaaccounts_request_kind: Validator,
    dgaaccounts_request_state: Validator, dgaaccounts_clean_text: Validator,
    dgaaccounts_max_length: Validator, one_of: Validator,
) -> Schema:
    return {
        "signatures": [ignore_missing, unicode_safe, one_of(["verified"])],
        "kind": [ignore_missing, dgaaccounts_request_kind],
        "state": [ignore_missing, dgaaccounts_request_state],
        # unicode_safe first: 2.11's boolean_validator calls .lower() on any non-bool.
        "overdue": [ignore_missing, unicode_safe, boolean_validator],
        "q": [ignore_missing, unicode_safe, dgaaccounts_clean_text, dgaaccounts_max_length(200)],
        "limit": [default(20), dgaaccounts_natural_number,
                  limit_to_configured_maximum("ckan.search.rows_max", 100)],
        "offset": [default(0), dgaaccounts_natural_number],
    }


@tk.validator_args
def request_approve(
    not_empty: Validator, ignore_empty: Validator, unicode_safe: Validator,
    dgaaccounts_clean_text: Validator, dgaaccounts_organization: Validator,
    dgaaccounts_role: Validator, dgaaccounts_max_length: Validator,
) -> Schema:
    return {
        "id": [not_empty, unicode_safe, dgaaccounts_clean_text],
        "note": [ignore_empty, unicode_safe, dgaaccounts_clean_text, dgaaccounts_max_length(2000)],
        "organization": [ignore_empty, unicode_safe, dgaaccounts_clean_text,
                         dgaaccounts_organization],
        "role": [dgaaccounts_role],
    }


@tk.validator_args
def request_decision_with_reason(
    not_empty: Validator, unicode_safe: Validator, dgaaccounts_clean_text: Validator,
    dgaaccounts_max_length: Validator,
) -> Schema:
    return {
        "id": [not_empty, unicode_safe, dgaaccounts_clean_text],
        "reason": [not_empty, unicode_safe, dgaaccounts_clean_text, not_empty,
                   dgaaccounts_max_length(2000)],
    }


@tk.validator_args
def cancellation_request_create(
    not_empty: Validator, unicode_safe: Validator, dgaaccounts_clean_text: Validator,
    dgaaccounts_max_length: Validator, dgaaccounts_account_request_kind: Validator,
) -> Schema:
    return {
        "kind": [not_empty, unicode_safe, dgaaccounts_account_request_kind],
        "reason": [not_empty, unicode_safe, dgaaccounts_clean_text, not_empty,
                   dgaaccounts_max_length(2000)],
    }


@tk.validator_args
def user_reactivate(not_empty: Validator, unicode_safe: Validator,
                    dgaaccounts_clean_text: Validator) -> Schema:
    return {"id": [not_empty, unicode_safe, dgaaccounts_clean_text]}


@tk.validator_args
def audit_list(
    dgaaccounts_natural_number: Validator, limit_to_configured_maximum: Validator,
    default: Validator,
) -> Schema:
    return {
        "limit": [default(50), dgaaccounts_natural_number,
                  limit_to_configured_maximum("ckan.search.rows_max", 500)],
        "offset": [default(0), dgaaccounts_natural_number],
        # request_id, user_id, actor, action, since, until
        **_audit_filters(),
    }


@tk.validator_args
def _filter_text(
    ignore_missing: Validator, unicode_safe: Validator, dgaaccounts_encodable: Validator,
    dgaaccounts_clean_text: Validator, dgaaccounts_max_length: Validator,
) -> list[Validator]:
    return [ignore_missing, unicode_safe, dgaaccounts_encodable, dgaaccounts_clean_text,
            dgaaccounts_max_length(200)]


@tk.validator_args
def _audit_filters(
    ignore_missing: Validator, dgaaccounts_date_or_time: Validator,
    dgaaccounts_date_range: Validator,
) -> Schema:
    """Filters shared by the audit list and its CSV export."""
    return {
        "request_id": _filter_text(),
        "user_id": _filter_text(),
        "actor": _filter_text(),
        "action": _filter_text(),
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
        "period": [dgaaccounts_report_period],
        "kind": [ignore_missing, dgaaccounts_request_kind],
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
        "by": [dgaaccounts_export_date_field],
        "kind": [ignore_missing, dgaaccounts_request_kind],
        "__after": [dgaaccounts_date_range],
    }


def audit_export() -> Schema:
    """The CSV export of the audit log: the audit list's filters, without paging."""
    return _audit_filters()
