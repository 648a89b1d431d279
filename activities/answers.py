"""The parents' answers to home activities, the trainers' replies in each thread, and nudges to those who did not
answer yet."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from accounts.models import User
from activities import media, tasks
from activities.models import (
    ActivityNudge,
    ActivityReply,
    ActivityResponse,
    HomeActivity,
    MediaState,
    ResponseKind,
    new_uuid,
)
from activities.services import ActivityError, addressees, response_folder
from core.db import utcnow
from core.extensions import db
from core.queue import enqueue_after_commit
from courses.models import Parent

MAX_TEXT = 2000
#: A parent nudged about an activity is not nudged again about it within this time (a double click sends once).
NUDGE_PAUSE = timedelta(hours=12)
_CLIENT_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

MSG_NO_REQUEST = _l("Bij deze opdracht hoef je niets terug te sturen.")
MSG_NOTHING = _l("Kies een foto, filmpje of geluid, of schrijf een bericht.")
MSG_TEXT_TOO_LONG = _l("Je bericht is te lang. Het mag niet langer zijn dan %(n)d tekens.", n=MAX_TEXT)
MSG_RELOAD = _l("Er ging iets mis. Laad de pagina opnieuw en probeer het nog een keer.")


class DuplicateResponse(Exception):  # not an error for the parent: their answer is already in
    """A concurrent request stored an answer with the same idempotency key first; roll back and treat as done."""


# --- responses ----------------------------------------------------------------------------------------------


def responses_of(activity: HomeActivity, parent: Parent | None = None) -> list[ActivityResponse]:
    """The activity's responses (one parent's, if given), oldest first."""
    query = select(ActivityResponse).where(ActivityResponse.activity_id == activity.id)
    if parent is not None:
        query = query.where(ActivityResponse.parent_id == parent.id)
    return list(db.session.scalars(query.order_by(ActivityResponse.created_at, ActivityResponse.id)))


def find_response(parent: Parent, client_key: str) -> ActivityResponse | None:
    """The parent's response made with this idempotency key, if any."""
    query = select(ActivityResponse).where(ActivityResponse.parent_id == parent.id,
                                           ActivityResponse.client_key == client_key)
    return db.session.scalars(query).first()


def _clean_text(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise ActivityError(str(MSG_TEXT_TOO_LONG), field="text")
    return text


def add_response(activity: HomeActivity, parent: Parent, *, client_key: str, text: str = "",
                 stream=None) -> tuple[ActivityResponse, bool]:
    """Store a parent's answer once per idempotency key; returns (response, created); flushes.

    A retried request with the same key returns the first response and stores nothing; one that races the first
    raises DuplicateResponse (the caller rolls back). A clip is transcoded after commit. On any refusal
    (ActivityError, MediaUploadError) nothing was written or stored.
    """
    if not _CLIENT_KEY.match(client_key or ""):
        raise ActivityError(str(MSG_RELOAD))
    existing = find_response(parent, client_key)
    if existing is not None:
        return existing, False
    if not activity.requested:
        raise ActivityError(str(MSG_NO_REQUEST))
    text = _clean_text(text)
    if stream is None and not text:
        raise ActivityError(str(MSG_NOTHING), field="file")
    response = ActivityResponse(activity_id=activity.id, parent_id=parent.id, client_key=client_key, text=text,
                                kind=ResponseKind.text, state=MediaState.ready)
    response.uuid = new_uuid()
    if stream is not None:
        allowed = {k.value for k in activity.requested} - {"text"}
        stored = media.store_upload(stream, response_folder(activity, parent, response.uuid),
                                             allowed=allowed)
        response.kind, response.media_key, response.content_type = ResponseKind(stored.kind), stored.key, \
            stored.content_type
        response.size, response.duration_s = stored.size, stored.duration_s
        response.state = MediaState.processing if stored.processing else MediaState.ready
    db.session.add(response)
    try:
        db.session.flush()
    except IntegrityError:
        # The same answer, retried while the first request was still running: the first one stays. (No SAVEPOINT:
        # releasing one fires the session's after_commit, which would send queued tasks before the real commit.)
        media.delete_objects(response.keys)
        raise DuplicateResponse(client_key) from None
    if response.state is MediaState.processing:
        enqueue_after_commit(db.session, tasks.process_response_clip, response.id)
    return response, True


def delete_response(response: ActivityResponse) -> None:
    """Delete a response and its stored files (the parent took it back); flushes."""
    media.delete_objects(response.keys)
    db.session.delete(response)
    db.session.flush()


def delete_parent_files(parent: Parent) -> int:
    """Delete every stored file of the parent's responses (before the parent is deleted); returns how many."""
    keys = response_files(parent)
    media.delete_objects(keys)
    return len(keys)


def response_files(parent: Parent) -> list[str]:
    """The storage keys of every file of the parent's responses (they live under the course, not the parent)."""
    responses = db.session.scalars(select(ActivityResponse).where(ActivityResponse.parent_id == parent.id))
    return sorted(key for r in responses for key in r.keys)


def export_responses(parent: Parent) -> list[dict]:
    """The parent's responses as plain values, for their data export."""
    query = select(ActivityResponse).where(ActivityResponse.parent_id == parent.id).order_by(ActivityResponse.id)
    return [{"activity_id": r.activity_id, "activity_title": r.activity.title, "kind": r.kind.value, "text": r.text,
             "files": r.keys, "created_at": r.created_at.isoformat()} for r in db.session.scalars(query)]


def thread(activity: HomeActivity, parent: Parent) -> list[ActivityResponse | ActivityReply]:
    """The parent's responses and the trainers' replies about one activity, in the order they were written."""
    query = select(ActivityReply).where(ActivityReply.activity_id == activity.id,
                                        ActivityReply.parent_id == parent.id)
    items = [*responses_of(activity, parent), *db.session.scalars(query)]
    return sorted(items, key=lambda item: (item.created_at, isinstance(item, ActivityReply), item.id))


def threads(activity: HomeActivity, parent_ids: list[int]) -> dict[int, list[ActivityResponse | ActivityReply]]:
    """Per parent id (of those given, each present): their thread about the activity, as `thread` gives it; two
    queries, whatever the number of parents."""
    found: dict[int, list] = {parent_id: [] for parent_id in parent_ids}
    if not parent_ids:
        return found
    responses = select(ActivityResponse).where(ActivityResponse.activity_id == activity.id,
                                               ActivityResponse.parent_id.in_(parent_ids))
    replies = (select(ActivityReply).options(joinedload(ActivityReply.author))
               .where(ActivityReply.activity_id == activity.id, ActivityReply.parent_id.in_(parent_ids)))
    for item in [*db.session.scalars(responses), *db.session.scalars(replies)]:
        found[item.parent_id].append(item)
    for items in found.values():
        items.sort(key=lambda item: (item.created_at, isinstance(item, ActivityReply), item.id))
    return found


def add_reply(activity: HomeActivity, parent: Parent, *, author: User, text: str) -> ActivityReply:
    """A trainer's message to one parent in the activity's thread; flushes."""
    text = _clean_text(text)
    if not text:
        raise ActivityError(_l("Schrijf eerst een bericht."), field="text")
    reply = ActivityReply(activity_id=activity.id, parent_id=parent.id, author_id=author.id, text=text)
    db.session.add(reply)
    db.session.flush()
    return reply


def counts_as_answer(response: ActivityResponse) -> bool:
    """A response counts once it is not a failed clip."""
    return response.state is not MediaState.failed


def responders(activity: HomeActivity) -> set[int]:
    """Ids of the parents with at least one counted response."""
    return {r.parent_id for r in responses_of(activity) if counts_as_answer(r)}


# --- nudges -------------------------------------------------------------------------------------------------


def nudge_channel(parent: Parent) -> str | None:
    """The one channel a nudge goes out on: WhatsApp or SMS for a parent who chose it, else e-mail; None when
    unreachable (parents who never read e-mail still see a message on their phone)."""
    return next((c for c in ("whatsapp", "sms", "email") if c in parent.channels), None)


def last_nudges(activity: HomeActivity, parent_ids: list[int] | None = None) -> dict[int, datetime]:
    """Per parent id (of those given, if any): when they were last nudged about the activity; one query."""
    query = (select(ActivityNudge.parent_id, func.max(ActivityNudge.created_at))
             .where(ActivityNudge.activity_id == activity.id).group_by(ActivityNudge.parent_id))
    if parent_ids is not None:
        query = query.where(ActivityNudge.parent_id.in_(parent_ids))
    return {parent_id: at for parent_id, at in db.session.execute(query)}


@dataclass
class NudgePlan:
    """Who a nudge would reach now (parent, channel), and who of those who have not answered it leaves out."""

    targets: list[tuple[Parent, str]] = field(default_factory=list)
    nudged_lately: list[Parent] = field(default_factory=list)
    unreachable: list[Parent] = field(default_factory=list)


def nudge_plan(activity: HomeActivity, *, now: datetime | None = None) -> NudgePlan:
    """What nudge() would send now, without sending it (the trainer's confirmation step)."""
    now = now or utcnow()
    done, recent, plan = responders(activity), last_nudges(activity), NudgePlan()
    for parent in addressees(activity):
        channel = nudge_channel(parent)
        if parent.id in done:
            continue
        if parent.id in recent and now - recent[parent.id] < NUDGE_PAUSE:
            plan.nudged_lately.append(parent)
        elif channel is None:
            plan.unreachable.append(parent)
        else:
            plan.targets.append((parent, channel))
    return plan


def nudge(activity: HomeActivity, *, now: datetime | None = None) -> list[ActivityNudge]:
    """Remind every addressee who has not answered (and was not nudged in NUDGE_PAUSE), one message each,
    sent after commit in their language on their channel; flushes."""
    now = now or utcnow()
    nudges = [ActivityNudge(activity_id=activity.id, parent_id=parent.id, channel=channel, created_at=now)
              for parent, channel in nudge_plan(activity, now=now).targets]
    db.session.add_all(nudges)
    db.session.flush()
    for item in nudges:
        enqueue_after_commit(db.session, tasks.send_nudge, item.id)
    return nudges
