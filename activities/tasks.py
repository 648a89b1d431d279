"""Background work for home activities: clip transcodes, the stuck-clip sweep and the parents' nudges."""

from __future__ import annotations

import logging

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from huey import crontab
from sqlalchemy import literal, select, update

from activities import clips
from activities.models import ActivityMedia, ActivityNudge, ActivityResponse, HomeActivity, MediaState
from core import mail, sms
from core.db import utcnow
from core.extensions import db
from core.queue import enqueue_after_commit, periodic_task, task
from core.storage import StorageError
from core.text import isolate
from core.urls import external_url
from courses.links import parent_feed_token
from courses.models import Parent

log = logging.getLogger("ouderkamer.activities")

#: The nudge SMS may cost at most this many parts; a longer text drops the title, then falls back to the link.
MAX_SMS_SEGMENTS = 2
EMAIL, SMS = "email", "sms"
#: Stuck clips claimed and committed at a time, and the most batches per kind in one sweep (the next goes on).
STUCK_BATCH = 100
STUCK_MAX_BATCHES = 20


def _process(model, row_id: int, task) -> None:
    row = db.session.get(model, row_id)
    if row is None:
        return
    try:
        clips.process_clip(row)
    except StorageError as exc:
        db.session.rollback()
        if exc.transient and task is not None and task.retries > 0:
            raise
        log.warning("clip %s: storage failed (%s); giving up", row_id, exc)
        clips.fail_clip(db.session.get(model, row_id))
    db.session.commit()


@task(name="activities.process_response_clip", retries=3, retry_delay=30, retry_backoff=2, context=True)
def process_response_clip(response_id: int, task=None) -> None:
    """Transcode a parent's clip to a small MP4 + poster and store it; commits."""
    _process(ActivityResponse, response_id, task)


@task(name="activities.process_activity_clip", retries=3, retry_delay=30, retry_backoff=2, context=True)
def process_activity_clip(media_id: int, task=None) -> None:
    """Transcode an activity's clip to a small MP4 + poster and store it; commits."""
    _process(ActivityMedia, media_id, task)


def _claim_stuck(model: type[ActivityMedia] | type[ActivityResponse], cutoff) -> list[int]:
    """Mark the oldest batch of clips `processing` since before `cutoff` as just queued, so no other sweep takes
    them, and return their ids; flushes. Read through the partial index of processing clips."""
    # The state as a literal, not a parameter: a prepared (generic) plan could not use the partial index otherwise.
    processing = model.state == literal(MediaState.processing, model.state.type, literal_execute=True)
    due = select(model.id).where(processing, model.updated_at < cutoff).order_by(model.updated_at).limit(STUCK_BATCH)
    ids = list(db.session.scalars(due))
    if not ids:
        return []
    claimed = db.session.execute(update(model).where(model.id.in_(ids), processing, model.updated_at < cutoff)
                                 .values(updated_at=utcnow()).returning(model.id)
                                 .execution_options(synchronize_session=False))
    return list(claimed.scalars())


@periodic_task(crontab(minute="*/10"), name="activities.requeue_stuck_clips")
def requeue_stuck_clips() -> None:
    """Queue again every clip whose transcode task was lost (a worker died mid-way), a batch at a time; commits
    each batch (its transcodes are enqueued then)."""
    cutoff = utcnow() - clips.STUCK_AFTER
    for model, process in ((ActivityResponse, process_response_clip), (ActivityMedia, process_activity_clip)):
        for _batch in range(STUCK_MAX_BATCHES):
            ids = _claim_stuck(model, cutoff)
            for row_id in ids:
                enqueue_after_commit(db.session, process, row_id)
            db.session.commit()
            if len(ids) < STUCK_BATCH:
                break


@task(name="activities.send_nudge", retries=3, retry_delay=60)
def send_nudge(nudge_id: int) -> None:
    """Send one nudge by e-mail or SMS in the parent's language, once (`sent_at`); network; commits."""
    nudge = db.session.get(ActivityNudge, nudge_id)
    if nudge is None or nudge.sent_at is not None:
        return
    parent = db.session.get(Parent, nudge.parent_id)
    activity = db.session.get(HomeActivity, nudge.activity_id)
    if parent is None or activity is None or nudge.channel not in parent.channels:
        return
    if parent.access_revoked_at is not None:
        return  # cut off: the link would only lead to a 404
    link = response_link(activity, parent)
    with force_locale(parent.language):
        try:
            if nudge.channel == EMAIL:
                mail.send_message(nudge_message(activity, parent, link))
            else:
                # WhatsApp template "activity_nudge": 1 parent's name, 2 activity title, 3 response link.
                sms.send_to_phone(nudge.channel, parent.phone, text=nudge_sms_text(activity, parent, link),
                                  kind="activity_nudge", language=parent.language,
                                  variables={"1": parent.name, "2": isolate(activity.text_in(parent.language, "title")),
                                             "3": link},
                                  sms_instead="sms" not in parent.channels)
        except (mail.MailError, sms.SmsError) as exc:
            db.session.rollback()
            if exc.transient:
                raise
            log.warning("nudge %s to parent %s not sent: %s", nudge.channel, parent.id, exc)
            return
    nudge.sent_at = utcnow()
    db.session.commit()


def response_link(activity: HomeActivity, parent: Parent) -> str:
    """The parent's absolute link to the activity's response page, with their calendar token; flushes."""
    # The calendar token is the one personal token we can rebuild (only the personal link's hash is stored).
    return external_url("responses.show", token=parent_feed_token(parent), activity_id=activity.id)


def nudge_message(activity: HomeActivity, parent: Parent, link: str):
    """The nudge e-mail in the current locale (no side effects)."""
    title = activity.text_in(parent.language, "title")
    subject = _("Een vraag van je cursus: %(title)s", title=isolate(title))
    context = {"parent": parent, "title": title, "link": link, "subject": subject, "due_on": activity.due_on,
               "request": activity.text_in(parent.language, "request_text")}
    return mail.build_message(sender=mail.default_sender(parent.organisation.sender_name), to=[parent.email], subject=subject,
                              text=render_template("emails/activity_nudge.txt", **context),
                              html=render_template("emails/activity_nudge.html", **context),
                              language=parent.language)


def nudge_sms_text(activity: HomeActivity, parent: Parent, link: str) -> str:
    """The nudge SMS in the current locale, shortened until it fits MAX_SMS_SEGMENTS parts."""
    title = activity.text_in(parent.language, "title")
    for shown in (title, title[:20], ""):
        text = render_template("sms/activity_nudge.txt", title=shown, link=link).strip()
        if sms.sms_segments(text) <= MAX_SMS_SEGMENTS:
            return text
    return f"Ouderkamer: {link}"
