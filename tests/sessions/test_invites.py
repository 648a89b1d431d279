"""Invites per parent: RFC 6047 mail, stable UIDs, SEQUENCE on change, CANCEL, send-once deliveries."""

from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from icalendar import Calendar

from core import ical, mail
from core.db import utcnow
from sessions.calendar import event_spec, invite_ics, local_when, series_dates, series_ics, series_uid, session_uid
from sessions.calendar_models import DeliveryStatus, InviteDelivery
from sessions.deliveries import MAX_ATTEMPTS
from sessions.invite_tasks import send_invite
from sessions.models import SessionStatus
from sessions.outbox import (
    connect_scheduling_signals,
    disconnect_scheduling_signals,
    notify_scheduled,
    scheduling_signals_connected,
)
from sessions.scheduling import cancel_series, cancel_session, reschedule_session, schedule_series
from tests.fixtures.smtp import free_port

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def substance(component) -> tuple:
    """Components, properties, values and parameters, independent of order, quoting and folding."""
    props = []
    for name, values in component.items():
        for value in values if isinstance(values, list) else [values]:
            params = tuple(sorted((key, str(val)) for key, val in value.params.items()))
            props.append((name, value.to_ical(), params))
    return component.name, tuple(sorted(props)), tuple(sorted(substance(s) for s in component.subcomponents))


def calendar_of(message) -> Calendar:
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    return ical.parse(part.get_payload(decode=True))


def outbox():
    return mail.get_mail_transport().outbox


@pytest.fixture(autouse=True)
def scheduling_signals():
    """Invites follow sessions.services' signals here, whether or not the app wires them already."""
    connected = scheduling_signals_connected()
    connect_scheduling_signals()
    yield
    if not connected:
        disconnect_scheduling_signals()


@pytest.fixture
def two_parents(course, create_parent):
    return [create_parent("Sanne", course=course, email="sanne@example.org"),
            create_parent("Fatma", course=course, language="tr", email="fatma@example.net")]


@contextmanager
def smtp_config(app, port: int):
    saved = {key: app.config.get(key) for key in ("MAIL_TRANSPORT", "SMTP_HOST", "SMTP_PORT")}
    app.config.update(MAIL_TRANSPORT="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    app.extensions.pop("ouderkamer.mail", None)
    try:
        yield
    finally:
        app.config.update(saved)
        app.extensions.pop("ouderkamer.mail", None)


def test_notify_scheduled_sends_each_parent_a_request_naming_only_them(app, db, two_parents,
                                                                      create_workshop_session):
    session = create_workshop_session()
    notify_scheduled(session)  # a second notify for the same SEQUENCE sends nothing new
    db.session.commit()

    sent = sorted(outbox(), key=lambda m: str(m["To"]))
    assert [str(m["To"]) for m in sent] == ["fatma@example.net", "sanne@example.org"]
    for message in sent:
        event = calendar_of(message).walk("VEVENT")[0]
        assert [str(a) for a in [event["ATTENDEE"]]] == [f"mailto:{message['To']}"]
        assert str(event["ORGANIZER"]) == "mailto:" + app.config["MAIL_FROM"]


def test_invite_uid_is_stable_per_session_and_join_link_is_personal(db, two_parents, create_workshop_session):
    session = create_workshop_session()

    events = [calendar_of(m).walk("VEVENT")[0] for m in outbox()]
    assert {str(e["UID"]) for e in events} == {f"ouderkamer-session-{session.id}@ouderkamer.test"}
    links = {str(e["URL"]) for e in events}
    assert len(links) == 2
    assert all(link.startswith("http://ouderkamer.test/c/") and link.endswith(f"/join/{session.id}")
               for link in links)
    assert all(str(e["LOCATION"]) == str(e["URL"]) for e in events)


def test_invite_through_real_smtp_has_the_rfc6047_tree_in_the_parents_language(
        app, db, course, create_parent, create_workshop_session, smtp_server):
    create_parent("Fatma", course=course, language="tr", email="fatma@example.net")

    with smtp_config(app, smtp_server.port):
        session = create_workshop_session()

    assert len(smtp_server.messages) == 1
    received = smtp_server.messages[0]
    assert received.rcpt_tos == ["fatma@example.net"]
    assert received.envelope_from == app.config["MAIL_FROM"]
    message = received.message
    assert message.get_content_type() == "multipart/mixed"
    first, attachment = message.get_payload()
    assert first.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in first.get_payload()] == ["text/plain", "text/html", "text/calendar"]
    calendar_part = first.get_payload()[2]
    assert b"Content-Type: text/calendar; method=REQUEST; charset=UTF-8" in smtp_server.raw_messages[0]
    assert calendar_part.get_content_disposition() is None
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_payload(decode=True) == calendar_part.get_payload(decode=True)
    assert ical.parse(calendar_part.get_payload(decode=True))["METHOD"] == "REQUEST"
    assert message["Content-Language"] == "tr"
    turkish_weekday = local_when(session, "tr").split()[-3]  # e.g. "Pazartesi"
    assert turkish_weekday in first.get_payload()[0].get_content()


@pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
def test_invite_ics_is_stored_by_radicale_unchanged(db, caldav, two_parents, create_workshop_session, method):
    session = create_workshop_session()
    if method == "CANCEL":
        session.status, session.sequence = SessionStatus.cancelled, 1
    data = invite_ics(session, two_parents[0], method)

    status, body = caldav.put_and_get(data)

    assert status in (201, 204)
    assert substance(ical.parse(body)) == substance(ical.parse(data))


def test_reschedule_sends_the_same_uid_with_a_higher_sequence(db, two_parents, create_workshop_session):
    session = create_workshop_session()
    first = {str(m["To"]): calendar_of(m).walk("VEVENT")[0] for m in outbox()}
    outbox().clear()

    reschedule_session(session, starts_local=session.local_start + timedelta(days=7))
    db.session.commit()

    second = {str(m["To"]): calendar_of(m).walk("VEVENT")[0] for m in outbox()}
    assert sorted(second) == sorted(first)
    for address, event in second.items():
        assert event["UID"] == first[address]["UID"]
        assert (event["SEQUENCE"], first[address]["SEQUENCE"]) == (1, 0)
        assert event.start == first[address].start + timedelta(days=7)


def test_cancel_sends_method_cancel_with_the_same_uid_and_no_alarm(db, two_parents, create_workshop_session):
    session = create_workshop_session()
    outbox().clear()

    cancel_session(session)
    db.session.commit()

    assert len(outbox()) == 2
    for message in outbox():
        cal = calendar_of(message)
        event = cal.walk("VEVENT")[0]
        assert (cal["METHOD"], event["STATUS"], event["SEQUENCE"]) == ("CANCEL", "CANCELLED", 1)
        assert str(event["UID"]) == session_uid(session)
        assert cal.walk("VALARM") == []
        part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
        assert part.get_param("method") == "CANCEL"


# --- a weekly series is one event ----------------------------------------------------------------------------


def march_tuesday() -> datetime:
    """10:00 Amsterdam on the Tuesday 19 days before next year's last Sunday of March: 6 weeks cross the switch."""
    year = utcnow().year + 1
    last_sunday = max(date(year, 3, day) for day in range(25, 32) if date(year, 3, day).weekday() == 6)
    return datetime.combine(last_sunday - timedelta(days=19), time(10, 0), tzinfo=AMSTERDAM)


def local_tens(first: datetime, weeks: int = 6) -> list[datetime]:
    """The UTC instants of `weeks` weekly dates at the local time of `first`."""
    return [(first.replace(tzinfo=None) + timedelta(weeks=k)).replace(tzinfo=AMSTERDAM).astimezone(UTC)
            for k in range(weeks)]


def window(first: datetime) -> tuple[datetime, datetime]:
    return first - timedelta(days=1), first + timedelta(weeks=8)


def utc_starts(cal: Calendar, first: datetime) -> list[datetime]:
    """Occurrence starts as expanded by recurring-ical-events, in UTC."""
    return sorted(e.start.astimezone(UTC) for e in recurring_ical_events.of(cal).between(*window(first)))


def radicale_starts(caldav, collection_url: str, first: datetime) -> list[datetime]:
    """Occurrence starts as expanded by Radicale's REPORT <C:expand>, in UTC."""
    items = [Calendar.from_ical(data) for data in caldav.expand(collection_url, *window(first))]
    return sorted(e.start.astimezone(UTC) for cal in items for e in cal.walk("VEVENT"))


def calendar_bytes(message) -> bytes:
    return next(p for p in message.walk() if p.get_content_type() == "text/calendar").get_payload(decode=True)


def by_address(messages) -> dict:
    return {str(m["To"]): m for m in messages}


@pytest.fixture
def march_series(db, course, two_parents):
    series = schedule_series(course, title="Reeks", first_local=march_tuesday(), timezone="Europe/Amsterdam",
                             count=6)
    db.session.commit()
    return series


def test_series_sends_each_parent_one_request_with_rrule_count_six(march_series):
    sent = by_address(outbox())

    assert sorted(sent) == ["fatma@example.net", "sanne@example.org"]
    for address, message in sent.items():
        cal = calendar_of(message)
        events = cal.walk("VEVENT")
        assert cal["METHOD"] == "REQUEST"
        assert [(str(e["UID"]), e["SEQUENCE"]) for e in events] == [(series_uid(march_series), 0)]
        assert dict(events[0]["RRULE"]) == {"FREQ": ["WEEKLY"], "BYDAY": ["TU"], "COUNT": [6]}
        assert events[0].start == march_tuesday()
        assert [str(events[0]["ATTENDEE"])] == [f"mailto:{address}"]


def test_series_invite_is_accepted_and_expanded_by_radicale_to_six_local_ten_oclock(caldav, march_series):
    data = calendar_bytes(by_address(outbox())["sanne@example.org"])
    collection = caldav.new_calendar()

    status = caldav.put(collection + "series.ics", data).status_code

    assert status == 201
    assert substance(ical.parse(caldav.get(collection + "series.ics"))) == substance(ical.parse(data))
    expected = local_tens(march_tuesday())
    assert utc_starts(ical.parse(data), march_tuesday()) == expected
    assert radicale_starts(caldav, collection, march_tuesday()) == expected
    assert {d.astimezone(AMSTERDAM).hour for d in expected} == {10}
    assert len({d.utcoffset() for d in (e.astimezone(AMSTERDAM) for e in expected)}) == 2


def test_second_notify_of_a_series_sends_nothing_new(db, march_series):
    notify_scheduled(march_series)
    db.session.commit()

    assert len(outbox()) == 2


def test_moving_one_date_sends_the_override_alone_with_a_higher_sequence(db, caldav, march_series):
    fourth = series_dates(march_series)[3]
    original = fourth.starts_at
    moved = fourth.local_start + timedelta(days=1, hours=4)  # Wednesday 14:00, after the switch
    outbox().clear()

    reschedule_session(fourth, starts_local=moved)
    db.session.commit()

    sent = by_address(outbox())
    assert sorted(sent) == ["fatma@example.net", "sanne@example.org"]
    for message in sent.values():
        cal = calendar_of(message)
        events = cal.walk("VEVENT")
        assert cal["METHOD"] == "REQUEST"
        assert [(str(e["UID"]), e["SEQUENCE"]) for e in events] == [(series_uid(march_series), 1)]
        assert events[0]["RECURRENCE-ID"].dt == original.astimezone(AMSTERDAM)
        assert events[0]["RECURRENCE-ID"].params["TZID"] == "Europe/Amsterdam"
        assert (events[0].start, "RRULE" in events[0]) == (moved, False)
    assert march_series.sequence == 1
    override_status, _body = caldav.put_and_get(calendar_bytes(sent["sanne@example.org"]))
    assert override_status == 201


def test_series_with_a_moved_date_is_accepted_and_expanded_by_radicale(db, caldav, march_series, two_parents):
    fourth = series_dates(march_series)[3]
    moved = fourth.local_start + timedelta(days=1, hours=4)
    reschedule_session(fourth, starts_local=moved)
    db.session.commit()
    data = series_ics(march_series, two_parents[0])
    collection = caldav.new_calendar()

    status = caldav.put(collection + "series.ics", data).status_code

    cal = ical.parse(data)
    assert status == 201
    assert [(e["SEQUENCE"], "RECURRENCE-ID" in e) for e in cal.walk("VEVENT")] == [(1, False), (1, True)]
    assert substance(ical.parse(caldav.get(collection + "series.ics"))) == substance(cal)
    expected = sorted([*local_tens(march_tuesday())[:3], moved.astimezone(UTC), *local_tens(march_tuesday())[4:]])
    assert utc_starts(cal, march_tuesday()) == expected
    assert radicale_starts(caldav, collection, march_tuesday()) == expected


def test_cancelling_one_date_sends_a_cancel_with_its_recurrence_id(db, caldav, march_series, two_parents):
    second = series_dates(march_series)[1]
    outbox().clear()

    cancel_session(second)
    db.session.commit()

    assert sorted(by_address(outbox())) == ["fatma@example.net", "sanne@example.org"]
    for message in outbox():
        cal = calendar_of(message)
        events = cal.walk("VEVENT")
        assert (cal["METHOD"], cal.walk("VALARM")) == ("CANCEL", [])
        assert [(str(e["UID"]), e["SEQUENCE"], e["STATUS"]) for e in events] == [
            (series_uid(march_series), 1, "CANCELLED")]
        assert events[0]["RECURRENCE-ID"].dt == second.starts_at.astimezone(AMSTERDAM)
    full = series_ics(march_series, two_parents[0])
    collection = caldav.new_calendar()
    assert caldav.put(collection + "series.ics", full).status_code == 201
    expected = [d for d in local_tens(march_tuesday()) if d != second.starts_at]
    assert radicale_starts(caldav, collection, march_tuesday()) == expected == utc_starts(ical.parse(full),
                                                                                        march_tuesday())


def test_cancelling_the_series_sends_one_cancel_of_the_uid(db, caldav, march_series):
    outbox().clear()

    cancel_series(march_series)
    db.session.commit()

    assert sorted(by_address(outbox())) == ["fatma@example.net", "sanne@example.org"]
    for message in outbox():
        cal = calendar_of(message)
        events = cal.walk("VEVENT")
        assert cal["METHOD"] == "CANCEL"
        assert [(str(e["UID"]), e["SEQUENCE"], e["STATUS"], "RECURRENCE-ID" in e) for e in events] == [
            (series_uid(march_series), march_series.sequence, "CANCELLED", False)]
        assert march_series.sequence > 0
        assert part_method(message) == "CANCEL"
    status, _body = caldav.put_and_get(calendar_bytes(outbox()[0]))
    assert status == 201


def part_method(message) -> str:
    return next(p for p in message.walk() if p.get_content_type() == "text/calendar").get_param("method")


def test_series_deliveries_are_recorded_once_per_message(db, march_series):
    cancel_session(series_dates(march_series)[1])
    db.session.commit()

    rows = db.session.scalars(db.select(InviteDelivery).order_by(InviteDelivery.method)).all()
    assert sorted((r.method, r.sequence, r.status) for r in rows) == [
        ("CANCEL", 1, DeliveryStatus.sent), ("CANCEL", 1, DeliveryStatus.sent),
        ("REQUEST", 0, DeliveryStatus.sent), ("REQUEST", 0, DeliveryStatus.sent)]


@pytest.fixture
def late_parent(course, create_parent, create_workshop_session):
    """A session and a parent enrolled after it was scheduled, who has had no invite yet."""
    session = create_workshop_session()
    return session, create_parent("Sanne", course=course, email="sanne@example.org")


def test_send_invite_twice_for_one_sequence_sends_once(db, late_parent):
    session, parent = late_parent

    send_invite.call_local(session.id, parent.id, 0)
    send_invite.call_local(session.id, parent.id, 0)

    assert [str(m["To"]) for m in outbox()] == ["sanne@example.org"]
    delivery = db.session.scalars(db.select(InviteDelivery)).one()
    assert (delivery.status, delivery.attempts, delivery.method) == (DeliveryStatus.sent, 1, "REQUEST")


def test_send_invite_for_a_superseded_sequence_sends_nothing(db, late_parent):
    session, parent = late_parent
    session.sequence = 2
    db.session.commit()

    send_invite.call_local(session.id, parent.id, 1)

    assert outbox() == []


def test_smtp_down_during_send_then_back_delivers_exactly_once(app, db, late_parent, smtp_server):
    session, parent = late_parent

    with smtp_config(app, free_port()), pytest.raises(mail.MailError) as failure:
        send_invite.call_local(session.id, parent.id, 0)
    with smtp_config(app, smtp_server.port):
        send_invite.call_local(session.id, parent.id, 0)
        send_invite.call_local(session.id, parent.id, 0)

    assert failure.value.transient is True
    assert [m.rcpt_tos for m in smtp_server.messages] == [["sanne@example.org"]]
    db.session.expire_all()
    delivery = db.session.scalars(db.select(InviteDelivery)).one()
    assert (delivery.status, delivery.attempts, delivery.error) == (DeliveryStatus.sent, 2, None)


def test_smtp_down_on_the_last_attempt_marks_the_delivery_failed(app, db, late_parent):
    session, parent = late_parent

    with smtp_config(app, free_port()):
        for _attempt in range(MAX_ATTEMPTS - 1):
            with pytest.raises(mail.MailError):
                send_invite.call_local(session.id, parent.id, 0)
        send_invite.call_local(session.id, parent.id, 0)

    db.session.expire_all()
    delivery = db.session.scalars(db.select(InviteDelivery)).one()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.failed, MAX_ATTEMPTS)
    assert delivery.error.startswith("SMTP connection failed")


def test_event_spec_carries_the_sessions_title_times_zone_and_the_given_join_link(db, create_workshop_session):
    workshop_session = create_workshop_session(title="Voorlezen thuis")

    spec = event_spec(workshop_session, link="https://ouderkamer.test/c/x/join/1")

    assert (spec.uid, spec.summary, spec.starts_at, spec.ends_at, spec.tzid, spec.join_url, spec.attendee) == (
        session_uid(workshop_session), "Voorlezen thuis", workshop_session.starts_at, workshop_session.ends_at,
        workshop_session.timezone, "https://ouderkamer.test/c/x/join/1", None)
