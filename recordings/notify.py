"""Recording ready: tell each invited, enrolled parent in their language, on their channels, with a watch link;
and tell the course's trainers when a new recording waits for their review.

Sent once per parent per recording: `notify_recording_ready` is enqueued only when the recording first reaches
parents (the publish step of a course that publishes automatically, or a trainer's first Publish, review.py), and
every task here returns quietly when the recording is not playable for parents. One task per parent and channel,
so a retried SMS never sends the e-mail again; one per trainer for the review notice.
"""

from __future__ import annotations

import logging

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from accounts.models import User
from core import mail, sms
from core.extensions import db
from core.queue import enqueue_after_commit, task
from core.text import in_page_language, isolate
from core.urls import external_url
from courses.links import parent_feed_token
from courses.models import Enrolment, Parent
from courses.services import course_parents
from recordings.models import Recording, RecordingState
from recordings.publish import is_expired
from sessions.services import invitees_of

logger = logging.getLogger("ouderkamer.recordings")

#: The SMS may cost at most this many parts; a longer text falls back to the bare link.
MAX_SMS_SEGMENTS = 2
EMAIL, SMS = "email", "sms"


def _ready(recording: Recording | None) -> bool:
    return recording is not None and recording.state == RecordingState.published and not is_expired(recording)


def recipients(recording: Recording) -> list[Parent]:
    """Parents enrolled in the recording's course and invited to its session (all enrolled without a session)."""
    if recording.session is None:
        return course_parents(recording.course)
    enrolled = set(db.session.scalars(select(Enrolment.parent_id).where(
        Enrolment.course_id == recording.course_id)))
    return sorted((p for p in invitees_of(recording.session) if p.id in enrolled), key=lambda p: p.id)


def watch_link(recording: Recording, parent: Parent) -> str:
    """The parent's absolute watch link, carrying their (rebuildable) calendar token; flushes."""
    return external_url("watch.parent_watch", token=parent_feed_token(parent), recording_uuid=recording.uuid)


def title_of(recording: Recording) -> str:
    """What the recording is called in messages: its session's title, else its course's, in the current language
    where the trainer gave one (the Dutch otherwise)."""
    return in_page_language(recording.session or recording.course, "title")


@task(name="recordings.notify_ready", retries=3, retry_delay=60)
def notify_recording_ready(recording_id: int) -> None:
    """Enqueue (after commit) one message task per invited parent and channel; commits (calendar tokens)."""
    recording = db.session.get(Recording, recording_id)
    if not _ready(recording):
        return
    for parent in recipients(recording):
        if parent.access_revoked_at is not None:
            continue  # cut off: no link of theirs works, so the message would only lead to a 404
        for channel in parent.channels:
            enqueue_after_commit(db.session, send_recording_ready, recording.id, parent.id, channel,
                                 watch_link(recording, parent))
    db.session.commit()


@task(name="recordings.send_ready", retries=3, retry_delay=60)
def send_recording_ready(recording_id: int, parent_id: int, channel: str, link: str) -> None:
    """Send one "recording ready" e-mail or SMS in the parent's language (network: SMTP/gateway or the log)."""
    recording, parent = db.session.get(Recording, recording_id), db.session.get(Parent, parent_id)
    if not _ready(recording) or parent is None or channel not in parent.channels:
        return
    with force_locale(parent.language):
        try:
            if channel == EMAIL:
                mail.send_message(ready_message(recording, parent, link))
            else:  # sms, or a WhatsApp template ("recording_ready": 1 name, 2 title, 3 watch link)
                sms.send_to_phone(channel, parent.phone, text=ready_sms_text(recording, link), kind="recording_ready",
                                  language=parent.language,
                                  variables={"1": parent.name, "2": isolate(title_of(recording)), "3": link})
        except (mail.MailError, sms.SmsError) as exc:
            if exc.transient:
                raise
            logger.warning("recording-ready %s to parent %s not sent: %s", channel, parent.id, exc)


def ready_message(recording: Recording, parent: Parent, link: str):
    """The "recording ready" e-mail in the current locale (no side effects)."""
    title = title_of(recording)
    subject = _("De opname van %(title)s staat klaar", title=isolate(title))
    context = {"parent": parent, "title": title, "link": link, "subject": subject}
    return mail.build_message(sender=mail.default_sender(parent.organisation.sender_name), to=[parent.email], subject=subject,
                              text=render_template("emails/recording_ready.txt", **context),
                              html=render_template("emails/recording_ready.html", **context),
                              language=parent.language)


def ready_sms_text(recording: Recording, link: str) -> str:
    """The "recording ready" SMS in the current locale, shortened until it fits MAX_SMS_SEGMENTS parts."""
    title = title_of(recording)
    for shown in (title, title[:20], ""):
        text = render_template("sms/recording_ready.txt", title=shown, link=link).strip()
        if sms.sms_segments(text) <= MAX_SMS_SEGMENTS:
            return text
    return f"Ouderkamer: {link}"


@task(name="recordings.notify_review", retries=3, retry_delay=60)
def notify_review(recording_id: int) -> None:
    """Enqueue (after commit) one review notice per active trainer of a recording that waits for review; commits."""
    recording = db.session.get(Recording, recording_id)
    if recording is None or recording.state is not RecordingState.ready_for_review or is_expired(recording):
        return
    for trainer in recording.course.trainers:
        if trainer.active:
            enqueue_after_commit(db.session, send_review_notice, recording.id, trainer.id)
    db.session.commit()


@task(name="recordings.send_review_notice", retries=3, retry_delay=60)
def send_review_notice(recording_id: int, user_id: int) -> None:
    """Mail one trainer that a recording waits for their review, in their language (network: SMTP or the log)."""
    recording, trainer = db.session.get(Recording, recording_id), db.session.get(User, user_id)
    if recording is None or recording.state is not RecordingState.ready_for_review or trainer is None:
        return
    link = external_url("recordings.status", recording_id=recording.id)
    with force_locale(trainer.language):
        subject = _("De opname van %(title)s wacht op je controle", title=title_of(recording))
        text = render_template("recordings/review_notice.txt", trainer=trainer, title=title_of(recording), link=link)
    try:
        mail.send_message(mail.build_message(sender=mail.default_sender(), to=[trainer.email], subject=subject,
                                             text=text, language=trainer.language))
    except mail.MailError as exc:
        if exc.transient:
            raise
        logger.warning("review notice of recording %s to trainer %s not sent: %s", recording.id, trainer.id, exc)
