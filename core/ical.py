"""Calendars and events from plain values (RFC 5545/5546/7986); VTIMEZONEs in the yearly-rule form.

Rules from ``ical.md``: one UID per logical event, SEQUENCE from the caller, DTSTAMP from the caller, the join
link in LOCATION + DESCRIPTION + URL + CONFERENCE, and hand-derived STANDARD/DAYLIGHT pairs anchored in 1970
because Outlook and vobject (Radicale) misread icalendar's RDATE-list zones.
"""

import calendar as _calendar
import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import (
    Alarm,
    Calendar,
    Conference,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vCalAddress,
    vDuration,
)

from core.text import replace_control_chars

PRODID = "-//Ouderkamer//Ouderkamer//NL"
STATUSES = ("TENTATIVE", "CONFIRMED", "CANCELLED")
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
#: Years of zoneinfo transitions a derived yearly rule must reproduce before we trust it.
_RULE_CHECK_YEARS = 7


class IcalError(ValueError):
    """An event or calendar that cannot be turned into valid iCalendar; the message says why."""


class Person(NamedTuple):
    """A calendar user: bare e-mail address plus display name (CN)."""

    email: str
    name: str = ""


@dataclass(frozen=True)
class EventSpec:
    """Plain values for one VEVENT (a single session, a series master, or one override)."""

    uid: str
    sequence: int
    summary: str
    starts_at: datetime
    ends_at: datetime
    stamp: datetime
    organizer: Person
    tzid: str = "Europe/Amsterdam"
    description: str = ""
    join_url: str | None = None
    attendee: Person | None = None
    weekly_count: int | None = None
    weekly_until: datetime | None = None
    exdates: tuple[datetime, ...] = ()
    recurrence_id: datetime | None = None
    status: str = "CONFIRMED"
    alarm_minutes: int | None = 15

    def __post_init__(self):
        for label, value in self._instants():
            if value.tzinfo is None:
                raise IcalError(f"{label} must be timezone-aware: {value!r}")
        _zone(self.tzid)
        if self.ends_at <= self.starts_at:
            raise IcalError(f"ends_at {self.ends_at} is not after starts_at {self.starts_at}")
        if self.weekly_count is not None and self.weekly_until is not None:
            raise IcalError("weekly_count and weekly_until are mutually exclusive")
        if self.status not in STATUSES:
            raise IcalError(f"status must be one of {STATUSES}, not {self.status!r}")
        if self.sequence < 0:
            raise IcalError(f"sequence must be >= 0, not {self.sequence}")

    def _instants(self) -> list[tuple[str, datetime]]:
        named = [("starts_at", self.starts_at), ("ends_at", self.ends_at), ("stamp", self.stamp)]
        named += [("weekly_until", self.weekly_until), ("recurrence_id", self.recurrence_id)]
        named += [("exdate", d) for d in self.exdates]
        return [(label, value) for label, value in named if value is not None]


def make_uid(kind: str, id: int | str, host: str) -> str:
    """Return the permanent UID ``ouderkamer-<kind>-<id>@<host>``."""
    return f"ouderkamer-{kind}-{id}@{host}"


def build_invite(events: Sequence[EventSpec], method: str = "REQUEST") -> Calendar:
    """Build an iTIP REQUEST (one UID, each VEVENT with its attendee) or a PUBLISH download (no attendees)."""
    if method == "REQUEST":
        _check_itip(events, method)
    elif method == "PUBLISH":
        events = [dataclasses.replace(e, attendee=None) for e in events]
    else:
        raise IcalError(f"build_invite supports REQUEST or PUBLISH, not {method!r}")
    return _calendar_of(events, [("METHOD", method)])


def build_cancel(events: Sequence[EventSpec]) -> Calendar:
    """Build an iTIP CANCEL: STATUS:CANCELLED, no VALARM; the caller passes the bumped SEQUENCE."""
    events = [dataclasses.replace(e, status="CANCELLED", alarm_minutes=None) for e in events]
    _check_itip(events, "CANCEL")
    return _calendar_of(events, [("METHOD", "CANCEL")])


def build_feed(
    events: Sequence[EventSpec], *, name: str, uid: str, refresh_minutes: int = 60, description: str | None = None
) -> Calendar:
    """Build a subscription feed (PUBLISH, NAME, refresh hints); attendees are dropped, bytes are stable."""
    refresh = timedelta(minutes=refresh_minutes)
    # A bare timedelta in an X- property would be written as the text "1:00:00".
    name = _line(name)
    props = [("METHOD", "PUBLISH"), ("UID", uid), ("NAME", name), ("X-WR-CALNAME", name)]
    props.append(("X-PUBLISHED-TTL", vDuration(refresh)))
    if description:
        description = replace_control_chars(description, multi_line=True)
        props += [("DESCRIPTION", description), ("X-WR-CALDESC", description)]
    cal = _calendar_of([dataclasses.replace(e, attendee=None) for e in events], props)
    cal.add("REFRESH-INTERVAL", refresh, parameters={"VALUE": "DURATION"})
    return cal


def to_bytes(cal: Calendar) -> bytes:
    """Serialise a calendar: UTF-8, CRLF line ends, lines folded at 75 octets."""
    return cal.to_ical()


def parse(data: bytes | str) -> Calendar:
    """Parse one VCALENDAR strictly: damage, broken values, no components or undefined TZIDs raise IcalError."""
    try:
        cal = Calendar.from_ical(data)
        cal.validate()
    except ValueError as exc:
        raise IcalError(f"unparseable or incomplete calendar: {exc}") from exc
    broken = [(c.name, c.errors) for c in cal.walk() if c.errors]
    if broken:
        raise IcalError(f"broken values: {broken}")
    if cal.get_missing_tzids():
        raise IcalError(f"TZIDs without VTIMEZONE: {sorted(cal.get_missing_tzids())}")
    return cal


def vtimezone(tzid: str, year: int) -> Timezone:
    """Return a VTIMEZONE for ``tzid``: one yearly STANDARD/DAYLIGHT pair, or a lone STANDARD without DST.

    The rule is derived from zoneinfo's transitions in ``year`` and the following years and anchored in
    1970. A zone whose transitions follow no yearly rule (e.g. Morocco) falls back to icalendar's form for
    that one year, which holds no RDATE list.
    """
    rules = _zone_rules(tzid, year)
    if rules is None:
        return Timezone.from_tzinfo(_zone(tzid), tzid, first_date=date(year, 1, 1), last_date=date(year, 12, 31))
    tz = Timezone()
    tz.add("TZID", tzid)
    for rule in rules:
        tz.add_component(_observance(rule))
    return tz


# --- events and calendars ---------------------------------------------------------------------------------


def _check_itip(events: Sequence[EventSpec], method: str) -> None:
    if not events:
        raise IcalError(f"a {method} needs at least one event")
    uids = {e.uid for e in events}
    if len(uids) != 1:
        raise IcalError(f"all events of a {method} must share one UID, got {sorted(uids)}")
    if any(e.attendee is None for e in events):
        raise IcalError(f"every event of a {method} needs an attendee")


def _calendar_of(events: Sequence[EventSpec], props: list[tuple[str, object]]) -> Calendar:
    cal = Calendar()
    for key, value in [("PRODID", PRODID), ("VERSION", "2.0"), ("CALSCALE", "GREGORIAN"), *props]:
        cal.add(key, value)
    for spec in events:
        cal.add_component(_event(spec))
    # Asking icalendar which TZIDs it wrote skips zones it renders as UTC ("Z"), such as Etc/UTC.
    zones = [vtimezone(tzid, _first_year(events, tzid)) for tzid in sorted(cal.get_missing_tzids())]
    cal.subcomponents[:0] = zones
    return cal


def _first_year(events: Sequence[EventSpec], tzid: str) -> int:
    return min(e.starts_at.astimezone(UTC).year for e in events if e.tzid == tzid)


def _event(spec: EventSpec) -> Event:
    zone = _zone(spec.tzid)
    event = Event.new(
        uid=spec.uid,
        sequence=spec.sequence,
        summary=_line(spec.summary),
        start=spec.starts_at.astimezone(zone),
        end=spec.ends_at.astimezone(zone),
        stamp=spec.stamp.astimezone(UTC),
        organizer=vCalAddress.new(spec.organizer.email, cn=_line(spec.organizer.name) or None),
        description=replace_control_chars(_description(spec), multi_line=True) or None,
        status=spec.status,
        recurrence_id=spec.recurrence_id.astimezone(zone) if spec.recurrence_id else None,
        **_join_fields(spec.join_url),
    )
    if spec.attendee:
        event.add("ATTENDEE", _attendee(spec.attendee))
    _add_recurrence(event, spec, zone)
    if spec.alarm_minutes is not None:
        event.add_component(_alarm(spec))
    return event


def _description(spec: EventSpec) -> str:
    # The link goes first: many clients show only the first line, and LOCATION/URL are not shown everywhere.
    return "\n\n".join(part for part in (spec.join_url, spec.description) if part)


def _line(text: str) -> str:
    # RFC 5545 TEXT allows no control character but a tab; titles and names stored before they were refused
    # must still give a valid calendar, on one line.
    return replace_control_chars(text)


def _join_fields(join_url: str | None) -> dict:
    if not join_url:
        return {}
    conference = Conference(join_url, feature=["VIDEO", "AUDIO"], label="Join link")
    return {"location": join_url, "url": join_url, "conferences": [conference]}


def _attendee(person: Person) -> vCalAddress:
    return vCalAddress.new(
        person.email,
        cn=_line(person.name) or None,
        cutype="INDIVIDUAL",
        role="REQ-PARTICIPANT",
        partstat="NEEDS-ACTION",
        rsvp=True,
    )


def _add_recurrence(event: Event, spec: EventSpec, zone: ZoneInfo) -> None:
    rule = {"FREQ": "WEEKLY", "BYDAY": _DAYS[spec.starts_at.astimezone(zone).weekday()]}
    if spec.weekly_count is not None:
        event.add("RRULE", {**rule, "COUNT": spec.weekly_count})
    elif spec.weekly_until is not None:
        # RFC 5545: UNTIL must be UTC when DTSTART carries a TZID.
        event.add("RRULE", {**rule, "UNTIL": spec.weekly_until.astimezone(UTC)})
    if spec.exdates:
        event.add("EXDATE", sorted(d.astimezone(zone) for d in spec.exdates))


def _alarm(spec: EventSpec) -> Alarm:
    alarm = Alarm()
    alarm.add("ACTION", "DISPLAY")
    alarm.add("DESCRIPTION", _line(spec.summary))
    alarm.add("TRIGGER", -timedelta(minutes=spec.alarm_minutes))
    return alarm


def _zone(tzid: str) -> ZoneInfo:
    try:
        return ZoneInfo(tzid)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise IcalError(f"unknown time zone {tzid!r}") from exc


# --- VTIMEZONE derivation ---------------------------------------------------------------------------------


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
    zone = _zone(tzid)
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
    weekday = _DAYS[days[0].weekday()]
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
        days = [d for d in days if _DAYS[d.weekday()] == byday[-2:]]
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
