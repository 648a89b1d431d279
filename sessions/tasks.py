"""Background tasks for live sessions: the trainer's help notice and optional Prosody room polling."""

from __future__ import annotations

import logging

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from huey import crontab

from core import mail
from core.extensions import db
from core.jitsi import JitsiError
from core.queue import huey, periodic_task, task
from core.urls import external_url
from courses.models import Parent
from sessions import deliveries, rooms
from sessions.models import WorkshopSession

logger = logging.getLogger("ouderkamer.sessions")


@task(name="sessions.send_help_notice", retries=3, retry_delay=30)
def send_help_notice(session_id: int, parent_id: int) -> None:
    """Mail the course's trainers that a parent cannot get into a session (network: SMTP or the log)."""
    workshop_session = db.session.get(WorkshopSession, session_id)
    parent = db.session.get(Parent, parent_id)
    if workshop_session is None or parent is None:
        return
    link = external_url("sessions.join", session_id=workshop_session.id)  # the live page lists the open requests
    for trainer in workshop_session.course.trainers:
        with force_locale(trainer.language):
            subject = _("%(name)s komt niet binnen bij %(title)s", name=parent.name, title=workshop_session.title)
            text = render_template("sessions/help_notice.txt", trainer=trainer, parent=parent,
                                   session=workshop_session, link=link)
        mail.send_message(mail.build_message(sender=mail.default_sender(), to=[trainer.email], subject=subject,
                                             text=text, language=trainer.language))


@task(name="sessions.poll_room", retries=1, retry_delay=30)
def poll_room(session_id: int) -> None:
    """Record Prosody's participant count for one session's room (network: GET /room-size)."""
    workshop_session = db.session.get(WorkshopSession, session_id)
    if workshop_session is None:
        return
    try:
        rooms.poll_room(workshop_session)
    except JitsiError as exc:
        logger.warning("room of session %s not polled: %s", session_id, exc)
        return
    db.session.commit()


@task(name="sessions.poll_live_rooms_now")
def poll_live_rooms_now() -> None:
    """Enqueue one room poll per open session, when JITSI_ROOM_API_URL is set."""
    if not current_app.config.get("JITSI_ROOM_API_URL"):
        return
    for workshop_session in rooms.live_sessions():
        poll_room(workshop_session.id)


# Periodic tasks get no app context from core.queue.task, so this one only hands over to a plain task.
@huey.periodic_task(crontab(minute="*"), name="sessions.poll_live_rooms")
def poll_live_rooms() -> None:
    """Every minute: poll the open rooms (does nothing without JITSI_ROOM_API_URL)."""
    poll_live_rooms_now.call_local()


@periodic_task(crontab(minute="*/10"), name="sessions.requeue_stale_deliveries")
def requeue_stale_deliveries() -> int:
    """Every ten minutes: queue again the invites and reminders whose send task died with its worker; commits."""
    queued = deliveries.requeue_stale_deliveries()
    db.session.commit()
    return queued
