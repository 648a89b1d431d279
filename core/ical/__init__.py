"""Calendars and events from plain values (RFC 5545/5546/7986), and "add to calendar" links.

Rules from ``ical.md``: one UID per logical event, SEQUENCE from the caller, DTSTAMP from the caller, the join
link in LOCATION + DESCRIPTION + URL + CONFERENCE; VTIMEZONEs come from ``core.ical.timezones``.
"""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Conference, Event, vCalAddress, vDuration

from core.ical.timezones import DAYS, IcalError, vtimezone, zone_info
from core.text import replace_control_chars

__all__ = ["IcalError", "Person", "EventSpec", "make_uid", "build_invite", "build_cancel", "build_feed", "to_bytes",
           "parse", "vtimezone", "google_calendar_url", "outlook_calendar_url"]

PRODID = "-//Ouderkamer//Ouderkamer//NL"
STATUSES = ("TENTATIVE", "CONFIRMED", "CANCELLED")


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
    #: What the join link is, in the reader's language ("Meedoen met de bijeenkomst"); the link goes bare without.
    join_label: str | None = None
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
        zone_info(self.tzid)
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
    zone = zone_info(spec.tzid)
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
        **_join_fields(spec.join_url, spec.join_label),
    )
    if spec.attendee:
        event.add("ATTENDEE", _attendee(spec.attendee))
    _add_recurrence(event, spec, zone)
    if spec.alarm_minutes is not None:
        event.add_component(_alarm(spec))
    return event


def _description(spec: EventSpec) -> str:
    # The link goes first: many clients show only the first line, and LOCATION/URL are not shown everywhere.
    link = f"{spec.join_label}: {spec.join_url}" if spec.join_label and spec.join_url else spec.join_url
    return "\n\n".join(part for part in (link, spec.description) if part)


def _line(text: str) -> str:
    # RFC 5545 TEXT allows no control character but a tab; titles and names stored before they were refused
    # must still give a valid calendar, on one line.
    return replace_control_chars(text)


def _join_fields(join_url: str | None, label: str | None = None) -> dict:
    if not join_url:
        return {}
    conference = Conference(join_url, feature=["VIDEO", "AUDIO"], label=_line(label or "Join link"))
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
    rule = {"FREQ": "WEEKLY", "BYDAY": DAYS[spec.starts_at.astimezone(zone).weekday()]}
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


# --- "add to calendar" links ------------------------------------------------------------------------------------


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def google_calendar_url(spec: EventSpec) -> str:
    """A Google Calendar "create event" link for the event."""
    dates = f"{_utc_text(spec.starts_at)}/{_utc_text(spec.ends_at)}"
    query = {"action": "TEMPLATE", "text": spec.summary, "dates": dates, "details": _description(spec),
             "location": spec.join_url or "", "ctz": spec.tzid}
    return "https://calendar.google.com/calendar/render?" + urlencode(query)


def outlook_calendar_url(spec: EventSpec) -> str:
    """An Outlook on the web "compose event" link for the event."""
    query = {"path": "/calendar/action/compose", "rru": "addevent", "subject": spec.summary,
             "startdt": spec.starts_at.astimezone(UTC).isoformat(), "enddt": spec.ends_at.astimezone(UTC).isoformat(),
             "body": _description(spec), "location": spec.join_url or ""}
    return "https://outlook.live.com/calendar/0/deeplink/compose?" + urlencode(query)
