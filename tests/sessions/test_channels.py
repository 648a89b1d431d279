"""Invites, changes and cancellations on every channel a parent has: SMS and WhatsApp through a Twilio-compatible
server on loopback, and a parent with no channel listed as "can't be reached", never skipped."""

import json
from datetime import timedelta

from core import mail, sms
from courses import services as courses
from sessions import deliveries
from sessions.calendar_models import DeliveryStatus, FailureReason, InviteDelivery
from sessions.invite_messages import session_span
from sessions.invite_tasks import send_invite
from sessions.scheduling import cancel_session, reschedule_session
from tests.core.test_sms_twilio import BAD_NUMBER, twilio, twilio_config  # noqa: F401 - fixture

NUMBER = "+31612345678"
TEMPLATES = {"invite": {"ar": "HX" + "1" * 32}, "change": {"ar": "HX" + "2" * 32}, "cancel": {"ar": "HX" + "3" * 32}}


def phone_parent(db, course, name: str, language: str, **channels):
    parent = courses.add_parent(name=name, language=language, phone=NUMBER, contact_email=False, **channels)
    courses.enrol(course, parent)
    db.session.commit()
    return parent


def rows(db) -> list[tuple[str, str, DeliveryStatus, FailureReason | None]]:
    db.session.expire_all()
    query = db.select(InviteDelivery).order_by(InviteDelivery.id)
    return [(r.method, r.channel, r.status, r.failure) for r in db.session.scalars(query)]


def invite_change_cancel(db, create_workshop_session):
    """Schedule a session, move it a day on, cancel it with a reason; returns it and its first span."""
    session = create_workshop_session(title="Voorlezen")
    first = (session.starts_at, session.ends_at)
    reschedule_session(session, starts_local=session.local_start + timedelta(days=1))
    db.session.commit()
    cancel_session(session, reason="De trainer is ziek")
    db.session.commit()
    return session, first


def test_an_sms_only_parent_gets_invite_change_and_cancel_as_sms(app, db, course, create_workshop_session,
                                                                  twilio):  # noqa: F811
    phone_parent(db, course, "Fatma", "nl", contact_sms=True)

    with twilio_config(app, twilio):
        session, (old_start, _old_end) = invite_change_cancel(db, create_workshop_session)

    forms = [form for *_, form in twilio.requests]
    assert [(f["To"], f["From"]) for f in forms] == [(NUMBER, "Ouderkamer")] * 3
    invite, change, cancel = (f["Body"] for f in forms)
    new = session_span(session, "nl", short=True)
    session.starts_at = old_start
    old = session_span(session, "nl", short=True)
    assert invite.startswith(f"Ouderkamer: uitnodiging voor Voorlezen, {old}.\nDoe mee: http://ouderkamer.test/c/")
    assert change.startswith(f"Ouderkamer: Voorlezen is gewijzigd.\nWas: {old}\nNu: {new}\nDoe mee: http")
    assert cancel == f"Ouderkamer: Voorlezen gaat niet door: {new}.\nReden: De trainer is ziek"
    assert rows(db) == [("REQUEST", "sms", DeliveryStatus.sent, None)] * 2 + [("CANCEL", "sms", DeliveryStatus.sent,
                                                                               None)]
    assert mail.get_mail_transport().outbox == []


def test_a_whatsapp_only_parent_gets_invite_change_and_cancel_as_approved_templates(
        app, db, course, create_workshop_session, twilio):  # noqa: F811
    phone_parent(db, course, "أمينة", "ar", contact_whatsapp=True)

    with twilio_config(app, twilio, WHATSAPP_TEMPLATES=json.dumps(TEMPLATES)):
        session, (old_start, _old_end) = invite_change_cancel(db, create_workshop_session)

    forms = [form for *_, form in twilio.requests]
    assert [(f["To"], f["From"], f["ContentSid"]) for f in forms] == [
        (f"whatsapp:{NUMBER}", "whatsapp:+3197010000000", TEMPLATES[kind]["ar"]) for kind in TEMPLATES]
    invite, change, cancel = (json.loads(f["ContentVariables"]) for f in forms)
    new = session_span(session, "ar", short=True)
    session.starts_at = old_start
    old = session_span(session, "ar", short=True)
    assert invite["3"] == old and invite["4"].startswith("http://ouderkamer.test/c/")
    # Latin trainer text inside Arabic: between Unicode isolates (U+2068 ... U+2069).
    assert (change["1"], change["2"], change["3"], change["4"]) == ("أمينة", "\u2068Voorlezen\u2069", old, new)
    assert cancel == {"1": "أمينة", "2": "\u2068Voorlezen\u2069", "3": new, "4": "\u2068De trainer is ziek\u2069"}
    assert [(m, c, s) for m, c, s, _f in rows(db)] == [("REQUEST", "whatsapp", DeliveryStatus.sent)] * 2 + [
        ("CANCEL", "whatsapp", DeliveryStatus.sent)]


def test_whatsapp_without_a_template_goes_as_sms_when_it_is_the_only_channel(app, db, course,
                                                                             create_workshop_session,
                                                                             twilio):  # noqa: F811
    phone_parent(db, course, "Elif", "tr", contact_whatsapp=True)

    with twilio_config(app, twilio):
        session = create_workshop_session(title="Voorlezen")

    (form,) = [form for *_, form in twilio.requests]
    assert (form["To"], "ContentSid" in form) == (NUMBER, False)
    assert form["Body"].startswith(f"Ouderkamer: Voorlezen davetiyesi, {session_span(session, 'tr', short=True)}.")


def test_a_parent_with_no_channel_is_listed_as_unreachable_for_invite_and_cancel(client, auth, trainer, db, course,
                                                                                 create_workshop_session):
    parent = phone_parent(db, course, "Amina", "ar")  # a number, but neither SMS nor WhatsApp ticked
    session = create_workshop_session()
    cancel_session(session)
    db.session.commit()

    assert parent.channels == []
    assert rows(db) == [("REQUEST", "none", DeliveryStatus.failed, FailureReason.no_channel),
                        ("CANCEL", "none", DeliveryStatus.failed, FailureReason.no_channel)]
    failures = deliveries.failed_deliveries(session)
    assert [(f.parent.name, f.channel, f.detail, f.can_resend) for f in failures] == [("Amina", "none", "CANCEL",
                                                                                        False)]
    auth.login(trainer.email)
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert 'data-reason="no_channel"' in page and "Geen mislukte berichten." not in page
    assert "Niet te bereiken: geen e-mailadres en geen sms of WhatsApp." in page

    parent.email, parent.contact_email = "amina@example.net", True  # the trainer adds an address, sends again
    db.session.commit()
    client.post(f"/sessions/{session.id}/deliveries/invite/{failures[0].id}/resend")

    (message,) = mail.get_mail_transport().outbox
    assert (message["To"], message["Subject"].split(":")[0]) == ("amina@example.net", "أُلغي")
    assert "Geen mislukte berichten." in client.get(f"/sessions/{session.id}").get_data(as_text=True)


def test_a_refused_sms_invite_is_listed_on_its_channel_and_sent_again(app, db, client, auth, trainer, course,
                                                                      create_workshop_session,
                                                                      twilio):  # noqa: F811
    phone_parent(db, course, "Fatma", "nl", contact_sms=True)
    twilio.replies.append(BAD_NUMBER)
    with twilio_config(app, twilio):
        session = create_workshop_session()
        (failure,) = deliveries.failed_deliveries(session)
        auth.login(trainer.email)
        client.post(f"/sessions/{session.id}/deliveries/invite/{failure.id}/resend")

    assert (failure.channel, failure.reason, failure.can_resend) == ("sms", FailureReason.refused, True)
    assert rows(db) == [("REQUEST", "sms", DeliveryStatus.sent, None)]
    assert len(twilio.requests) == 2 and twilio.requests[0][2]["Body"] == twilio.requests[1][2]["Body"]


def test_a_parent_on_sms_and_whatsapp_without_a_template_gets_one_sms(app, db, course, create_workshop_session,
                                                                      twilio):  # noqa: F811
    phone_parent(db, course, "Fatma", "nl", contact_sms=True, contact_whatsapp=True)

    with twilio_config(app, twilio):
        create_workshop_session()

    assert [form["To"] for *_, form in twilio.requests] == [NUMBER]
    assert sorted((c, s, f) for _m, c, s, f in rows(db)) == [
        ("sms", DeliveryStatus.sent, None), ("whatsapp", DeliveryStatus.failed, FailureReason.cancelled)]


def test_a_parent_who_got_a_channel_after_the_change_was_queued_gets_it_there(db, course, create_workshop_session):
    parent = phone_parent(db, course, "Amina", "nl")
    session = create_workshop_session()
    parent.contact_sms = True
    db.session.commit()

    send_invite.call_local(session.id, parent.id, session.sequence, "none")

    assert rows(db) == [("REQUEST", "none", DeliveryStatus.failed, FailureReason.cancelled),
                        ("REQUEST", "sms", DeliveryStatus.sent, None)]
    assert [m.to_e164 for m in sms.get_sms_transport().outbox] == [NUMBER]
    assert deliveries.failed_deliveries(session) == []
