"""Reminders over Twilio (loopback stub): a 429 is retried and sent once, a 400 fails for good; failures after the
last try show on the trainer's session page in plain words, and "send again" sends exactly once."""

import json
import re
from datetime import timedelta

import pytest

from core import mail
from core.db import utcnow
from courses import services as courses
from sessions import deliveries, reminders
from sessions.calendar_models import DeliveryStatus, FailureReason, InviteDelivery, ReminderDelivery
from sessions.deliveries import MAX_ATTEMPTS
from sessions.invite_tasks import send_invite
from sessions.models import SessionStatus
from sessions.rsvp import rsvp_urls
from tests.core.test_sms_twilio import BAD_NUMBER, TOO_MANY, twilio, twilio_config  # noqa: F401 - fixture
from tests.fixtures.smtp import free_port
from tests.sessions.test_invites import smtp_config

NUMBER = "+31612345678"


@pytest.fixture
def sms_parent(db, course):
    parent = courses.add_parent(name="Fatma", language="nl", phone=NUMBER, contact_email=False, contact_sms=True)
    courses.enrol(course, parent)
    db.session.commit()
    return parent


@pytest.fixture
def soon(create_workshop_session):
    return create_workshop_session(title="Voorlezen", starts_at=utcnow() + timedelta(minutes=40))


def reminder_row(db) -> ReminderDelivery:
    db.session.expire_all()
    return db.session.scalars(db.select(ReminderDelivery)).one()


def bodies(stub) -> list[str]:
    return [form["Body"] for *_, form in stub.requests]


def test_429_then_success_sends_the_reminder_once(app, db, sms_parent, soon, twilio):  # noqa: F811
    twilio.replies.append(TOO_MANY)

    with twilio_config(app, twilio):
        reminders.queue_due_reminders.call_local()  # the send runs after commit and meets the 429
        first = reminder_row(db)
        first_state = (first.status, first.attempts, first.error)
        reminders.send_reminder.call_local(first.id)  # Huey's retry
        reminders.send_reminder.call_local(first.id)  # a duplicate retry finds it sent

    row = reminder_row(db)
    assert first_state == (DeliveryStatus.pending, 1, "Twilio replied 429 error 20429: Too Many Requests")
    assert (row.status, row.attempts, row.error, row.failure) == (DeliveryStatus.sent, 2, None, None)
    assert len(twilio.requests) == 2 and bodies(twilio)[0] == bodies(twilio)[1]
    assert [form["To"] for *_, form in twilio.requests] == [NUMBER, NUMBER]


def test_400_fails_at_once_and_shows_on_the_session_page(app, db, client, auth, trainer, sms_parent, soon,
                                                        twilio):  # noqa: F811
    twilio.replies.append(BAD_NUMBER)
    with twilio_config(app, twilio):
        reminders.queue_due_reminders.call_local()
    auth.login(trainer.email)

    html = client.get(f"/sessions/{soon.id}").get_data(as_text=True)

    row = reminder_row(db)
    assert (row.status, row.failure, row.attempts) == (DeliveryStatus.failed, FailureReason.refused, 1)
    failures = html.split('id="failures"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<tr data-kind="(\w+)" data-reason="(\w+)">\s*<td>([^<]+)</td>', failures) == [
        ("reminder", "refused", "Fatma")]
    assert "Herinnering, 1 uur vooraf" in failures and "<td>sms</td>" in failures
    assert "Het adres of nummer werd geweigerd. Controleer het samen met de ouder." in failures
    assert f"Twilio replied 400 error 21211: Invalid &#39;To&#39; Phone Number: {NUMBER}" in failures
    assert f'action="/sessions/{soon.id}/deliveries/reminder/{row.id}/resend"' in failures


def test_send_again_sends_exactly_once_even_when_clicked_twice(app, db, client, auth, trainer, sms_parent, soon,
                                                               twilio):  # noqa: F811
    twilio.replies.append(BAD_NUMBER)
    with twilio_config(app, twilio):
        reminders.queue_due_reminders.call_local()
        row_id = reminder_row(db).id
        auth.login(trainer.email)
        url = f"/sessions/{soon.id}/deliveries/reminder/{row_id}/resend"

        first = client.post(url)
        second = client.post(url)
        page = client.get(f"/sessions/{soon.id}").get_data(as_text=True)

    row = reminder_row(db)
    assert (first.status_code, second.status_code) == (302, 302)
    assert (row.status, row.attempts, row.failure) == (DeliveryStatus.sent, 1, None)
    assert len(twilio.requests) == 2  # the refused one, and the one sent again
    assert "Geen mislukte berichten." in page
    assert "Dit bericht kan niet opnieuw verstuurd worden" in page  # the second click


def test_a_reminder_of_a_session_that_has_begun_cannot_be_sent_again(db, sms_parent, soon):
    soon.starts_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    row_id = reminders.claim_due_reminders(soon.starts_at - timedelta(minutes=30))[0].id
    db.session.commit()  # the send finds the session begun

    row = reminder_row(db)
    failures = deliveries.failed_deliveries(soon)
    assert (row.id, row.status, row.failure) == (row_id, DeliveryStatus.failed, FailureReason.too_late)
    assert [(f.reason, f.can_resend) for f in failures] == [(FailureReason.too_late, False)]
    assert deliveries.resend_delivery(soon, deliveries.REMINDER, row_id) is False


def test_an_invite_that_failed_on_every_try_is_shown_and_sent_again_once(app, db, client, auth, trainer, course,
                                                                         create_parent, create_workshop_session,
                                                                         smtp_server):
    session = create_workshop_session()
    parent = create_parent("Sanne", course=course, email="sanne@example.org")  # enrolled after: no invite yet
    with smtp_config(app, free_port()):
        for _attempt in range(MAX_ATTEMPTS - 1):
            with pytest.raises(mail.MailError):
                send_invite.call_local(session.id, parent.id, 0)
        send_invite.call_local(session.id, parent.id, 0)
    auth.login(trainer.email)
    html = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    row = db.session.scalars(db.select(InviteDelivery)).one()

    with smtp_config(app, smtp_server.port):
        client.post(f"/sessions/{session.id}/deliveries/invite/{row.id}/resend")
        client.post(f"/sessions/{session.id}/deliveries/invite/{row.id}/resend")

    db.session.expire_all()
    assert (row.status, row.attempts) == (DeliveryStatus.sent, 1)
    assert '<tr data-kind="invite" data-reason="unreachable">' in html
    assert f"De verzenddienst was niet bereikbaar, ook niet na {MAX_ATTEMPTS} pogingen." in html
    assert [m.rcpt_tos for m in smtp_server.messages] == [["sanne@example.org"]]


def test_a_cancelled_reminder_is_not_a_failure_for_the_trainer(db, sms_parent, soon):
    reminders.claim_due_reminders()
    soon.status = SessionStatus.cancelled
    db.session.commit()

    assert (reminder_row(db).failure, deliveries.failed_deliveries(soon)) == (FailureReason.cancelled, [])


def test_whatsapp_reminder_reaches_twilio_as_the_approved_template(app, db, course, soon, twilio):  # noqa: F811
    parent = courses.add_parent(name="Amina", language="ar", phone=NUMBER, contact_email=False,
                                contact_whatsapp=True)
    courses.enrol(course, parent)
    db.session.commit()

    with twilio_config(app, twilio, WHATSAPP_TEMPLATES='{"reminder": {"ar": "HX' + "a" * 32 + '"}}'):
        reminders.queue_due_reminders.call_local()

    (_path, _type, form), = twilio.requests
    variables = json.loads(form["ContentVariables"])
    links = rsvp_urls(parent, soon)
    assert (form["To"], form["From"], form["ContentSid"]) == (
        f"whatsapp:{NUMBER}", "whatsapp:+3197010000000", "HX" + "a" * 32)
    assert (variables["1"], variables["2"], variables["5"], variables["6"]) == (
        "Amina", "\u2068Voorlezen\u2069", links["yes"], links["no"])  # isolated inside the Arabic template
    assert reminder_row(db).status is DeliveryStatus.sent
