"""Typed getters over the options declared in config_declaration.yaml."""
from __future__ import annotations

import datetime
import os

from ckan.plugins import toolkit as tk

from .states import DEVELOPER

PREFIX = "ckanext.dgaaccounts."


# tk.config is typed Any; CKAN gives each option in the type config_declaration.yaml declares.
def _int(option: str) -> int:
    value: int = tk.config[PREFIX + option]
    return value


def _str(option: str) -> str:
    value: str = tk.config[PREFIX + option]
    return value


def _bool(option: str) -> bool:
    value: bool = tk.config[PREFIX + option]
    return value


def agency_email_domains() -> list[str]:
    return [d.strip().lower().lstrip("@.") for d in tk.config[PREFIX + "agency_email_domains"] if d]


def service_time(kind: str | None = None) -> datetime.timedelta:
    """The service target of a kind of request: the one place that says how long it may take.

    Developer sign-ups count in minutes from the registration to the verified, usable account;
    every other kind (agency registration, cancellation, suspension) in hours from submission to
    the decision. Without a kind: the decision target (``service_hours``).
    """
    if kind == DEVELOPER:
        return datetime.timedelta(minutes=tk.config[PREFIX + "developer_service_minutes"])
    return datetime.timedelta(hours=tk.config[PREFIX + "service_hours"])


def upload_max_size() -> int:
    return _int("upload_max_size")


def upload_max_pixels() -> int:
    return _int("upload_max_pixels")


def request_body_allowance() -> int:
    return _int("request_body_allowance")


def upload_types() -> list[str]:
    return list(tk.config[PREFIX + "upload_types"])


def storage_path() -> str:
    path: str | None = tk.config.get(PREFIX + "storage_path")
    if path:
        return path
    base = tk.config.get("ckan.storage_path")
    if not base:
        raise RuntimeError("Set ckanext.dgaaccounts.storage_path or ckan.storage_path")
    # ckan.storage_path/storage is CKAN's public static folder: stay beside it, not in it.
    return os.path.join(base, "dgaaccounts_private")


def verification_lifetime() -> datetime.timedelta:
    return datetime.timedelta(seconds=tk.config[PREFIX + "verification_lifetime"])


def applicant_link_lifetime() -> datetime.timedelta:
    return datetime.timedelta(seconds=tk.config[PREFIX + "applicant_link_lifetime"])


def applicant_grant_lifetime() -> datetime.timedelta:
    return datetime.timedelta(seconds=tk.config[PREFIX + "applicant_grant_lifetime"])


def default_role() -> str:
    return _str("default_role")


def approval_mode_default() -> str:
    """The approval mode of an organization whose sysadmins set none (approval.py)."""
    return _str("approval_mode_default")


def mail_from() -> str:
    return tk.config.get(PREFIX + "mail_from") or tk.config.get("smtp.mail_from") or ""


def smtp_timeout() -> int:
    return _int("smtp_timeout")


def outbox_max_attempts() -> int:
    return _int("outbox_max_attempts")


def outbox_backoff() -> int:
    return _int("outbox_backoff")


def password_min_length() -> int:
    return _int("password_min_length")


def rate_limit() -> tuple[int, int]:
    return tk.config[PREFIX + "rate_limit"], tk.config[PREFIX + "rate_limit_window"]


def rate_limit_prefix(ip_version: int) -> int:
    """The prefix length of the network counted as one client (bounded to the address size)."""
    if ip_version == 6:
        return min(max(int(tk.config[PREFIX + "rate_limit_ipv6_prefix"]), 1), 128)
    return min(max(int(tk.config[PREFIX + "rate_limit_ipv4_prefix"]), 1), 32)


def cancelled_retention() -> datetime.timedelta:
    return datetime.timedelta(days=tk.config[PREFIX + "cancelled_retention_days"])


def reminder_due_soon() -> datetime.timedelta:
    return datetime.timedelta(hours=tk.config[PREFIX + "reminder_due_soon_hours"])


def escalation_share() -> float:
    """The share of the service time after which an undecided request escalates (0.01 to 1)."""
    return min(max(int(tk.config[PREFIX + "escalation_percent"]), 1), 100) / 100


def document_retention() -> datetime.timedelta:
    return datetime.timedelta(days=tk.config[PREFIX + "document_retention_days"])


def report_timezone() -> str:
    """The IANA name of the time zone that report days, weeks and months follow: CKAN's own
    ``ckan.display_timezone`` (UTC unless set), so that a week starts on the portal's Monday."""
    import zoneinfo

    name = tk.config.get("ckan.display_timezone") or "UTC"
    if name == "server":
        import tzlocal

        name = tzlocal.get_localzone_name() or "UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


# -- developer API keys (apitokens.py, apiusage.py) ---------------------------------------

def token_max_days() -> int:
    return _int("token_max_lifetime_days")


def token_max_days_sysadmin() -> int:
    return _int("token_max_lifetime_days_sysadmin")


def token_reminder_days() -> list[int]:
    return sorted({int(d) for d in tk.config[PREFIX + "token_reminder_days"] if str(d).isdigit()},
                  reverse=True)


def token_renewal_overlap() -> datetime.timedelta:
    return datetime.timedelta(days=tk.config[PREFIX + "token_renewal_overlap_days"])


def token_limits_enabled() -> bool:
    return _bool("token_limits_enabled")


def token_default_hourly_limit() -> int:
    return _int("token_default_hourly_limit")


def token_usage_retention() -> datetime.timedelta:
    return datetime.timedelta(days=tk.config[PREFIX + "token_usage_retention_days"])
