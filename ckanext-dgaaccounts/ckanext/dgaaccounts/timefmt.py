"""Times for people: in the portal's display time zone, the way each language writes them.

One place for pages (helpers), emails (a Jinja filter in mail.py) and PDFs (the Bangkok date):

- Thai: Buddhist era, abbreviated Thai month, 24-hour clock: ``2 ธ.ค. 2569 เวลา 02:34 น.``
- English: ``2 Dec 2026, 02:34 (ICT)``, the abbreviation of the display zone.

The zone is CKAN's own ``ckan.display_timezone`` (``UTC`` by default, ``server`` for the
server's zone); the README recommends ``Asia/Bangkok``. Stored times are naive UTC (as CKAN
stores its own); the API and the CSV data columns keep them in ISO 8601 UTC.
"""
from __future__ import annotations

import datetime
import zoneinfo

from ckan.plugins import toolkit as tk

THAI_MONTHS_ABBR = (
    "ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.",
    "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.",
)
ENGLISH_MONTHS_ABBR = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)
BUDDHIST_ERA_OFFSET = 543
# tzdata names many zones only by their offset ("+07"); people know these abbreviations.
_ABBREVIATIONS = {
    "Asia/Bangkok": "ICT", "Asia/Ho_Chi_Minh": "ICT", "Asia/Phnom_Penh": "ICT",
    "Asia/Vientiane": "ICT", "Asia/Saigon": "ICT",
}


def display_zone() -> datetime.tzinfo:
    """The zone of ``ckan.display_timezone`` (UTC when unset or unknown)."""
    name = (tk.config.get("ckan.display_timezone") or "UTC").strip()
    if name == "server":
        return datetime.datetime.now().astimezone().tzinfo or datetime.timezone.utc
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return datetime.timezone.utc


def to_local(value: datetime.datetime | str) -> datetime.datetime:
    """``value`` (naive UTC, aware, or an ISO 8601 string) in the display zone."""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(display_zone())


def zone_abbreviation(local: datetime.datetime) -> str:
    """"ICT" for Bangkok, "UTC", or the zone's own abbreviation; "UTC+07:00" when it has none."""
    key = getattr(local.tzinfo, "key", None)
    if key in _ABBREVIATIONS:
        return _ABBREVIATIONS[key]
    name = local.tzname() or ""
    if name and name[0] not in "+-":
        return name
    offset = local.utcoffset() or datetime.timedelta()
    sign = "-" if offset < datetime.timedelta() else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _is_thai(locale: str | None) -> bool:
    return (locale or "").split("_")[0].lower() == "th"


def format_date(value: datetime.datetime | datetime.date | str, locale: str | None) -> str:
    """A day: ``2 ธ.ค. 2569`` in Thai, ``2 Dec 2026`` otherwise. Times are converted first."""
    if isinstance(value, (str, datetime.datetime)):
        value = to_local(value).date()
    if _is_thai(locale):
        return (f"{value.day} {THAI_MONTHS_ABBR[value.month - 1]} "
                f"{value.year + BUDDHIST_ERA_OFFSET}")
    return f"{value.day} {ENGLISH_MONTHS_ABBR[value.month - 1]} {value.year}"


def format_datetime(value: datetime.datetime | str | None, locale: str | None) -> str:
    """A moment for people, in the display zone (empty for no value)."""
    if value is None or value == "":
        return ""
    local = to_local(value)
    clock = local.strftime("%H:%M")
    if _is_thai(locale):
        return f"{format_date(local.date(), locale)} เวลา {clock} น."
    return f"{format_date(local.date(), locale)}, {clock} ({zone_abbreviation(local)})"


def format_datetime_lenient(value: object, locale: str | None) -> str:
    """:func:`format_datetime` for values stored before this module (kept as they were when
    they cannot be read as a time)."""
    if isinstance(value, (datetime.datetime, str)) and value:
        try:
            return format_datetime(value, locale)
        except ValueError:
            return str(value)
    return "" if value is None else str(value)


FORM_ZONE = "Asia/Bangkok"


def form_date(now: datetime.datetime | None = None) -> datetime.date:
    """The date printed on the PDF forms: the day in Bangkok, whatever the server's or the
    display zone (a form made at 00:30 on 2 Dec in Bangkok is dated 2 Dec, not 1 Dec UTC)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=datetime.timezone.utc)
    return now.astimezone(zoneinfo.ZoneInfo(FORM_ZONE)).date()


def page_locale() -> str:
    """The language of the page being rendered (the portal default outside a request)."""
    try:
        lang = tk.h.lang()
    except (RuntimeError, AttributeError, TypeError):
        lang = None
    return lang or tk.config.get("ckan.locale_default") or "en"
