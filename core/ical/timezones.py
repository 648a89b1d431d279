"""Zones for calendars: the one zone lookup, and VTIMEZONEs in the yearly-rule form.

Hand-derived STANDARD/DAYLIGHT pairs anchored in 1970, because Outlook and vobject (Radicale) misread icalendar's
RDATE-list zones (ical.md).
"""

import calendar as _calendar
import functools
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

#: RFC 5545 weekday codes, Monday first (``date.weekday()`` order).
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
#: Years of zoneinfo transitions a derived yearly rule must reproduce before we trust it.
_RULE_CHECK_YEARS = 7


class IcalError(ValueError):
    """An event or calendar that cannot be turned into valid iCalendar; the message says why."""


def zone_info(tzid: str) -> ZoneInfo:
    """The zone for an IANA name, or IcalError."""
    try:
        return ZoneInfo(tzid)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise IcalError(f"unknown time zone {tzid!r}") from exc


def vtimezone(tzid: str, year: int) -> Timezone:
    """Return a VTIMEZONE for ``tzid``: one yearly STANDARD/DAYLIGHT pair, or a lone STANDARD without DST.

    The rule is derived from zoneinfo's transitions in ``year`` and the following years and anchored in
    1970. A zone whose transitions follow no yearly rule (e.g. Morocco) falls back to icalendar's form for
    that one year, which holds no RDATE list.
    """
    rules = _zone_rules(tzid, year)
    if rules is None:
        return Timezone.from_tzinfo(zone_info(tzid), tzid, first_date=date(year, 1, 1), last_date=date(year, 12, 31))
    tz = Timezone()
    tz.add("TZID", tzid)
    for rule in rules:
        tz.add_component(_observance(rule))
    return tz


class _Shift(NamedTuple):
    """One clock change: local wall time just before it, offsets around it, and the zone's name after it."""

    wall: datetime
    offset_from: timedelta
    offset_to: timedelta
    name: str


class _Rule(NamedTuple):
    """A yearly observance: STANDARD or DAYLIGHT, its 1970 onset and its RRULE parts."""

    kind: str
    onset: datetime
    rrule: dict | None
    offset_from: timedelta
    offset_to: timedelta
    name: str


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset()


def _shifts(zone: ZoneInfo, year: int) -> list[_Shift]:
    start = datetime(year, 1, 1, tzinfo=UTC)
    days = (date(year + 1, 1, 1) - date(year, 1, 1)).days
    shifts = []
    for day in range(days):
        lo, hi = start + timedelta(days=day), start + timedelta(days=day + 1)
        if _offset(zone, lo) != _offset(zone, hi):
            shifts.append(_shift_between(zone, lo, hi))
    return shifts


def _shift_between(zone: ZoneInfo, lo: datetime, hi: datetime) -> _Shift:
    before = _offset(zone, lo)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        lo, hi = (mid, hi) if _offset(zone, mid) == before else (lo, mid)
    wall = (hi + before).replace(tzinfo=None)
    return _Shift(wall, before, _offset(zone, hi), hi.astimezone(zone).tzname())


@functools.lru_cache(maxsize=64)
def _zone_rules(tzid: str, year: int) -> tuple[_Rule, ...] | None:
    zone = zone_info(tzid)
    years = [_shifts(zone, y) for y in range(year, year + _RULE_CHECK_YEARS)]
    if not any(years):
        moment = datetime(year, 1, 1, tzinfo=UTC).astimezone(zone)
        offset = moment.utcoffset()
        return (_Rule("STANDARD", datetime(1970, 1, 1), None, offset, offset, moment.tzname()),)
    rules = _yearly_rules(years)
    return tuple(sorted(rules, key=lambda r: r.kind)) if rules else None


def _yearly_rules(years: list[list[_Shift]]) -> list[_Rule] | None:
    """One rule per clock change of the first year, or None when some year does not follow them."""
    if any(len(shifts) != len(years[0]) for shifts in years) or len(years[0]) != 2:
        return None
    rules = []
    for index, first in enumerate(years[0]):
        same = [shifts[index] for shifts in years]
        if any(_shape(s) != _shape(first) for s in same):
            return None
        parts = _rrule_parts([s.wall.date() for s in same])
        if parts is None:
            return None
        kind = "DAYLIGHT" if first.offset_to > first.offset_from else "STANDARD"
        onset = datetime.combine(_first_match(parts, 1970), first.wall.time())
        rules.append(_Rule(kind, onset, parts, first.offset_from, first.offset_to, first.name))
    return rules if {r.kind for r in rules} == {"STANDARD", "DAYLIGHT"} else None


def _shape(shift: _Shift) -> tuple:
    return shift.offset_from, shift.offset_to, shift.wall.time()


def _rrule_parts(days: list[date]) -> dict | None:
    """The simplest yearly RRULE whose onset equals every given day, or None."""
    month = days[0].month
    if any(d.month != month for d in days):
        return None
    base = {"FREQ": "YEARLY", "BYMONTH": month}
    if len({d.day for d in days}) == 1:
        return {**base, "BYMONTHDAY": days[0].day}
    if len({d.weekday() for d in days}) != 1:
        return None
    weekday = DAYS[days[0].weekday()]
    if all(d.day + 7 > _calendar.monthrange(d.year, month)[1] for d in days):
        return {**base, "BYDAY": f"-1{weekday}"}
    weeks = {(d.day - 1) // 7 + 1 for d in days}
    if len(weeks) == 1:
        return {**base, "BYDAY": f"{weeks.pop()}{weekday}"}
    first = min(d.day for d in days)
    if max(d.day for d in days) - first <= 6:
        # "weekday on or after day N", e.g. Asia/Jerusalem's Friday before the last Sunday of March.
        return {**base, "BYDAY": weekday, "BYMONTHDAY": list(range(first, first + 7))}
    return None


def _first_match(parts: dict, year: int) -> date:
    """The day in ``year`` selected by the yearly RRULE parts built in ``_rrule_parts``."""
    month = parts["BYMONTH"]
    days = [date(year, month, d) for d in range(1, _calendar.monthrange(year, month)[1] + 1)]
    byday = parts.get("BYDAY", "")
    monthdays = parts.get("BYMONTHDAY")
    if monthdays is not None:
        allowed = monthdays if isinstance(monthdays, list) else [monthdays]
        days = [d for d in days if d.day in allowed]
    if byday:
        days = [d for d in days if DAYS[d.weekday()] == byday[-2:]]
        ordinal = int(byday[:-2] or 1)
        return days[ordinal - 1] if ordinal > 0 else days[ordinal]
    return days[0]


def _observance(rule: _Rule) -> TimezoneStandard | TimezoneDaylight:
    part = TimezoneDaylight() if rule.kind == "DAYLIGHT" else TimezoneStandard()
    part.add("DTSTART", rule.onset)
    part.add("TZOFFSETFROM", rule.offset_from)
    part.add("TZOFFSETTO", rule.offset_to)
    part.add("TZNAME", rule.name)
    if rule.rrule:
        part.add("RRULE", dict(rule.rrule))
    return part
