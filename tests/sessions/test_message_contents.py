"""What invites, changes and cancellations say: start and end, the earlier and the new time of a change, every date
of a series, the trainer's reason for a cancellation, in the parent's language."""

from datetime import timedelta

import pytest
from flask_babel import force_locale
from flask_babel import gettext as _

from core import mail, sms
from core.errors import DomainError
from courses import services as courses
from sessions import reminder_messages
from sessions.invite_messages import session_span
from sessions.models import SessionStatus
from sessions.scheduling import MAX_REASON_LENGTH, cancel_series, cancel_session, reschedule_session, schedule_series

NUMBER = "+31612345678"


def parts(message) -> tuple[str, str]:
    found = {p.get_content_type(): p.get_content() for p in message.walk()
             if p.get_content_type() in ("text/plain", "text/html")}
    return found["text/plain"], found["text/html"]


def mails() -> list:
    outbox = mail.get_mail_transport().outbox
    sent = list(outbox)
    outbox.clear()
    return sent


def texts() -> list[str]:
    outbox = sms.get_sms_transport().outbox
    sent = [m.text for m in outbox]
    outbox.clear()
    return sent


@pytest.fixture
def parents(db, course, create_parent):
    """One parent by e-mail (Turkish) and one by SMS (Dutch)."""
    by_mail = create_parent("Elif", course=course, language="tr", email="elif@example.org")
    by_sms = courses.add_parent(name="Fatma", language="nl", phone=NUMBER, contact_email=False, contact_sms=True)
    courses.enrol(course, by_sms)
    db.session.commit()
    return by_mail, by_sms


def test_an_invite_says_start_and_end_in_mail_and_sms(db, parents, create_workshop_session):
    session = create_workshop_session(duration_minutes=90)

    (message,), (text,) = mails(), texts()

    text_part, html_part = parts(message)
    assert session_span(session, "tr") in text_part and session_span(session, "tr") in html_part
    assert session.local_end.strftime("%H:%M") in session_span(session, "tr")
    assert session_span(session, "nl", short=True) in text


def test_a_change_says_the_earlier_and_the_new_date_and_time(app, db, parents, create_workshop_session):
    session = create_workshop_session()
    old_long, old_short = session_span(session, "tr"), session_span(session, "nl", short=True)
    mails(), texts()

    reschedule_session(session, starts_local=session.local_start + timedelta(days=2, hours=1))
    db.session.commit()

    (message,), (text,) = mails(), texts()
    text_part, html_part = parts(message)
    with app.test_request_context(), force_locale("tr"):
        was, now = _("Was: %(when)s", when=old_long), _("Nu: %(when)s", when=session_span(session, "tr"))
    assert was != f"Was: {old_long}"  # in Turkish
    assert was in text_part and now in text_part and was in html_part and now in html_part
    assert f"Was: {old_short}\nNu: {session_span(session, 'nl', short=True)}" in text


def test_a_series_invite_lists_every_date(app, db, course, parents, create_workshop_session):
    first = create_workshop_session().local_start + timedelta(days=1)
    mails(), texts()

    series = schedule_series(course, title="Voorlezen", first_local=first, timezone="Europe/Amsterdam", count=4)
    db.session.commit()

    (message,), (text,) = mails(), texts()
    text_part, html_part = parts(message)
    dates = sorted(series.sessions, key=lambda s: s.starts_at)
    assert [session_span(s, "tr") in text_part and session_span(s, "tr") in html_part for s in dates] == [True] * 4
    days = [s.local_start.strftime("%-d") for s in dates]
    with app.test_request_context():
        assert text.startswith("Ouderkamer: uitnodiging voor Voorlezen, ")
    assert all(f" {day} " in text for day in days) and text.count(", ") >= 4


def test_one_date_of_a_series_moved_says_its_earlier_and_new_time(db, course, parents, create_workshop_session):
    first = create_workshop_session().local_start + timedelta(days=1)
    series = schedule_series(course, title="Voorlezen", first_local=first, timezone="Europe/Amsterdam", count=3)
    db.session.commit()
    second = sorted(series.sessions, key=lambda s: s.starts_at)[1]
    old = session_span(second, "nl", short=True)
    mails(), texts()

    reschedule_session(second, starts_local=second.local_start + timedelta(hours=2))
    db.session.commit()

    (message,), (text,) = mails(), texts()
    assert f"Was: {old}\nNu: {session_span(second, 'nl', short=True)}" in text
    assert session_span(second, "tr") in parts(message)[0]


def test_a_cancellation_carries_the_reason_in_mail_and_sms(app, db, parents, create_workshop_session):
    session = create_workshop_session()
    mails(), texts()

    cancel_session(session, reason="  De trainer is ziek.\r\nWe plannen een nieuwe datum.  ")
    db.session.commit()

    (message,), (text,) = mails(), texts()
    text_part, html_part = parts(message)
    reason = "De trainer is ziek. We plannen een nieuwe datum."
    with app.test_request_context(), force_locale("tr"):
        line = _("Reden: %(reason)s", reason=reason)
    assert session.cancellation_reason == "De trainer is ziek.\r\nWe plannen een nieuwe datum."
    assert line in text_part and line.replace(reason, f"<bdi>{reason}</bdi>") in html_part  # trainer text isolated
    assert text.endswith(f"\nReden: {reason}")


def test_a_cancelled_series_lists_its_dates_with_the_reason(db, course, parents, create_workshop_session):
    first = create_workshop_session().local_start + timedelta(days=1)
    series = schedule_series(course, title="Voorlezen", first_local=first, timezone="Europe/Amsterdam", count=3)
    db.session.commit()
    mails(), texts()

    cancelled = cancel_series(series, reason="De cursus stopt")
    db.session.commit()

    (message,), (text,) = mails(), texts()
    assert [s.status for s in cancelled] == [SessionStatus.cancelled] * 3
    assert all(session_span(s, "tr") in parts(message)[0] for s in cancelled)
    assert text.endswith("Reden: De cursus stopt")


@pytest.mark.parametrize("reason", ["ziek\x00", "x" * (MAX_REASON_LENGTH + 1)])
def test_a_reason_with_control_characters_or_too_long_is_refused(db, parents, create_workshop_session, reason):
    session = create_workshop_session()

    with pytest.raises(DomainError) as caught:
        cancel_session(session, reason=reason)

    assert (caught.value.field, session.status) == ("reason", SessionStatus.scheduled)


def test_a_reminder_says_the_end_time_in_mail_and_sms(app, db, parents, create_workshop_session):
    session = create_workshop_session(duration_minutes=45)
    by_mail, by_sms = parents

    with app.test_request_context():
        message = reminder_messages.reminder_mail(session, by_mail, session.starts_at - timedelta(hours=1))
        text = reminder_messages.reminder_text(session, by_sms)

    assert session_span(session, "tr") in parts(message)[0]
    assert session_span(session, "nl", short=True) in text
