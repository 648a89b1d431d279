"""An Arabic-speaking parent gets the invite and the reminder in Arabic, read from the real SMTP server."""

from datetime import timedelta

from flask_babel import force_locale
from flask_babel import gettext as _

from core.db import utcnow
from sessions import reminders
from sessions.calendar import local_when
from sessions.outbox import connect_scheduling_signals, disconnect_scheduling_signals, scheduling_signals_connected
from tests.sessions.test_invites import smtp_config


def _parts(message) -> dict[str, str]:
    return {p.get_content_type(): p.get_content() for p in message.walk()
            if p.get_content_type() in ("text/plain", "text/html")}


def test_arabic_parent_receives_arabic_invite_and_reminder_over_smtp(app, db, course, create_parent,
                                                                      create_workshop_session, smtp_server):
    parent = create_parent("أمينة", course=course, language="ar", email="amina@example.net")
    connected = scheduling_signals_connected()
    connect_scheduling_signals()
    try:
        with smtp_config(app, smtp_server.port):
            session = create_workshop_session(starts_at=utcnow().replace(microsecond=0) + timedelta(hours=23))
            reminders.queue_due_reminders.call_local()
    finally:
        if not connected:
            disconnect_scheduling_signals()

    invite, reminder = (m.message for m in smtp_server.messages)
    with app.test_request_context(), force_locale("ar"):
        greeting = _("Hallo %(name)s,", name=parent.name)
        reminder_line = _("Kom je? Tik op je antwoord:")
    when = local_when(session, "ar")
    assert [m.rcpt_tos for m in smtp_server.messages] == [["amina@example.net"], ["amina@example.net"]]
    assert greeting != "Hallo أمينة,"  # the Arabic catalogue is used, not the Dutch source
    for message in (invite, reminder):
        parts = _parts(message)
        assert message["Content-Language"] == "ar"
        assert greeting in parts["text/plain"]
        assert when in parts["text/plain"]
        assert 'lang="ar" dir="rtl"' in parts["text/html"]
    assert reminder_line in _parts(reminder)["text/plain"]
