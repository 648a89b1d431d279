"""Property tests (hypothesis) for weekly series in local time, across DST and odd zones.

For any zone, first date and count: exactly `count` dates, strictly increasing (no duplicates), each at the
first date's wall-clock time; a time that does not exist on a date (the spring-forward gap) moves forward by the
gap, as RFC 5545 reads it. Stored series and their calendar invitation (expanded by recurring-ical-events) agree
to the second.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
import recurring_ical_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from sessions import scheduling as sessions
from sessions.calendar import series_ics
from sessions.outbox import connect_scheduling_signals, disconnect_scheduling_signals

#: Zones whose rules are easy to get wrong: 30-minute DST, southern-hemisphere DST, a skipped day, DST
#: suspended for Ramadan, odd offsets, and zones without DST.
TRICKY_ZONES = ["Europe/Amsterdam", "Europe/London", "America/New_York", "America/Sao_Paulo", "America/Santiago",
                "Australia/Lord_Howe", "Australia/Sydney", "Pacific/Chatham", "Pacific/Apia", "Africa/Casablanca",
                "Asia/Tehran", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Europe/Istanbul", "UTC"]
ZONES = st.one_of(st.sampled_from(TRICKY_ZONES), st.sampled_from(sorted(available_timezones() - {"Factory"})))
FIRST = st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2075, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0))


def _exists(naive: datetime, tz: ZoneInfo) -> bool:
    """False for a wall-clock time skipped by a transition (it does not survive the trip to UTC and back)."""
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def _check_wall_clock(starts: list[datetime], first: datetime, tz: ZoneInfo) -> None:
    for week, start in enumerate(starts):
        expected = first + timedelta(weeks=week)
        local = start.astimezone(tz).replace(tzinfo=None)
        if local != expected:
            assert not _exists(expected, tz), (week, expected, local)
            assert timedelta(0) < local - expected <= timedelta(days=1), (week, expected, local)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(tzid=ZONES, first=FIRST, count=st.integers(min_value=1, max_value=sessions.MAX_SERIES_COUNT))
def test_weekly_starts_keep_local_time_count_and_order_in_any_zone(tzid, first, count):
    tz = ZoneInfo(tzid)

    starts = sessions.weekly_starts(first, tzid, count)

    assert len(starts) == count
    assert all(a < b for a, b in zip(starts, starts[1:]))
    assert all(timedelta(days=6) <= b - a <= timedelta(days=8) for a, b in zip(starts, starts[1:]))
    _check_wall_clock(starts, first, tz)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(first=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2070, 1, 1)),
       count=st.integers(min_value=1, max_value=sessions.MAX_SERIES_COUNT))
def test_weekly_starts_in_amsterdam_are_the_same_local_time_every_week(first, count):
    first = first.replace(second=0, microsecond=0)
    tz = ZoneInfo("Europe/Amsterdam")

    starts = sessions.weekly_starts(first, "Europe/Amsterdam", count)

    assert len(set(starts)) == count
    _check_wall_clock(starts, first, tz)


@pytest.mark.parametrize("first", [datetime(1, 1, 1, 0, 0), datetime(9999, 12, 31, 23, 59)])
def test_weekly_starts_at_the_ends_of_the_calendar_are_refused_not_crashed(first):
    # Regression: the zone's offset (or the weeks) pushed these out of Python's calendar: an OverflowError (500).
    with pytest.raises(sessions.ScheduleError) as refused:
        sessions.weekly_starts(first, "America/Adak" if first.year == 1 else "Pacific/Kiritimati", 2)

    assert refused.value.field == "starts_at"


@pytest.fixture
def quiet_scheduling():
    """No invitations while series are made and thrown away by the hundred."""
    disconnect_scheduling_signals()
    yield
    connect_scheduling_signals()


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(tzid=ZONES, first=st.datetimes(min_value=datetime(2031, 1, 1), max_value=datetime(2060, 12, 31)),
       count=st.integers(min_value=1, max_value=sessions.MAX_SERIES_COUNT))
def test_stored_series_and_its_invitation_agree_on_every_date(db, course, create_parent, quiet_scheduling, tzid,
                                                              first, count):
    first = first.replace(second=0, microsecond=0)
    parent = create_parent(course=course) if not course.enrolments else course.enrolments[0].parent
    try:
        series = sessions.schedule_series(course, title="Reeks", first_local=first, timezone=tzid, count=count,
                                          invitees=None)
        stored = sorted(s.starts_at for s in series.sessions)
        calendar = Calendar.from_ical(series_ics(series, parent))
        window = (stored[0] - timedelta(days=1), stored[-1] + timedelta(days=1))
        expanded = sorted(e.start.astimezone(UTC) for e in recurring_ical_events.of(calendar).between(*window))
    finally:
        db.session.rollback()  # services only flush: nothing of this example stays

    assert stored == sessions.weekly_starts(first, tzid, count)
    assert len(set(stored)) == count
    assert expanded == stored

