"""Home activity rules: activities and their media, the parents' responses, replies, nudges and figures."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounts.models import User
from core.db import utcnow
from core.errors import DomainError
from core.extensions import db
from core.queue import enqueue_after_commit
from core.storage import get_storage
from core.text import has_control_chars
from courses import activity_media, activity_tasks
from courses.activity_models import (
    ActivityMedia,
    ActivityNudge,
    ActivityReply,
    ActivityResponse,
    HomeActivity,
    MediaKind,
    MediaState,
    ResponseKind,
    new_uuid,
)
from courses.models import Course, Enrolment, Parent

MAX_TEXT = 2000
TEXT_FIELDS = ("title", "body", "request_text")
#: A parent nudged about an activity is not nudged again about it within this time (a double click sends once).
NUDGE_PAUSE = timedelta(hours=12)
_CLIENT_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

MSG_NO_REQUEST = _l("Bij deze opdracht hoef je niets terug te sturen.")
MSG_NOTHING = _l("Kies een foto, filmpje of geluid, of schrijf een bericht.")
MSG_TEXT_TOO_LONG = _l("Je bericht is te lang. Het mag niet langer zijn dan %(n)d tekens.", n=MAX_TEXT)
MSG_RELOAD = _l("Er ging iets mis. Laad de pagina opnieuw en probeer het nog een keer.")


class ActivityError(DomainError):
    """A home activity rule was broken."""


class DuplicateResponse(Exception):  # not an error for the parent: their answer is already in
    """A concurrent request stored an answer with the same idempotency key first; roll back and treat as done."""


# --- places in storage --------------------------------------------------------------------------------------


def activity_prefix(activity: HomeActivity) -> str:
    """The storage folder of everything of one activity, under its organisation and course."""
    return f"orgs/{activity.course.organisation_id}/courses/{activity.course_id}/activities/{activity.uuid}/"


def _legacy_prefix(activity: HomeActivity) -> str:
    # Where activities kept their objects before organisations; their rows still name those keys.
    return f"courses/{activity.course_id}/activities/{activity.uuid}/"


def response_folder(activity: HomeActivity, parent: Parent, response_uuid: str) -> str:
    """The storage folder of one response: per course, per activity, per parent."""
    return f"{activity_prefix(activity)}responses/{parent.id}/{response_uuid}/"


# --- activities ---------------------------------------------------------------------------------------------


def _clean_translations(translations: dict | None) -> dict:
    languages = current_app.config["LANGUAGES"]
    clean = {}
    for language, texts in (translations or {}).items():
        kept = {name: (texts.get(name) or "").strip() for name in TEXT_FIELDS if (texts.get(name) or "").strip()}
        if language in languages and kept:
            clean[language] = kept
    return clean


def _check_texts(texts: dict, suffix: str = "") -> None:
    """Titles on one line, the other texts without control characters; `suffix` names a translation's fields."""
    if has_control_chars((texts.get("title") or "").strip()):
        raise ActivityError(_l("Schrijf de titel op één regel, zonder tabs of onzichtbare tekens."),
                            field=f"title{suffix}")
    for name in ("body", "request_text"):
        if has_control_chars(texts.get(name) or "", multi_line=True):
            raise ActivityError(_l("Deze tekst bevat een teken dat niet kan."), field=f"{name}{suffix}")


def _apply(activity: HomeActivity, *, title: str, body: str, session_id: int | None, request_kinds: list[str],
           request_text: str, due_on: date | None, translations: dict | None) -> None:
    if not (title or "").strip():
        raise ActivityError(_l("Geef de opdracht een titel."), field="title")
    translations = _clean_translations(translations)
    _check_texts({"title": title, "body": body, "request_text": request_text})
    for language, texts in translations.items():
        _check_texts(texts, f"_{language}")
    kinds = [k.value for k in ResponseKind if k.value in set(request_kinds or [])]
    if due_on and not kinds:
        raise ActivityError(_l("Een inleverdatum hoort bij een vraag: kies wat je terug wilt krijgen."),
                            field="request_kinds")
    activity.title, activity.body = title.strip(), (body or "").strip()
    activity.session_id, activity.request_kinds = session_id, ",".join(kinds)
    activity.request_text, activity.due_on = (request_text or "").strip(), due_on
    activity.translations = translations


def create_activity(course: Course, *, created_by: User | None = None, **values) -> HomeActivity:
    """A new home activity in the course (values: title, body, session_id, request_kinds, request_text,
    due_on, translations); flushes."""
    activity = HomeActivity(course=course, created_by_id=created_by.id if created_by else None)
    _apply(activity, **values)
    db.session.add(activity)
    db.session.flush()
    return activity


def update_activity(activity: HomeActivity, **values) -> HomeActivity:
    """Change an activity's texts, session, request and due date; flushes."""
    _apply(activity, **values)
    db.session.flush()
    return activity


def delete_activity(activity: HomeActivity) -> int:
    """Delete the activity with its media, responses, replies and nudges, in storage too; returns objects removed."""
    removed = sum(get_storage().delete_prefix(p) for p in (activity_prefix(activity), _legacy_prefix(activity)))
    db.session.delete(activity)
    db.session.flush()
    return removed


def course_activities(course: Course) -> list[HomeActivity]:
    """The course's activities, newest first."""
    query = select(HomeActivity).where(HomeActivity.course_id == course.id)
    return list(db.session.scalars(query.order_by(HomeActivity.created_at.desc(), HomeActivity.id.desc())))


def find_activity(course: Course, activity_id: int) -> HomeActivity | None:
    """The course's activity with this id, or None."""
    activity = db.session.get(HomeActivity, activity_id)
    return activity if activity is not None and activity.course_id == course.id else None


def find_part(activity: HomeActivity, model, row_id: int):
    """The activity's media item or response (`model`) with this id, or None."""
    row = db.session.get(model, row_id)
    return row if row is not None and row.activity_id == activity.id else None


def add_media(activity: HomeActivity, stream, *, kind: MediaKind) -> ActivityMedia:
    """Store a picture or clip for the activity (a clip is transcoded after commit); flushes."""
    media_uuid = new_uuid()
    folder = f"{activity_prefix(activity)}media/{media_uuid}/"
    allowed = {"photo"} if kind is MediaKind.image else {"clip"}
    stored = activity_media.store_upload(stream, folder, allowed=allowed)
    row = ActivityMedia(activity=activity, uuid=media_uuid, kind=kind, media_key=stored.key,
                        content_type=stored.content_type, size=stored.size, duration_s=stored.duration_s,
                        state=MediaState.processing if stored.processing else MediaState.ready)
    db.session.add(row)
    db.session.flush()
    if stored.processing:
        enqueue_after_commit(db.session, activity_tasks.process_activity_clip, row.id)
    return row


def remove_media(row: ActivityMedia) -> None:
    """Delete one picture or clip of an activity, in storage too; flushes."""
    activity_media.delete_objects(row.keys)
    db.session.delete(row)
    db.session.flush()


# --- who is asked -------------------------------------------------------------------------------------------


def _session_of(activity: HomeActivity):
    # sessions sit above courses in the import direction (architecture.md): a function-level import.
    from sessions.models import WorkshopSession

    return db.session.get(WorkshopSession, activity.session_id) if activity.session_id else None


def addressees(activity: HomeActivity) -> list[Parent]:
    """The parents the activity is for: enrolled in its course and, for a session's activity, invited to it."""
    from sessions.services import is_invited  # above courses, see _session_of

    query = select(Parent).join(Enrolment).where(Enrolment.course_id == activity.course_id).order_by(Parent.name)
    parents = list(db.session.scalars(query))
    session = _session_of(activity)
    return [p for p in parents if session is None or is_invited(session, p)]


def is_for(activity: HomeActivity, parent: Parent) -> bool:
    """True when the parent may see and answer the activity: enrolled, and invited to its session if any."""
    from sessions.services import is_invited  # above courses, see _session_of

    if all(e.course_id != activity.course_id for e in parent.enrolments):
        return False
    session = _session_of(activity)
    return session is None or is_invited(session, parent)


def parent_activities(parent: Parent, courses: list[Course]) -> list[HomeActivity]:
    """The activities of these (unarchived) courses that are for the parent, newest first."""
    course_ids = [c.id for c in courses]
    if not course_ids:
        return []
    query = select(HomeActivity).where(HomeActivity.course_id.in_(course_ids))
    activities = db.session.scalars(query.order_by(HomeActivity.created_at.desc(), HomeActivity.id.desc()))
    return [a for a in activities if is_for(a, parent)]


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
        stored = activity_media.store_upload(stream, response_folder(activity, parent, response.uuid),
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
        activity_media.delete_objects(response.keys)
        raise DuplicateResponse(client_key) from None
    if response.state is MediaState.processing:
        enqueue_after_commit(db.session, activity_tasks.process_response_clip, response.id)
    return response, True


def delete_response(response: ActivityResponse) -> None:
    """Delete a response and its stored files (the parent took it back); flushes."""
    activity_media.delete_objects(response.keys)
    db.session.delete(response)
    db.session.flush()


def delete_parent_files(parent: Parent) -> int:
    """Delete every stored file of the parent's responses (before the parent is deleted); returns how many."""
    keys = response_files(parent)
    activity_media.delete_objects(keys)
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


def last_nudges(activity: HomeActivity) -> dict[int, datetime]:
    """Per parent id: when they were last nudged about the activity."""
    query = select(ActivityNudge).where(ActivityNudge.activity_id == activity.id)
    latest: dict[int, datetime] = {}
    for nudge in db.session.scalars(query):
        latest[nudge.parent_id] = max(latest.get(nudge.parent_id, nudge.created_at), nudge.created_at)
    return latest


def nudge(activity: HomeActivity, *, now: datetime | None = None) -> list[ActivityNudge]:
    """Remind every addressee who has not answered (and was not nudged in NUDGE_PAUSE), one message each,
    sent after commit in their language on their channel; flushes."""
    now = now or utcnow()
    done, recent = responders(activity), last_nudges(activity)
    nudges = []
    for parent in addressees(activity):
        channel = nudge_channel(parent)
        nudged_lately = parent.id in recent and now - recent[parent.id] < NUDGE_PAUSE
        if parent.id in done or channel is None or nudged_lately:
            continue
        nudges.append(ActivityNudge(activity_id=activity.id, parent_id=parent.id, channel=channel, created_at=now))
    db.session.add_all(nudges)
    db.session.flush()
    for item in nudges:
        enqueue_after_commit(db.session, activity_tasks.send_nudge, item.id)
    return nudges
