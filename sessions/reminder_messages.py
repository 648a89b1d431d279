"""What a reminder says on each channel, in the parent's language: when (start and end), the join link and the
one-tap answers."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from core import mail, sms
from core.text import in_page_language, isolate
from courses.models import Parent
from sessions.calendar import join_url
from sessions.invite_messages import session_span, sms_titles
from sessions.models import WorkshopSession
from sessions.rsvp import rsvp_urls

#: The WhatsApp template kind (WHATSAPP_TEMPLATES) of a reminder; its variables are listed in `whatsapp_variables`.
WHATSAPP_KIND = "reminder"
#: An SMS reminder aims at this many parts (Dutch and English fit with title and three links); texts outside
#: GSM-7 (Arabic, Turkish) need more for three links, so the shortest form is sent then.
SMS_SEGMENTS = 2


def lead(workshop_session: WorkshopSession, now: datetime) -> str:
    """The opening line, true at the moment of sending: "In 55 minutes:", "Today:", "Tomorrow:", "In 3 days:"
    (in the current locale), so a reminder sent late never says "tomorrow" about tonight."""
    minutes = (workshop_session.starts_at - now).total_seconds() / 60
    zone = ZoneInfo(workshop_session.timezone)
    days = (workshop_session.starts_at.astimezone(zone).date() - now.astimezone(zone).date()).days
    if minutes < 5:
        return _("Het begint zo:")
    if minutes < 100:
        return _("Over %(n)d minuten begint:", n=max(5, 5 * round(minutes / 5)))
    if days <= 0:
        return _("Vandaag begint:")
    if days == 1:
        return _("Morgen begint:")
    return _("Over %(n)d dagen begint:", n=days)


def _context(workshop_session: WorkshopSession, parent: Parent, now: datetime) -> dict:
    links = rsvp_urls(parent, workshop_session)
    return {"parent": parent, "session": workshop_session, "when": session_span(workshop_session, parent.language),
            "lead": lead(workshop_session, now), "link": join_url(parent, workshop_session), "yes": links["yes"],
            "no": links["no"]}


def reminder_mail(workshop_session: WorkshopSession, parent: Parent, now: datetime):
    """The reminder e-mail in the parent's language, with the join button and both one-tap answers; flushes."""
    with force_locale(parent.language):
        context = _context(workshop_session, parent, now)
        subject = _("Herinnering: %(title)s op %(when)s", title=isolate(in_page_language(workshop_session, "title")),
                    when=context["when"])
        text = render_template("emails/reminder.txt", subject=subject, **context)
        html = render_template("emails/reminder.html", subject=subject, **context)
    return mail.build_message(sender=mail.default_sender(parent.organisation.sender_name), to=[parent.email],
                              subject=subject, text=text, html=html, language=parent.language)


def reminder_text(workshop_session: WorkshopSession, parent: Parent) -> str:
    """The reminder SMS: join link and both answer links; the title is shortened or left out to stay within
    SMS_SEGMENTS parts where the alphabet allows; flushes."""
    links = rsvp_urls(parent, workshop_session)
    values = {"when": session_span(workshop_session, parent.language, short=True),
              "link": join_url(parent, workshop_session),
              **links}
    with force_locale(parent.language):
        texts = [render_template("sms/reminder.txt", title=title, **values).strip()
                 for title in sms_titles(workshop_session)]
    return next((text for text in texts if sms.sms_segments(text) <= SMS_SEGMENTS), texts[-1])


def whatsapp_variables(workshop_session: WorkshopSession, parent: Parent) -> dict[str, str]:
    """The reminder template's variables: 1 name, 2 title, 3 date, start and end, 4 join link, 5 "I'm coming" link,
    6 "I can't" link (docs/deployment.md); flushes."""
    links = rsvp_urls(parent, workshop_session)
    with force_locale(parent.language):
        title = isolate(in_page_language(workshop_session, "title"))
    return {"1": parent.name, "2": title, "3": session_span(workshop_session, parent.language),
            "4": join_url(parent, workshop_session), "5": links["yes"], "6": links["no"]}
