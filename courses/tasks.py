"""Background tasks for courses: the welcome message with the personal link."""

from __future__ import annotations

import logging

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from core import mail, sms
from core.extensions import db
from core.queue import task
from courses.models import Parent

logger = logging.getLogger("ouderkamer.courses")

#: The welcome SMS may cost at most this many parts; a longer text falls back to the bare link.
MAX_SMS_SEGMENTS = 2


@task(name="courses.send_welcome", retries=3, retry_delay=60)
def send_welcome(parent_id: int, link: str, channel: str = "email") -> None:
    """Send the welcome message with the personal link on one channel (network: SMTP/gateway or the log)."""
    # One task per channel, so a retried SMS never sends the e-mail a second time.
    parent = db.session.get(Parent, parent_id)
    if parent is None or channel not in parent.channels:
        return
    with force_locale(parent.language):
        if channel == "email":
            _send_mail(parent, link)
        else:
            _send_phone(parent, link, channel)


def _send_mail(parent: Parent, link: str) -> None:
    subject = _("Je persoonlijke link voor Ouderkamer")
    text = render_template("emails/welcome.txt", parent=parent, link=link)
    html = render_template("emails/welcome.html", parent=parent, link=link, subject=subject)
    message = mail.build_message(sender=mail.default_sender(parent.organisation.sender_name), to=[parent.email], subject=subject, text=text,
                                 html=html, language=parent.language)
    try:
        mail.send_message(message)
    except mail.MailError as exc:
        if exc.transient:
            raise
        logger.warning("welcome mail to parent %s not sent: %s", parent.id, exc)


def welcome_sms_text(parent: Parent, link: str) -> str:
    """The welcome SMS in the current locale, within MAX_SMS_SEGMENTS parts (no side effects)."""
    text = render_template("sms/welcome.txt", parent=parent, link=link).strip()
    return text if sms.sms_segments(text) <= MAX_SMS_SEGMENTS else f"Ouderkamer: {link}"


def _send_phone(parent: Parent, link: str, channel: str) -> None:
    try:
        # WhatsApp template "welcome": 1 parent's name, 2 personal link. Without one, an SMS (unless one goes anyway).
        sms.send_to_phone(channel, parent.phone, text=welcome_sms_text(parent, link), kind="welcome",
                          language=parent.language, variables={"1": parent.name, "2": link},
                          sms_instead="sms" not in parent.channels)
    except sms.SmsError as exc:
        if exc.transient:
            raise
        logger.warning("welcome SMS to parent %s not sent: %s", parent.id, exc)
