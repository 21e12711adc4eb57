"""The sysadmins' working hours, so that an escalation reaches them while they can still act.

``ckanext.dgaaccounts.office_hours`` names the days and hours in the portal's time zone
(``ckan.display_timezone``), e.g. ``mon-fri 08:30-16:30``; ``office_holidays`` lists the days off
(``2027-04-13 2027-04-14``). Unset, the office never closes and escalation keeps its plain
threshold. Set, an escalation leaves the sysadmins at least ``escalation_lead_minutes`` of their
opening hours before the request falls due: a threshold after which they would have less (a
request due on Saturday, or early on the morning after a holiday) comes forward to the latest
moment that leaves them that much. A request submitted on Friday morning escalates on Friday
afternoon, not on Saturday when nobody reads the email; one due on Wednesday at 10:00 still
escalates at its threshold, 05:12, since the office opens at 08:30.
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ckan.plugins import toolkit as tk

from . import timefmt

PREFIX = "ckanext.dgaaccounts."
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(r"^\s*([a-z]{3})(?:\s*-\s*([a-z]{3}))?"  # mon-fri, or one day
                   r"\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")  # 08:30-16:30
_LOOK_BACK_DAYS = 400  # past a year of holidays: no office at all


@dataclass(frozen=True)
class Office:
    weekdays: frozenset[int]
    opens: datetime.time
    closes: datetime.time
    holidays: frozenset[datetime.date]
    zone: datetime.tzinfo
    lead: datetime.timedelta

    def windows_before(self, moment: datetime.datetime, since: datetime.datetime,
                       ) -> Iterator[tuple[datetime.datetime, datetime.datetime]]:
        """The opening hours (naive UTC start, end) begun by ``moment`` that end after ``since``,
        the latest first."""
        day = _local(moment, self.zone).date()
        last = _local(since, self.zone).date()
        for _ in range(_LOOK_BACK_DAYS):
            if day < last:
                return
            if day.weekday() in self.weekdays and day not in self.holidays:
                start = _utc(datetime.datetime.combine(day, self.opens), self.zone)
                end = _utc(datetime.datetime.combine(day, self.closes), self.zone)
                if start <= moment and end > since:
                    yield start, end
            day -= datetime.timedelta(days=1)


def parse(spec: str) -> tuple[frozenset[int], datetime.time, datetime.time]:
    """``mon-fri 08:30-16:30`` (or one day, ``sat 09:00-12:00``) as weekdays, opening, closing.
    Raises ValueError for anything else."""
    found = _SPEC.match(spec.lower())
    if not found:
        raise ValueError(f"office hours must look like 'mon-fri 08:30-16:30', not {spec!r}")
    first, last, oh, om, ch, cm = found.groups()
    if first not in DAYS or (last or first) not in DAYS:
        raise ValueError(f"unknown day in {spec!r}: use {', '.join(DAYS)}")
    a, b = DAYS.index(first), DAYS.index(last or first)
    weekdays = frozenset(range(a, b + 1)) if a <= b else frozenset([*range(a, 7), *range(b + 1)])
    opens, closes = datetime.time(int(oh), int(om)), datetime.time(int(ch), int(cm))
    if not opens < closes:
        raise ValueError(f"the office must open before it closes: {spec!r}")
    return weekdays, opens, closes


def office() -> Office | None:
    """The configured office hours; None when unset (always open)."""
    spec = (tk.config.get(PREFIX + "office_hours") or "").strip()
    if not spec:
        return None
    weekdays, opens, closes = parse(spec)
    days = tk.config.get(PREFIX + "office_holidays") or []
    holidays = frozenset(datetime.date.fromisoformat(str(d).strip())
                         for d in (days.split() if isinstance(days, str) else days)
                         if str(d).strip())
    lead = datetime.timedelta(minutes=int(tk.config.get(PREFIX + "escalation_lead_minutes") or 0))
    return Office(weekdays, opens, closes, holidays, timefmt.display_zone(), lead)


def escalation_moment(threshold: datetime.datetime, since: datetime.datetime,
                      due: datetime.datetime, at: Office | None) -> datetime.datetime:
    """When a request submitted at ``since``, due at ``due``, whose plain threshold is
    ``threshold``, escalates: so that the sysadmins have at least ``lead`` of their opening hours
    before it falls due.

    The threshold if no office hours are set, or if that much opening time lies between it and
    the due time. Else the latest moment that leaves ``lead`` of opening time before the due
    time; if even the submission does not, the submission (whatever opening time is left), or
    the threshold when the office does not open at all before the due time.
    """
    if at is None or _open_between(at, threshold, due) >= at.lead:
        return threshold
    left = datetime.timedelta()
    for start, end in at.windows_before(due, since):
        start, end = max(start, since), min(end, due)
        if end - start >= at.lead - left:
            return min(end - (at.lead - left), threshold)
        left += end - start
    return since if left else threshold


def _open_between(at: Office, begin: datetime.datetime,
                  end: datetime.datetime) -> datetime.timedelta:
    total = datetime.timedelta()
    for start, close in at.windows_before(end, begin):
        total += min(close, end) - max(start, begin)
        if total >= at.lead:
            break
    return total


def _local(moment: datetime.datetime, zone: datetime.tzinfo) -> datetime.datetime:
    return moment.replace(tzinfo=datetime.timezone.utc).astimezone(zone)


def _utc(local: datetime.datetime, zone: datetime.tzinfo) -> datetime.datetime:
    return local.replace(tzinfo=zone).astimezone(datetime.timezone.utc).replace(tzinfo=None)

