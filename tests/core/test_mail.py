"""core.mail: the RFC 6047 invite tree, real SMTP delivery to aiosmtpd, error classification, transports."""

import logging
import socket
import ssl

import icalendar
import pytest
from flask import Flask

from core.mail import (
    LogTransport,
    MailError,
    MemoryTransport,
    SMTPTransport,
    build_message,
    format_sender,
    get_mail_transport,
    send_message,
)

ORGANISER = "ouderkamer@school.test"
PARENT = "ouder@example.net"
SUBJECT = "دعوة: ورشة الوالدين – Veli atölyesi şimdi"
TEXT = "مرحبا!\nDoe mee: https://ouderkamer.test/j/abc\nGörüşmek üzere.\n"
HTML = "<p>مرحبا! <a href='https://ouderkamer.test/j/abc'>Katıl</a></p>\n"
CALENDAR = (
    b"BEGIN:VCALENDAR\r\n"
    b"VERSION:2.0\r\n"
    b"PRODID:-//Ouderkamer//test//NL\r\n"
    b"METHOD:REQUEST\r\n"
    b"BEGIN:VEVENT\r\n"
    b"UID:ouderkamer-session-7@school.test\r\n"
    b"SEQUENCE:0\r\n"
    b"DTSTAMP:20260301T120000Z\r\n"
    b"DTSTART:20260310T090000Z\r\n"
    b"DTEND:20260310T100000Z\r\n"
    + "SUMMARY:ورشة الوالدين\r\n".encode()
    + b"ORGANIZER;CN=Ouderkamer:mailto:ouderkamer@school.test\r\n"
    b"ATTENDEE;CN=Ouder;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:ouder@example.net\r\n"
    b"END:VEVENT\r\n"
    b"END:VCALENDAR\r\n"
)
PDF = b"%PDF-1.4\n% not really a pdf\n"


def build_invite(**overrides):
    """The invite the tests send: Arabic/Turkish text, html, the calendar and one extra attachment."""
    values = {
        "sender": format_sender(ORGANISER, "Ouderkamer – الروضة"),
        "to": PARENT,
        "subject": SUBJECT,
        "text": TEXT,
        "html": HTML,
        "calendar": CALENDAR,
        "attachments": [("programma.pdf", PDF, "application/pdf")],
        "language": "ar",
    }
    return build_message(**(values | overrides))


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def leaf_types(message):
    return [part.get_content_type() for part in message.walk()]


def test_smtp_transport_invite_arrives_with_rfc6047_tree(smtp_server):
    transport = SMTPTransport(smtp_server.host, smtp_server.port)

    transport.send(build_invite())

    [(envelope_from, rcpt_tos, received)] = smtp_server.messages
    assert (envelope_from, rcpt_tos) == (ORGANISER, [PARENT])
    assert leaf_types(received) == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
        "application/ics",
        "application/pdf",
    ]
    alternative, invite_file, pdf = received.get_payload()
    plain, html, calendar = alternative.get_payload()
    assert (plain.get_content(), html.get_content()) == (TEXT, HTML)
    assert dict(calendar.raw_items())["Content-Type"] == "text/calendar; method=REQUEST; charset=UTF-8"
    assert calendar.get_param("method") == icalendar.Calendar.from_ical(CALENDAR)["METHOD"]
    assert calendar.get_content_disposition() is None
    assert calendar.get_payload(decode=True) == CALENDAR
    assert (invite_file.get_content_disposition(), invite_file.get_filename()) == ("attachment", "invite.ics")
    assert invite_file.get_param("name") == "invite.ics"
    assert invite_file.get_payload(decode=True) == calendar.get_payload(decode=True)
    assert (pdf.get_filename(), pdf.get_content()) == ("programma.pdf", PDF)


def test_smtp_transport_utf8_headers_round_trip(smtp_server):
    transport = SMTPTransport(smtp_server.host, smtp_server.port)

    transport.send(
        build_invite(reply_to="coordinator@school.test", headers={"Auto-Submitted": "auto-generated"})
    )

    [(_, _, received)] = smtp_server.messages
    assert received["Subject"] == SUBJECT
    assert received["From"].addresses[0].display_name == "Ouderkamer – الروضة"
    assert received["From"].addresses[0].addr_spec == ORGANISER
    assert received["Reply-To"] == "coordinator@school.test"
    assert received["Auto-Submitted"] == "auto-generated"
    assert received["Content-Language"] == "ar"
    assert received["Message-ID"].endswith("@school.test>")
    assert received["Date"].datetime.tzinfo is not None


def test_smtp_transport_body_is_7bit_safe(smtp_server):
    transport = SMTPTransport(smtp_server.host, smtp_server.port)

    transport.send(build_invite())

    assert smtp_server.raw_messages[0].isascii()


def test_build_message_plain_text_only_is_single_part():
    message = build_message(
        sender=ORGANISER, to=[PARENT, "tweede@example.net"], subject="Hoi", text="Tekst\n"
    )

    assert leaf_types(message) == ["text/plain"]
    assert message["To"] == f"{PARENT}, tweede@example.net"
    assert message.get_content() == "Tekst\n"
    assert message["Content-Language"] is None


def test_build_message_method_defaults_to_calendar_method():
    cancel = CALENDAR.replace(b"METHOD:REQUEST", b"METHOD:CANCEL")

    message = build_message(
        sender=ORGANISER, to=PARENT, subject="Afgelast", text="Afgelast\n", calendar=cancel
    )

    calendar = message.get_payload()[0].get_payload()[1]
    assert dict(calendar.raw_items())["Content-Type"] == "text/calendar; method=CANCEL; charset=UTF-8"


def test_build_message_method_mismatch_raises():
    with pytest.raises(MailError) as caught:
        build_message(
            sender=ORGANISER, to=PARENT, subject="x", text="x", calendar=CALENDAR, calendar_method="CANCEL"
        )

    assert str(caught.value) == "calendar_method CANCEL differs from METHOD:REQUEST in the calendar"
    assert caught.value.transient is False


def test_build_message_calendar_without_method_raises():
    without_method = CALENDAR.replace(b"METHOD:REQUEST\r\n", b"")

    with pytest.raises(MailError) as caught:
        build_message(sender=ORGANISER, to=PARENT, subject="x", text="x", calendar=without_method)

    assert str(caught.value) == "calendar has no METHOD and none was given"


def test_smtp_transport_connection_refused_is_transient():
    transport = SMTPTransport("127.0.0.1", closed_port(), timeout=2)

    with pytest.raises(MailError) as caught:
        transport.send(build_invite())

    assert (caught.value.transient, caught.value.smtp_code) == (True, None)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


@pytest.mark.parametrize(
    ("reply", "transient", "code"),
    [("550 5.1.1 No such user", False, 550), ("451 4.3.0 Try again later", True, 451)],
)
def test_smtp_transport_refused_recipient_sets_transient_from_reply_code(smtp_server, reply, transient, code):
    smtp_server.reject[PARENT] = reply
    transport = SMTPTransport(smtp_server.host, smtp_server.port)

    with pytest.raises(MailError) as caught:
        transport.send(build_invite())

    assert (caught.value.transient, caught.value.smtp_code) == (transient, code)
    assert str(caught.value) == f"all recipients refused: {PARENT}: {reply}"
    assert smtp_server.messages == []


def test_smtp_transport_partly_refused_is_permanent(smtp_server):
    smtp_server.reject["weg@example.net"] = "550 5.1.1 No such user"
    transport = SMTPTransport(smtp_server.host, smtp_server.port)

    with pytest.raises(MailError) as caught:
        transport.send(build_invite(to=[PARENT, "weg@example.net"]))

    assert caught.value.transient is False
    assert str(caught.value) == "recipients refused: weg@example.net: 550 5.1.1 No such user"
    assert [rcpt_tos for _, rcpt_tos, _ in smtp_server.messages] == [[PARENT]]


@pytest.mark.parametrize("tls_smtp_server", ["starttls", "ssl"], indirect=True)
def test_smtp_transport_tls_with_login_delivers(tls_smtp_server):
    transport = SMTPTransport(
        tls_smtp_server.host,
        tls_smtp_server.port,
        username=tls_smtp_server.username,
        password=tls_smtp_server.password,
        security=tls_smtp_server.security,
        ssl_context=tls_smtp_server.client_context,
    )

    transport.send(build_invite())

    assert [envelope_from for envelope_from, _, _ in tls_smtp_server.messages] == [ORGANISER]
    assert tls_smtp_server.handler.logins == [tls_smtp_server.username]


def test_smtp_transport_wrong_password_is_permanent(tls_smtp_server):
    transport = SMTPTransport(
        tls_smtp_server.host,
        tls_smtp_server.port,
        username=tls_smtp_server.username,
        password="wrong",
        security="starttls",
        ssl_context=tls_smtp_server.client_context,
    )

    with pytest.raises(MailError) as caught:
        transport.send(build_invite())

    assert (caught.value.transient, caught.value.smtp_code) == (False, 535)
    assert str(caught.value) == "SMTP 535: 5.7.8 Authentication credentials invalid"
    assert tls_smtp_server.messages == []


def test_smtp_transport_starttls_unsupported_is_permanent(smtp_server):
    transport = SMTPTransport(smtp_server.host, smtp_server.port, security="starttls")

    with pytest.raises(MailError) as caught:
        transport.send(build_invite())

    assert caught.value.transient is False
    assert str(caught.value) == "SMTP failed: STARTTLS extension not supported by server."


def test_smtp_transport_untrusted_certificate_is_permanent(tls_smtp_server):
    transport = SMTPTransport(tls_smtp_server.host, tls_smtp_server.port, security="starttls")

    with pytest.raises(MailError) as caught:
        transport.send(build_invite())

    assert caught.value.transient is False
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
    assert tls_smtp_server.messages == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"security": "tls"}, "SMTP security 'tls' is not one of ('none', 'starttls', 'ssl')"),
        ({"username": "mailer"}, "SMTP username and password must be given together"),
    ],
)
def test_smtp_transport_invalid_settings_raise(options, message):
    with pytest.raises(MailError) as caught:
        SMTPTransport("smtp.test", **options)

    assert str(caught.value) == message


def test_smtp_transport_default_port_follows_security():
    ports = [SMTPTransport("smtp.test", security=security).port for security in ("none", "starttls", "ssl")]

    assert ports == [25, 587, 465]


def test_log_transport_logs_summary_and_text(caplog):
    caplog.set_level(logging.INFO, logger="ouderkamer.mail")
    message = build_invite()

    LogTransport().send(message)

    [record] = caplog.records
    assert record.name == "ouderkamer.mail"
    assert record.getMessage() == (
        "mail (not sent: no SMTP_HOST)\n"
        f"From: {message['From']}\n"
        f"To: {PARENT}\n"
        f"Subject: {SUBJECT}\n"
        "Parts: text/plain, text/html, text/calendar, application/ics, application/pdf\n\n" + TEXT
    )


def make_app(**config):
    app = Flask(__name__)
    app.config.update(config)
    return app


@pytest.mark.parametrize(
    ("config", "kind"),
    [
        ({}, LogTransport),
        ({"SMTP_HOST": "smtp.test"}, SMTPTransport),
        ({"MAIL_TRANSPORT": "memory"}, MemoryTransport),
    ],
)
def test_get_mail_transport_follows_config(config, kind):
    with make_app(**config).app_context():
        transport = get_mail_transport()

        assert type(transport) is kind
        assert get_mail_transport() is transport


def test_get_mail_transport_smtp_settings_from_config():
    config = {
        "SMTP_HOST": "smtp.test",
        "SMTP_PORT": 2525,
        "SMTP_USERNAME": "mailer",
        "SMTP_PASSWORD": "pw",
        "SMTP_SECURITY": "starttls",
    }

    with make_app(**config).app_context():
        transport = get_mail_transport()

    settings = (transport.host, transport.port, transport.username, transport.password, transport.security)
    assert settings == ("smtp.test", 2525, "mailer", "pw", "starttls")


def test_send_message_memory_transport_records_message():
    message = build_invite()

    with make_app(MAIL_TRANSPORT="memory").app_context():
        send_message(message)
        outbox = get_mail_transport().outbox

    assert outbox == [message]
