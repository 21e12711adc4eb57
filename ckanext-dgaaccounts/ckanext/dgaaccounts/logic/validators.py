"""Validators of the extension (registered with CKAN by the plugin's blanket)."""
from __future__ import annotations

import datetime
import re
import unicodedata
from typing import Any

from sqlalchemy import func

import ckan.model as model
from ckan.plugins import toolkit as tk
from ckan.types import Context, FlattenDataDict, FlattenErrorDict, FlattenKey, Validator

from .. import config, workflow
from ..model import Request

_PHONE = re.compile(r"^\+?[0-9]{9,12}$")
# A phone number followed by an extension: the marker as typed ("ต่อ", "ext.", "#"...).
_PHONE_EXTENSION = re.compile(
    r"^(?P<number>.*?[0-9)])\s*(?P<marker>ต่อ|ext\.?|extension|x|#)\s*(?P<extension>[0-9]{1,6})$",
    re.IGNORECASE)


# The bounds of every number and date an action takes: inside what Python's dates and
# PostgreSQL's integers hold, with room for arithmetic (a day added, a time zone applied).
MAX_NUMBER = 2**31 - 1
EARLIEST = datetime.date(1900, 1, 1)
LATEST = datetime.date(2999, 12, 31)
# Unicode categories refused in text: controls (C0, C1, DEL), format characters (bidi
# overrides, zero-width characters), lone surrogates; in one-line fields also the line and
# paragraph separators (U+2028, U+2029). Combining marks (Thai vowels and tones) are Mn, allowed.
_REFUSED = ("Cc", "Cf", "Cs")
_LINE_BREAKS = ("Zl", "Zp")


def dgaaccounts_text(key: FlattenKey, data: FlattenDataDict,
                     errors: FlattenErrorDict, context: Context) -> Any:
    """Refuse what is not text (a number, a boolean, a list, a dict, an uploaded file) before
    any validator converts it: the first validator of every text field.

    A refused value stops the field's other validators.
    """
    value = data.get(key)
    if value is tk.missing or value is None or isinstance(value, str):
        return
    errors[key].append(tk._("Must be text."))
    raise tk.StopOnError


def dgaaccounts_optional_credential(key: FlattenKey, data: FlattenDataDict,
                                    errors: FlattenErrorDict, context: Context) -> Any:
    """An optional credential (the applicant token): text is kept as given; anything else
    is no credential at all (never converted to text), so the auth function refuses the call
    as for a caller without one."""
    value = data.get(key)
    if value is tk.missing or value is None or isinstance(value, str):
        return
    data.pop(key, None)
    raise tk.StopOnError


def _clean(key: FlattenKey, data: FlattenDataDict, errors: FlattenErrorDict,
           allowed: str, refused: tuple[str, ...]) -> None:
    value = data.get(key)
    if value is tk.missing or value is None:
        return
    if not isinstance(value, str):
        errors[key].append(tk._("Must be text."))
        raise tk.StopOnError
    value = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(ch) in refused and ch not in allowed for ch in value):
        errors[key].append(tk._("Contains characters that are not allowed."))
        raise tk.StopOnError
    data[key] = value


def dgaaccounts_clean_text(key: FlattenKey, data: FlattenDataDict,
                           errors: FlattenErrorDict, context: Context) -> Any:
    """Text of several lines: refuse control, bidi-override and NUL characters (line breaks
    and tabs are allowed); trim spaces.

    A refused value stops the field's other validators: some of CKAN's (user_name_validator)
    query the database with the value, and PostgreSQL cannot take a NUL.
    """
    _clean(key, data, errors, "\n\t", _REFUSED)


def dgaaccounts_single_line(key: FlattenKey, data: FlattenDataDict,
                            errors: FlattenErrorDict, context: Context) -> Any:
    """One line of text (a name, an address, an id): refuse every control and format
    character, line breaks and tabs included, and the Unicode line and paragraph separators
    (such a value may end up in a mail header); trim spaces."""
    _clean(key, data, errors, "", _REFUSED + _LINE_BREAKS)


def dgaaccounts_canonical_email(value: Any, context: Context) -> Any:
    """Lower-case and trim an email address (addresses are compared this way everywhere)."""
    if isinstance(value, str):
        return value.strip().lower()
    return value


def dgaaccounts_email_available(key: FlattenKey, data: FlattenDataDict,
                                errors: FlattenErrorDict, context: Context) -> Any:
    """No active or pending account and no open registration may hold the address.

    Compared exactly on the lower-cased address, never with LIKE (CKAN's own check treats
    ``%`` and ``_`` as wildcards).
    """
    email = data.get(key)
    if not email or errors.get(key):
        return
    taken = model.Session.query(model.User.id).filter(
        func.lower(model.User.email) == email, model.User.state.in_(("active", "pending"))
    ).first() or model.Session.query(Request.id).filter(
        Request.email == email, Request.state.in_(workflow.OPEN_STATES),
        Request.kind.in_((workflow.AGENCY, workflow.DEVELOPER)),
    ).first()
    if taken:
        errors[key].append(tk._("This email address cannot be used for a new account."))


def dgaaccounts_agency_email(value: Any, context: Context) -> Any:
    """The address must be on one of the configured agency domains (or a subdomain)."""
    domains = config.agency_email_domains()
    if not domains or not isinstance(value, str) or "@" not in value:
        return value
    host = value.rsplit("@", 1)[1].lower()
    if not any(host == d or host.endswith("." + d) for d in domains):
        raise tk.Invalid(
            tk._("Use your agency's email address (%(domains)s).")
            % {"domains": ", ".join(domains)}
        )
    return value


def dgaaccounts_password(key: FlattenKey, data: FlattenDataDict,
                         errors: FlattenErrorDict, context: Context) -> Any:
    """A password of the configured length that is not just the username or the email."""
    value = data.get(key)
    if not isinstance(value, str) or not value:
        return
    minimum = config.password_min_length()
    lowered = value.lower()
    if len(value) < minimum:
        errors[key].append(
            tk._("Your password must be %(n)s characters or longer.") % {"n": minimum})
    elif len(value) > 200:
        errors[key].append(tk._("Your password is too long."))
    elif len(set(value)) < 4 or lowered in (
        str(data.get(("name",), "")).lower(), str(data.get(("email",), "")).lower(),
    ) or not (re.search(r"[^\W\d_]", value) and re.search(r"[\d\W_]", value)):
        errors[key].append(tk._("Choose a stronger password: mix letters with digits or symbols."))


def dgaaccounts_phone(value: Any, context: Context) -> Any:
    """A Thai phone number, optionally with an extension ("02 612 6000 ต่อ 1234",
    "02-612-6000 ext. 1234", "026126000 #1234"), kept as typed with its spaces normalized.

    The number itself: 9 to 12 digits, optionally +66, spaces, dashes and brackets allowed.
    The extension: 1 to 6 digits after "ต่อ", "ext", "ext.", "extension", "x" or "#".
    """
    if value is tk.missing or value in (None, ""):
        return value
    text = " ".join(str(value).split())
    found = _PHONE_EXTENSION.match(text)
    number, marker, extension = (
        (found["number"], found["marker"], found["extension"]) if found else (text, None, None))
    number = number.strip()
    if not _PHONE.match(re.sub(r"[\s\-()]", "", number)):
        raise tk.Invalid(tk._(
            "Enter a phone number, for example 02 141 6000 or 081 234 5678; an extension may "
            "follow, for example 02 141 6000 ต่อ 1234."))
    if marker is None:
        return number
    if marker in ("#", "x", "X"):  # written against the digits: "#1234", "x1234"
        return f"{number} {marker}{extension}"
    return f"{number} {marker} {extension}"


def dgaaccounts_organization(value: Any, context: Context) -> Any:
    """An active organization, by id, name, or title as a person types it; returns its id.

    A title (Thai, or English from the organization's ``title_en`` extra) matches when it is
    the same up to case and spaces, or, failing that, when the text is found in one title
    only. Text found in several titles is refused with a request to choose: never a guess.
    """
    if value is tk.missing or value in (None, ""):
        return value
    group = model.Group.get(str(value))
    if group is not None and group.is_organization and group.state == "active":
        return group.id
    from .. import organizations

    found = organizations.find_by_title(str(value))
    if len(found) == 1:
        return found[0]
    if found:
        raise tk.Invalid(tk._(
            "Several agencies match \"%(text)s\": choose yours from the list.") % {"text": value})
    raise tk.Invalid(tk._("Organization not found."))


def dgaaccounts_organization_or_agency(key: FlattenKey, data: FlattenDataDict,
                                       errors: FlattenErrorDict, context: Context) -> Any:
    """Either an existing organization or the name of an agency not yet on the portal."""
    if errors.get(("organization",)):
        return
    if not data.get(("organization",)) and not data.get(("agency_name",)):
        errors[("organization",)].append(
            tk._("Choose your agency, or name it if it is not on the portal yet."))


def dgaaccounts_role(value: Any, context: Context) -> Any:
    if value in (tk.missing, None, ""):
        return config.default_role()
    if value not in ("member", "editor", "admin"):
        raise tk.Invalid(tk._("Role must be member, editor or admin."))
    return value


def dgaaccounts_request_kind(value: Any, context: Context) -> Any:
    if value not in workflow.KINDS:
        raise tk.Invalid(tk._("Unknown kind of request."))
    return value


def dgaaccounts_account_request_kind(value: Any, context: Context) -> Any:
    if value not in (workflow.CANCELLATION, workflow.SUSPENSION):
        raise tk.Invalid(tk._("Choose cancellation or suspension."))
    return value


def dgaaccounts_request_state(value: Any, context: Context) -> Any:
    if value not in workflow.STATES:
        raise tk.Invalid(tk._("Unknown state."))
    return value


def dgaaccounts_max_length(limit: int) -> Validator:
    """Validator factory: text of at most ``limit`` characters."""
    def validator(value: Any, context: Context) -> Any:
        if isinstance(value, str) and len(value) > limit:
            raise tk.Invalid(tk._("Must be %(n)s characters or fewer.") % {"n": limit})
        return value
    return validator


def dgaaccounts_one_of(choices: list[str]) -> Validator:
    """Validator factory: one of ``choices`` (empty passes: ``not_empty`` says "missing"),
    refused in the reader's language, the choices written out (CKAN's ``one_of`` answers in
    English, with a Python list)."""
    def validator(value: Any, context: Context) -> Any:
        if value not in (None, "", tk.missing) and value not in choices:
            raise tk.Invalid(tk._("Choose one of: %(choices)s.") % {
                "choices": ", ".join(choices)})
        return value
    return validator


def _in_range(value: datetime.date) -> Any:
    day = value.date() if isinstance(value, datetime.datetime) else value
    if not EARLIEST <= day <= LATEST:
        raise tk.Invalid(tk._("Enter a date from %(earliest)s to %(latest)s.") % {
            "earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()})
    return value


def dgaaccounts_date(value: Any, context: Context) -> Any:
    """A calendar day, ``YYYY-MM-DD``, from 1900 to 2999; returns a ``datetime.date``."""
    if value is tk.missing or value in (None, ""):
        return value
    if isinstance(value, datetime.datetime):
        return _in_range(value.date())
    if isinstance(value, datetime.date):
        return _in_range(value)
    if not isinstance(value, str):  # 20260101 is not a date, whatever fromisoformat thinks
        raise tk.Invalid(tk._("Enter a date as YYYY-MM-DD."))
    try:
        parsed = datetime.date.fromisoformat(value.strip())
    except ValueError:
        raise tk.Invalid(tk._("Enter a date as YYYY-MM-DD.")) from None
    return _in_range(parsed)


def dgaaccounts_date_or_time(value: Any, context: Context) -> Any:
    """A calendar day (``YYYY-MM-DD``, a ``datetime.date``) or an ISO 8601 time (a naive UTC
    ``datetime.datetime``; a time without an offset is taken as UTC, as the API returns them)."""
    if value is tk.missing or value in (None, ""):
        return value
    message = tk._("Enter a date as YYYY-MM-DD, or a time as YYYY-MM-DDTHH:MM:SS.")
    if isinstance(value, (datetime.date, datetime.datetime)):
        parsed: Any = value
    elif not isinstance(value, str):
        raise tk.Invalid(message)
    else:
        text = value.strip()
        try:
            parsed = (datetime.date.fromisoformat(text) if len(text) == 10
                      else datetime.datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            raise tk.Invalid(message) from None
    _in_range(parsed)  # before the offset is applied: 0001-01-01T00:00+05:00 has no UTC time
    if isinstance(parsed, datetime.datetime) and parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return parsed


def dgaaccounts_report_period(value: Any, context: Context) -> Any:
    if value in (tk.missing, None, ""):
        return "week"
    if value not in ("week", "month"):
        raise tk.Invalid(tk._("Choose week or month."))
    return value


def dgaaccounts_date_range(key: FlattenKey, data: FlattenDataDict,
                           errors: FlattenErrorDict, context: Context) -> Any:
    """``since`` must not come after ``until`` (either may be missing)."""
    since, until = data.get(("since",)), data.get(("until",))
    if errors.get(("since",)) or errors.get(("until",)) or not since or not until:
        return
    if since is tk.missing or until is tk.missing:
        return

    def day(value: Any) -> datetime.date:
        return value.date() if isinstance(value, datetime.datetime) else value

    if day(since) > day(until) or (
            isinstance(since, datetime.datetime) and isinstance(until, datetime.datetime)
            and since > until):
        errors[("until",)].append(tk._("The end of the range comes before its start."))


def dgaaccounts_export_date_field(value: Any, context: Context) -> Any:
    """Which date of a request the export's range applies to."""
    if value in (tk.missing, None, ""):
        return "created"
    if value not in ("created", "submitted", "decided"):
        raise tk.Invalid(tk._("Choose created, submitted or decided."))
    return value


def dgaaccounts_encodable(value: Any, context: Context) -> Any:
    """Text that can be stored: no lone surrogates (JSON can carry them; PostgreSQL cannot)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise tk.Invalid(tk._("Contains characters that are not allowed.")) from None
    return value


def dgaaccounts_natural_number(key: FlattenKey, data: FlattenDataDict,
                               errors: FlattenErrorDict, context: Context) -> Any:
    """A whole number from 0 to ``MAX_NUMBER``, given as a number or digits (nothing else:
    no lists, no booleans, no floats).

    A refused value stops the field's other validators (CKAN's would raise on a list).
    """
    value = data.get(key)
    number = None
    if isinstance(value, str) and not value.strip().isascii():
        value = None  # digits of other scripts ("٣") are not what an API client sends
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            number = int(value)
        except ValueError:  # also digits past Python's limit on int() of a string
            number = None
    if number is None or number < 0:
        errors[key].append(tk._("Must be a whole number."))
        raise tk.StopOnError
    if number > MAX_NUMBER:
        errors[key].append(tk._("Must be %(n)s or less.") % {"n": MAX_NUMBER})
        raise tk.StopOnError
    data[key] = number


def dgaaccounts_boolean(value: Any, context: Context) -> Any:
    """A yes or no: a boolean, or ``true``/``false`` (``1``/``0``, ``yes``/``no``, ``on``/
    ``off``) as text; nothing else (not a list, not a number)."""
    if value in (tk.missing, None, ""):
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUTH:
        return _TRUTH[value.strip().lower()]
    raise tk.Invalid(tk._("Must be true or false."))


_TRUTH = {"true": True, "1": True, "yes": True, "on": True,
          "false": False, "0": False, "no": False, "off": False}


_BULK_MAX = 100


def dgaaccounts_request_ids(value: Any, context: Context) -> Any:
    """Request ids for a decision on several at once: a list of ids (or one id), each a line
    of text, at most ``_BULK_MAX``; repeats are dropped, the order kept."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise tk.Invalid(tk._("Choose one or more requests."))
    ids: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item) > 100 or any(
                unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in item):
            raise tk.Invalid(tk._("Each request must be given by its id."))
        if item.strip() not in ids:
            ids.append(item.strip())
    if len(ids) > _BULK_MAX:
        raise tk.Invalid(tk._("Choose at most %(n)s requests at once.") % {"n": _BULK_MAX})
    return ids


def dgaaccounts_office_hours(value: Any, context: Context) -> Any:
    """``ckanext.dgaaccounts.office_hours``: empty, or days and hours (officehours.parse)."""
    from .. import officehours

    if value:
        try:
            officehours.parse(str(value))
        except ValueError as e:
            raise tk.Invalid(str(e)) from None
    return value


def dgaaccounts_office_holidays(value: Any, context: Context) -> Any:
    """``ckanext.dgaaccounts.office_holidays``: days as YYYY-MM-DD."""
    days = value.split() if isinstance(value, str) else list(value or [])
    for day in days:
        try:
            datetime.date.fromisoformat(str(day).strip())
        except ValueError:
            raise tk.Invalid(f"not a date (YYYY-MM-DD): {day!r}") from None
    return value
