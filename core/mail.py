"""Build e-mail messages (text, html, an iMIP calendar part, attachments) and send them via log, memory or SMTP."""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import NamedTuple

from flask import current_app

from core.text import FSI, PDI, replace_control_chars

logger = logging.getLogger("ouderkamer.mail")

#: 7bit makes the stdlib pick quoted-printable or base64 for non-ASCII text, so relays without 8BITMIME and
#: line-rewrapping relays cannot damage Arabic/Turkish bodies or the calendar bytes.
MAIL_POLICY = policy.default.clone(cte_type="7bit")

SECURITY_MODES = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
INVITE_FILENAME = "invite.ics"
_METHOD_LINE = re.compile(rb"^METHOD:([A-Za-z-]+)\r?$", re.MULTILINE)


class MailError(Exception):
    """Building or sending a message failed; `transient` says whether retrying the same message may succeed."""

    def __init__(self, message: str, *, transient: bool, smtp_code: int | None = None):
        super().__init__(message)
        self.transient = transient
        self.smtp_code = smtp_code


class Attachment(NamedTuple):
    """A file to attach: its name, its bytes and its MIME type."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


def format_sender(address: str, name: str | None = None) -> str:
    """Return a From value `Name <address>` (or the bare address without a name)."""
    return str(Address(display_name=name or "", addr_spec=address))


def build_message(
    *,
    sender: str,
    to: str | Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    calendar: bytes | None = None,
    calendar_method: str | None = None,
    attachments: Iterable[Attachment | tuple] = (),
    reply_to: str | None = None,
    headers: Mapping[str, str] | None = None,
    language: str | None = None,
) -> EmailMessage:
    """Build a UTF-8 message; with `calendar`, the RFC 6047 tree of ical.md §9 (no side effects).

    :param calendar: .ics bytes; sent inline as `text/calendar; method=…` and again as `invite.ics`.
    :param calendar_method: defaults to the METHOD inside `calendar`; raises MailError when they differ.
    """
    msg = EmailMessage(policy=MAIL_POLICY)
    _set_headers(msg, sender=sender, to=to, subject=subject, reply_to=reply_to)
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    if calendar is not None:
        _add_calendar(msg, calendar, calendar_method)
    for attachment in attachments:
        _attach(msg, Attachment(*attachment))
    _finish(msg, language)
    return msg


def _finish(msg: EmailMessage, language: str | None) -> None:
    for part in msg.walk():
        if part is not msg:
            # The stdlib repeats MIME-Version on the parts it creates; it belongs on the top level only.
            del part["MIME-Version"]
    if language:
        # Set last: make_mixed() moves every Content-* header of the top level into the first child.
        msg["Content-Language"] = language


def _set_headers(msg: EmailMessage, *, sender, to, subject, reply_to) -> None:
    msg["From"] = sender
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    # A line break in a stored title must not stop the mail; the isolates around a title (core.text.isolate) stay.
    msg["Subject"] = FSI.join(PDI.join(replace_control_chars(piece) for piece in part.split(PDI))
                              for part in subject.split(FSI))
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=sender_address(msg).rpartition("@")[2] or None)
    if reply_to:
        msg["Reply-To"] = reply_to


def _add_calendar(msg: EmailMessage, calendar: bytes, calendar_method: str | None) -> None:
    method = _calendar_method(calendar, calendar_method)
    # Inline, no Content-Disposition: clients only show an invite bar for an inline text/calendar (ical.md §9).
    msg.add_alternative(calendar, "text", "calendar")
    part = msg.get_payload()[-1]
    del part["Content-Type"]
    # set_raw keeps the value verbatim: the default policy would write method="REQUEST", and ical.md §9 wants
    # the bare upper-case token that clients' iMIP detection looks for.
    part.set_raw("Content-Type", f"text/calendar; method={method}; charset=UTF-8")
    msg.add_attachment(
        calendar, "application", "ics", filename=INVITE_FILENAME, params={"name": INVITE_FILENAME}
    )


def _calendar_method(calendar: bytes, requested: str | None) -> str:
    found = _METHOD_LINE.search(calendar)
    inside = found.group(1).decode("ascii").upper() if found else None
    method = (requested or inside or "").upper()
    if not method:
        raise MailError("calendar has no METHOD and none was given", transient=False)
    if inside and inside != method:
        raise MailError(
            f"calendar_method {method} differs from METHOD:{inside} in the calendar",
            transient=False,
        )
    return method


def _attach(msg: EmailMessage, attachment: Attachment) -> None:
    maintype, _, subtype = attachment.content_type.partition("/")
    msg.add_attachment(attachment.content, maintype, subtype, filename=attachment.filename)


def sender_address(msg: EmailMessage) -> str:
    """Return the bare address of the message's From header (also its envelope sender)."""
    return msg["From"].addresses[0].addr_spec


def recipient_addresses(msg: EmailMessage) -> list[str]:
    """Return the bare addresses of the message's To and Cc headers."""
    return [a.addr_spec for name in ("To", "Cc") if msg[name] for a in msg[name].addresses]


class LogTransport:
    """Writes each message's summary and text body to the `ouderkamer.mail` logger instead of sending it."""

    def send(self, msg: EmailMessage) -> None:
        """Log the message (From, To, Subject, MIME parts, text body); nothing leaves the machine."""
        parts = ", ".join(part.get_content_type() for part in msg.walk() if not part.is_multipart())
        body = msg.get_body(preferencelist=("plain",))
        logger.info(
            "mail (not sent: no SMTP_HOST)\nFrom: %s\nTo: %s\nSubject: %s\nParts: %s\n\n%s",
            msg["From"],
            msg["To"],
            msg["Subject"],
            parts,
            body.get_content() if body is not None else "",
        )


class MemoryTransport:
    """Keeps sent messages in `outbox` (for tests)."""

    def __init__(self):
        self.outbox: list[EmailMessage] = []

    def send(self, msg: EmailMessage) -> None:
        """Append the message to `outbox`."""
        self.outbox.append(msg)

    def clear(self) -> None:
        """Empty the outbox."""
        self.outbox.clear()


class SMTPTransport:
    """Sends over SMTP, one connection per message; the envelope sender is the From address."""

    def __init__(
        self,
        host: str,
        port: int | None = None,
        username: str | None = None,
        password: str | None = None,
        security: str = "none",
        timeout: float = 10,
        ssl_context: ssl.SSLContext | None = None,
    ):
        if security not in SECURITY_MODES:
            raise MailError(
                f"SMTP security {security!r} is not one of {SECURITY_MODES}",
                transient=False,
            )
        if bool(username) != bool(password):
            raise MailError("SMTP username and password must be given together", transient=False)
        self.host, self.port = host, port or DEFAULT_PORTS[security]
        self.username, self.password = username, password
        self.security, self.timeout = security, timeout
        self.ssl_context = ssl_context

    def send(self, msg: EmailMessage) -> None:
        """Deliver the message to the SMTP server (network); raises MailError with `transient` set."""
        try:
            with self._open() as smtp:
                self._secure_and_login(smtp)
                refused = smtp.send_message(msg, from_addr=sender_address(msg))
        except (smtplib.SMTPException, OSError) as exc:
            raise _mail_error(exc) from exc
        if refused:
            # Some recipients already have it, so a retry would send them a duplicate.
            raise MailError(f"recipients refused: {_describe_refused(refused)}", transient=False)

    def _open(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._context())
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def _secure_and_login(self, smtp: smtplib.SMTP) -> None:
        if self.security == "starttls":
            smtp.starttls(context=self._context())
        if self.username:
            smtp.login(self.username, self.password)

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()


def _mail_error(exc: Exception) -> MailError:
    """Classify an smtplib/socket error: 4xx replies and connection trouble are transient, 5xx permanent."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        transient = all(_code_is_transient(code) for code in codes)
        return MailError(
            f"all recipients refused: {_describe_refused(exc.recipients)}",
            transient=transient,
            smtp_code=max(codes, default=None),
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = _decode(exc.smtp_error)
        return MailError(
            f"SMTP {exc.smtp_code}: {reply}",
            transient=_code_is_transient(exc.smtp_code),
            smtp_code=exc.smtp_code,
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return MailError(f"SMTP server disconnected: {exc}", transient=True)
    if isinstance(exc, (smtplib.SMTPException, ssl.SSLCertVerificationError)):
        # Missing STARTTLS/AUTH support or an untrusted certificate: configuration, not bad luck.
        return MailError(f"SMTP failed: {exc}", transient=False)
    return MailError(f"SMTP connection failed: {exc!r}", transient=True)


def _code_is_transient(code: int) -> bool:
    return not 500 <= code < 600


def _describe_refused(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{rcpt}: {code} {_decode(reply)}" for rcpt, (code, reply) in refused.items())


def _decode(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def default_sender(name: str | None = None) -> str:
    """Return the configured `MAIL_FROM_NAME <MAIL_FROM>` sender, or `name <MAIL_FROM>` (an organisation's own
    sender name; the address stays the installation's, which SPF/DKIM cover) (reads current_app.config)."""
    config = current_app.config
    return format_sender(config.get("MAIL_FROM", "ouderkamer@localhost"), name or config.get("MAIL_FROM_NAME"))


def get_mail_transport() -> LogTransport | MemoryTransport | SMTPTransport:
    """Return the app's transport, chosen from config and cached in `current_app.extensions`."""
    transport = current_app.extensions.get("ouderkamer.mail")
    if transport is None:
        transport = current_app.extensions["ouderkamer.mail"] = _transport_from_config(current_app.config)
    return transport


def _transport_from_config(
    config: Mapping,
) -> LogTransport | MemoryTransport | SMTPTransport:
    choice = config.get("MAIL_TRANSPORT") or ("smtp" if config.get("SMTP_HOST") else "log")
    if choice == "memory":
        return MemoryTransport()
    if choice == "log":
        return LogTransport()
    if choice != "smtp":
        raise MailError(
            f"MAIL_TRANSPORT {choice!r} is not one of memory, log, smtp",
            transient=False,
        )
    return SMTPTransport(
        config["SMTP_HOST"],
        int(config["SMTP_PORT"]) if config.get("SMTP_PORT") else None,
        username=config.get("SMTP_USERNAME") or None,
        password=config.get("SMTP_PASSWORD") or None,
        security=config.get("SMTP_SECURITY") or "none",
        timeout=float(config.get("SMTP_TIMEOUT") or 10),
    )


def send_message(msg: EmailMessage) -> None:
    """Send the message through the app's transport (network when SMTP); raises MailError."""
    get_mail_transport().send(msg)
