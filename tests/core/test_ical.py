"""core.ical: generated calendars go through a real Radicale server and recurring-ical-events (ical.md §13)."""

import dataclasses
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
import vobject
from icalendar import Calendar

from core.ical import (
    EventSpec,
    IcalError,
    Person,
    build_cancel,
    build_feed,
    build_invite,
    google_calendar_url,
    make_uid,
    outlook_calendar_url,
    parse,
    to_bytes,
    vtimezone,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
START = datetime(2026, 3, 10, 10, 0, tzinfo=AMSTERDAM)  # a Tuesday; the clocks go forward on 29 March
STAMP = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
JOIN_URL = "https://ouderkamer.example/join/abc123"
UID = "ouderkamer-session-7@ouderkamer.example"
WINDOW = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))
AMSTERDAM_VTIMEZONE = (
    b"BEGIN:VTIMEZONE\r\n"
    b"TZID:Europe/Amsterdam\r\n"
    b"BEGIN:DAYLIGHT\r\n"
    b"DTSTART:19700329T020000\r\n"
    b"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\n"
    b"TZNAME:CEST\r\n"
    b"TZOFFSETFROM:+0100\r\n"
    b"TZOFFSETTO:+0200\r\n"
    b"END:DAYLIGHT\r\n"
    b"BEGIN:STANDARD\r\n"
    b"DTSTART:19701025T030000\r\n"
    b"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n"
    b"TZNAME:CET\r\n"
    b"TZOFFSETFROM:+0200\r\n"
    b"TZOFFSETTO:+0100\r\n"
    b"END:STANDARD\r\n"
    b"END:VTIMEZONE\r\n"
)


def create_event_spec(**changes) -> EventSpec:
    """An invite for one parent: Tuesday 10 March 2026, 10:00-11:00 Amsterdam, with join link."""
    spec = EventSpec(
        uid=UID,
        sequence=0,
        summary="Ouderavond: slapen en eten",
        description="Welkom bij de ouderavond.",
        starts_at=START,
        ends_at=START + timedelta(hours=1),
        stamp=STAMP,
        organizer=Person("uitnodiging@ouderkamer.example", "Ouderkamer"),
        attendee=Person("fatma@example.net", "Fatma Yılmaz"),
        join_url=JOIN_URL,
    )
    return dataclasses.replace(spec, **changes)


def substance(component) -> tuple:
    """Components, properties, values and parameters, independent of order, quoting and folding."""
    props = []
    for name, values in component.items():
        for value in values if isinstance(values, list) else [values]:
            params = tuple(sorted((key, str(val)) for key, val in value.params.items()))
            props.append((name, value.to_ical(), params))
    subs = sorted(substance(sub) for sub in component.subcomponents)
    return component.name, tuple(sorted(props)), tuple(subs)


def utc_starts(cal: Calendar) -> list[datetime]:
    """DTSTART of every occurrence in WINDOW as expanded by recurring-ical-events, in UTC."""
    return sorted(e.start.astimezone(UTC) for e in recurring_ical_events.of(cal).between(*WINDOW))


def radicale_starts(caldav, collection_url: str) -> list[datetime]:
    """DTSTART of every occurrence in WINDOW as expanded by Radicale's REPORT <C:expand>, in UTC."""
    items = [Calendar.from_ical(data) for data in caldav.expand(collection_url, *WINDOW)]
    return sorted(e.start.astimezone(UTC) for cal in items for e in cal.walk("VEVENT"))


def round_trip(caldav, data: bytes) -> Calendar:
    """PUT one object into a fresh Radicale calendar, expect it stored, and parse what comes back."""
    status, body = caldav.put_and_get(data)
    assert status in (201, 204)
    return parse(body)


def missing_required(cal: Calendar) -> list[tuple[str, str]]:
    """(UID, property) for each VEVENT property that RFC 5546 requires but parsers do not enforce."""
    required = ("UID", "DTSTAMP", "DTSTART", "SEQUENCE", "SUMMARY", "ORGANIZER")
    return [(str(e.get("UID")), name) for e in cal.walk("VEVENT") for name in required if name not in e]


def instants_to_check(zone: ZoneInfo, first_year: int, last_year: int) -> list[datetime]:
    """Every 30 minutes on days around a clock change, every 6 hours on the other days."""
    instants, day = [], datetime(first_year, 1, 1, tzinfo=UTC)
    while day.year <= last_year:
        near_change = day.astimezone(zone).utcoffset() != (day + timedelta(days=2)).astimezone(zone).utcoffset()
        step = timedelta(minutes=30) if near_change else timedelta(hours=6)
        instants += [day + step * i for i in range(int(timedelta(days=1) / step))]
        day += timedelta(days=1)
    return instants


# --- plain values and serialisation ------------------------------------------------------------------------


@pytest.mark.unit
def test_make_uid_joins_kind_id_and_host():
    assert make_uid("session", 42, "ouderkamer.example") == "ouderkamer-session-42@ouderkamer.example"


@pytest.mark.unit
def test_event_spec_naive_datetime_is_rejected():
    with pytest.raises(IcalError, match="starts_at must be timezone-aware"):
        create_event_spec(starts_at=datetime(2026, 3, 10, 10, 0))


@pytest.mark.unit
def test_event_spec_count_and_until_together_are_rejected():
    with pytest.raises(IcalError, match="mutually exclusive"):
        create_event_spec(weekly_count=6, weekly_until=START + timedelta(weeks=5))


@pytest.mark.unit
def test_event_spec_unknown_zone_is_rejected():
    with pytest.raises(IcalError, match="unknown time zone 'Europe/Atlantis'"):
        create_event_spec(tzid="Europe/Atlantis")


@pytest.mark.unit
def test_to_bytes_uses_crlf_and_folds_at_75_octets():
    data = to_bytes(build_invite([create_event_spec(description="é" * 200)]))

    lines = data.split(b"\r\n")

    assert data.endswith(b"END:VCALENDAR\r\n")
    assert [line for line in lines if b"\n" in line or len(line) > 75] == []


@pytest.mark.unit
def test_parse_rejects_a_tzid_without_vtimezone():
    data = to_bytes(build_invite([create_event_spec()])).replace(AMSTERDAM_VTIMEZONE, b"")

    with pytest.raises(IcalError, match="TZIDs without VTIMEZONE: \\['Europe/Amsterdam'\\]"):
        parse(data)


# --- VTIMEZONE ---------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_vtimezone_amsterdam_is_the_classic_pair_anchored_in_1970():
    assert vtimezone("Europe/Amsterdam", 2026).to_ical() == AMSTERDAM_VTIMEZONE


@pytest.mark.unit
def test_vtimezone_new_york_uses_nth_sunday_rules():
    rules = [str(c["RRULE"].to_ical(), "ascii") for c in vtimezone("America/New_York", 2026).subcomponents]

    assert rules == [
        "FREQ=YEARLY;BYDAY=2SU;BYMONTH=3",
        "FREQ=YEARLY;BYDAY=1SU;BYMONTH=11",
    ]


@pytest.mark.unit
def test_vtimezone_without_dst_has_one_standard_without_rule():
    tz = vtimezone("Asia/Kolkata", 2026)

    assert tz.to_ical() == (
        b"BEGIN:VTIMEZONE\r\nTZID:Asia/Kolkata\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
        b"TZNAME:IST\r\nTZOFFSETFROM:+0530\r\nTZOFFSETTO:+0530\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    )


@pytest.mark.unit
def test_vtimezone_zone_without_yearly_rule_falls_back_to_one_year_without_rdate():
    data = vtimezone("Africa/Casablanca", 2026).to_ical()

    assert b"RDATE" not in data
    assert b"COMMENT:This timezone only works from 2026-01-01 to 2026-12-31.\r\n" in data


@pytest.mark.unit
@pytest.mark.parametrize(
    "tzid",
    [
        "Europe/Amsterdam",
        "America/New_York",
        "America/Santiago",
        "Australia/Sydney",
        "Asia/Jerusalem",
        "Asia/Kolkata",
    ],
)
def test_vtimezone_read_by_vobject_agrees_with_zoneinfo_2025_to_2030(tzid):
    zone = ZoneInfo(tzid)
    data = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + vtimezone(tzid, 2025).to_ical()
    # vobject + dateutil is the stack inside Radicale; it reads the VTIMEZONE body, not the name.
    parsed = vobject.readOne((data + b"END:VCALENDAR\r\n").decode()).vtimezone.gettzinfo()
    # Local wall times (fold set on the repeated autumn hour) as a reader meets them in DTSTART;TZID=...
    walls = [t.astimezone(zone).replace(tzinfo=None) for t in instants_to_check(zone, 2025, 2030)]

    wrong = [w for w in walls if w.replace(tzinfo=parsed).utcoffset() != w.replace(tzinfo=zone).utcoffset()]

    assert wrong == []


# --- invites (REQUEST) -------------------------------------------------------------------------------------


@pytest.mark.adapter
def test_request_single_invite_is_stored_by_radicale_unchanged(caldav):
    data = to_bytes(build_invite([create_event_spec()]))

    stored = round_trip(caldav, data)

    assert substance(stored) == substance(parse(data))
    assert missing_required(stored) == []


@pytest.mark.unit
def test_request_has_required_itip_properties_and_one_mailto_attendee():
    cal = parse(to_bytes(build_invite([create_event_spec()])))
    (event,) = cal.walk("VEVENT")

    assert cal["METHOD"] == "REQUEST"
    assert [(str(a), a.params["CN"]) for a in event.attendees] == [("mailto:fatma@example.net", "Fatma Yılmaz")]
    organizer = event["ORGANIZER"]
    assert (str(organizer), organizer.params["CN"]) == ("mailto:uitnodiging@ouderkamer.example", "Ouderkamer")
    assert (event["UID"], event["SEQUENCE"], event["DTSTAMP"].dt) == (UID, 0, STAMP)
    assert event["DTSTART"].to_ical() == b"20260310T100000"
    assert event["DTSTART"].params["TZID"] == "Europe/Amsterdam"


@pytest.mark.unit
def test_request_puts_join_link_in_location_description_url_and_conference():
    cal = parse(to_bytes(build_invite([create_event_spec()])))
    (event,) = cal.walk("VEVENT")

    assert (event["LOCATION"], event["URL"], str(event["CONFERENCE"])) == (JOIN_URL, JOIN_URL, JOIN_URL)
    assert event["DESCRIPTION"].splitlines()[0] == JOIN_URL
    assert event["CONFERENCE"].params["FEATURE"] == "VIDEO,AUDIO"


@pytest.mark.unit
def test_request_has_a_fifteen_minute_display_alarm():
    data = to_bytes(build_invite([create_event_spec()]))

    assert b"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Ouderavond: slapen en eten\r\nTRIGGER:-PT15M\r\n" in data


@pytest.mark.unit
def test_request_vtimezone_has_one_standard_and_one_daylight_with_rrule_and_no_rdate():
    cal = parse(to_bytes(build_invite([create_event_spec(weekly_count=6)])))

    (tz,) = cal.walk("VTIMEZONE")

    assert sorted(c.name for c in tz.subcomponents) == ["DAYLIGHT", "STANDARD"]
    assert [("RRULE" in c, "RDATE" in c) for c in tz.subcomponents] == [(True, False), (True, False)]


@pytest.mark.unit
def test_request_without_attendee_is_rejected():
    with pytest.raises(IcalError, match="every event of a REQUEST needs an attendee"):
        build_invite([create_event_spec(attendee=None)])


@pytest.mark.unit
def test_request_with_two_uids_is_rejected():
    with pytest.raises(IcalError, match="must share one UID"):
        build_invite([create_event_spec(), create_event_spec(uid="other@ouderkamer.example")])


@pytest.mark.unit
def test_publish_download_drops_the_attendee():
    data = to_bytes(build_invite([create_event_spec()], method="PUBLISH"))

    assert (b"METHOD:PUBLISH\r\n" in data, b"ATTENDEE" in data) == (True, False)


# --- weekly series -----------------------------------------------------------------------------------------


@pytest.mark.unit
def test_weekly_series_expands_to_ten_local_across_the_march_switch():
    cal = build_invite([create_event_spec(weekly_count=6)])

    starts = utc_starts(cal)

    winter = [datetime(2026, 3, day, 9, 0, tzinfo=UTC) for day in (10, 17, 24)]
    summer = [datetime(2026, 3, 31, 8, 0, tzinfo=UTC)] + [datetime(2026, 4, d, 8, 0, tzinfo=UTC) for d in (7, 14)]
    assert starts == winter + summer
    assert {s.astimezone(AMSTERDAM).time().isoformat() for s in starts} == {"10:00:00"}


@pytest.mark.adapter
def test_weekly_series_is_stored_by_radicale_unchanged(caldav):
    data = to_bytes(build_invite([create_event_spec(weekly_count=6)]))

    stored = round_trip(caldav, data)

    assert substance(stored) == substance(parse(data))
    assert missing_required(stored) == []
    assert stored.walk("VEVENT")[0]["RRULE"].to_ical() == b"FREQ=WEEKLY;COUNT=6;BYDAY=TU"


@pytest.mark.adapter
def test_weekly_series_radicale_expansion_matches_recurring_ical_events(caldav):
    cal = build_invite([create_event_spec(weekly_count=6)])
    collection = caldav.new_calendar()

    status = caldav.put(collection + "series.ics", to_bytes(cal)).status_code

    assert status == 201
    assert radicale_starts(caldav, collection) == utc_starts(cal)
    assert len(utc_starts(cal)) == 6


@pytest.mark.adapter
def test_weekly_until_is_written_in_utc(caldav):
    last = datetime(2026, 4, 14, 10, 0, tzinfo=AMSTERDAM)
    data = to_bytes(build_invite([create_event_spec(weekly_until=last)]))

    stored = round_trip(caldav, data)

    assert b"RRULE:FREQ=WEEKLY;UNTIL=20260414T080000Z;BYDAY=TU\r\n" in data
    assert stored.walk("VEVENT")[0]["RRULE"]["UNTIL"] == [datetime(2026, 4, 14, 8, 0, tzinfo=UTC)]
    assert utc_starts(stored)[-1] == datetime(2026, 4, 14, 8, 0, tzinfo=UTC)


@pytest.mark.adapter
def test_exdate_uses_the_tzid_of_dtstart_and_drops_that_date(caldav):
    dropped = datetime(2026, 3, 31, 10, 0, tzinfo=AMSTERDAM)
    cal = build_invite([create_event_spec(weekly_count=6, exdates=(dropped,), sequence=1)])
    collection = caldav.new_calendar()

    status = caldav.put(collection + "series.ics", to_bytes(cal)).status_code

    assert status == 201
    assert b"EXDATE;TZID=Europe/Amsterdam:20260331T100000\r\n" in to_bytes(cal)
    assert dropped.astimezone(UTC) not in utc_starts(cal)
    assert radicale_starts(caldav, collection) == utc_starts(cal)
    assert len(utc_starts(cal)) == 5


@pytest.mark.adapter
def test_override_alone_moves_one_date_and_is_stored_by_radicale_unchanged(caldav):
    original = datetime(2026, 3, 31, 10, 0, tzinfo=AMSTERDAM)
    moved = datetime(2026, 4, 1, 14, 0, tzinfo=AMSTERDAM)
    override = create_event_spec(
        sequence=1, recurrence_id=original, starts_at=moved, ends_at=moved + timedelta(hours=1)
    )
    data = to_bytes(build_invite([override]))

    stored = round_trip(caldav, data)

    assert substance(stored) == substance(parse(data))
    assert missing_required(stored) == []
    assert b"RECURRENCE-ID;TZID=Europe/Amsterdam:20260331T100000\r\n" in data
    assert "RRULE" not in stored.walk("VEVENT")[0]


@pytest.mark.adapter
def test_master_with_override_expands_alike_in_radicale_and_recurring_ical_events(caldav):
    original = datetime(2026, 3, 31, 10, 0, tzinfo=AMSTERDAM)
    moved = datetime(2026, 4, 1, 14, 0, tzinfo=AMSTERDAM)
    master = create_event_spec(weekly_count=6, sequence=1)
    override = create_event_spec(
        sequence=1, recurrence_id=original, starts_at=moved, ends_at=moved + timedelta(hours=1)
    )
    cal = build_invite([master, override])
    collection = caldav.new_calendar()

    status = caldav.put(collection + "series.ics", to_bytes(cal)).status_code

    assert status == 201
    assert substance(parse(caldav.get(collection + "series.ics"))) == substance(parse(to_bytes(cal)))
    assert moved.astimezone(UTC) in utc_starts(cal)
    assert original.astimezone(UTC) not in utc_starts(cal)
    assert radicale_starts(caldav, collection) == utc_starts(cal)


# --- cancel ------------------------------------------------------------------------------------------------


@pytest.mark.adapter
def test_cancel_has_status_cancelled_no_alarm_and_is_stored_by_radicale(caldav):
    data = to_bytes(build_cancel([create_event_spec(sequence=1, weekly_count=6)]))

    stored = round_trip(caldav, data)

    assert substance(stored) == substance(parse(data))
    assert missing_required(stored) == []
    (event,) = stored.walk("VEVENT")
    assert (stored["METHOD"], event["STATUS"], event["SEQUENCE"], event["UID"]) == ("CANCEL", "CANCELLED", 1, UID)
    assert stored.walk("VALARM") == []
    assert b"VALARM" not in data


@pytest.mark.adapter
def test_cancel_of_one_date_carries_its_recurrence_id(caldav):
    original = datetime(2026, 3, 31, 10, 0, tzinfo=AMSTERDAM)
    spec = create_event_spec(
        sequence=2, recurrence_id=original, starts_at=original, ends_at=original + timedelta(hours=1)
    )
    data = to_bytes(build_cancel([spec]))

    stored = round_trip(caldav, data)

    assert stored.walk("VEVENT")[0]["RECURRENCE-ID"].dt == original
    assert (stored["METHOD"], stored.walk("VEVENT")[0]["STATUS"]) == ("CANCEL", "CANCELLED")


# --- feed --------------------------------------------------------------------------------------------------


def feed_events() -> list[EventSpec]:
    """Two single sessions and a weekly series, as the parents' feed would list them."""
    second = START + timedelta(days=30)
    return [
        create_event_spec(uid="ouderkamer-session-1@ouderkamer.example", sequence=3),
        create_event_spec(
            uid="ouderkamer-session-2@ouderkamer.example",
            starts_at=second,
            ends_at=second + timedelta(hours=1),
        ),
        create_event_spec(
            uid="ouderkamer-series-3@ouderkamer.example",
            weekly_count=6,
            starts_at=START + timedelta(days=1),
            ends_at=START + timedelta(days=1, hours=2),
        ),
    ]


def build_test_feed() -> Calendar:
    """The feed for one parent, built from feed_events()."""
    return build_feed(feed_events(), name="Ouderkamer: Fatma", uid="ouderkamer-feed-9@ouderkamer.example")


@pytest.mark.unit
def test_feed_is_identical_when_built_twice():
    assert to_bytes(build_test_feed()) == to_bytes(build_test_feed())


@pytest.mark.unit
def test_feed_has_name_refresh_hints_and_no_attendee():
    data = to_bytes(build_test_feed())

    header = data.split(b"BEGIN:VTIMEZONE")[0]
    assert header == (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Ouderkamer//Ouderkamer//NL\r\nCALSCALE:GREGORIAN\r\n"
        b"METHOD:PUBLISH\r\nNAME:Ouderkamer: Fatma\r\nX-WR-CALNAME:Ouderkamer: Fatma\r\n"
        b"REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\nUID:ouderkamer-feed-9@ouderkamer.example\r\n"
        b"X-PUBLISHED-TTL:PT1H\r\n"
    )
    assert b"ATTENDEE" not in data
    assert missing_required(parse(data)) == []
    assert [e["UID"] for e in parse(data).walk("VEVENT")] == [e.uid for e in feed_events()]


@pytest.mark.adapter
def test_feed_is_accepted_by_radicale_and_expands_alike(caldav):
    cal = build_test_feed()
    collection = caldav.new_calendar()

    status = caldav.put(collection, to_bytes(cal)).status_code

    assert status in (201, 204)
    stored = parse(caldav.get(collection))
    assert sorted(substance(e) for e in stored.walk("VEVENT")) == sorted(substance(e) for e in cal.walk("VEVENT"))
    assert radicale_starts(caldav, collection) == utc_starts(cal)


def test_google_and_outlook_links_carry_title_utc_times_and_join_link_first():
    spec = create_event_spec()

    google = parse_qs(urlsplit(google_calendar_url(spec)).query)
    outlook = parse_qs(urlsplit(outlook_calendar_url(spec)).query)

    assert (google["text"], google["dates"], google["location"], google["ctz"]) == (
        ["Ouderavond: slapen en eten"], ["20260310T090000Z/20260310T100000Z"], [JOIN_URL], ["Europe/Amsterdam"])
    assert google["details"] == [f"{JOIN_URL}\n\nWelkom bij de ouderavond."]
    assert (outlook["subject"], outlook["startdt"], outlook["enddt"], outlook["location"]) == (
        ["Ouderavond: slapen en eten"], ["2026-03-10T09:00:00+00:00"], ["2026-03-10T10:00:00+00:00"], [JOIN_URL])
    assert outlook["body"] == google["details"]

