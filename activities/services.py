"""Home activity rules: activities, their pictures and clips, where they are stored and whom they are for."""

from __future__ import annotations

from datetime import date

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, exists, or_, select

from accounts.models import User
from activities import media, tasks
from activities.models import ActivityMedia, HomeActivity, MediaKind, MediaState, ResponseKind, new_uuid
from core.errors import DomainError
from core.extensions import db
from core.queue import enqueue_after_commit
from core.storage import get_storage
from core.text import has_control_chars
from courses.models import Course, Enrolment, Parent
from sessions.models import WorkshopSession, session_invitees
from sessions.services import invited_clause, is_invited

TEXT_FIELDS = ("title", "body", "request_text")


class ActivityError(DomainError):
    """A home activity rule was broken."""


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
    stored = media.store_upload(stream, folder, allowed=allowed)
    row = ActivityMedia(activity=activity, uuid=media_uuid, kind=kind, media_key=stored.key,
                        content_type=stored.content_type, size=stored.size, duration_s=stored.duration_s,
                        state=MediaState.processing if stored.processing else MediaState.ready)
    db.session.add(row)
    db.session.flush()
    if stored.processing:
        enqueue_after_commit(db.session, tasks.process_activity_clip, row.id)
    return row


def remove_media(row: ActivityMedia) -> None:
    """Delete one picture or clip of an activity, in storage too; flushes."""
    media.delete_objects(row.keys)
    db.session.delete(row)
    db.session.flush()


# --- who is asked -------------------------------------------------------------------------------------------


def _session_of(activity: HomeActivity) -> WorkshopSession | None:
    return db.session.get(WorkshopSession, activity.session_id) if activity.session_id else None


def addressed_pairs(*where) -> Select:
    """SELECT (activity_id, parent_id) of every parent an activity is for: enrolled in its course and, for a
    session's activity, invited to that session (the whole course, or chosen); `where` filters on HomeActivity."""
    chosen = exists().where(session_invitees.c.session_id == HomeActivity.session_id,
                            session_invitees.c.parent_id == Enrolment.parent_id)
    return (select(HomeActivity.id.label("activity_id"), Enrolment.parent_id.label("parent_id"))
            .join(Enrolment, Enrolment.course_id == HomeActivity.course_id)
            .outerjoin(WorkshopSession, WorkshopSession.id == HomeActivity.session_id)
            .where(*where, or_(WorkshopSession.id.is_(None), WorkshopSession.invite_whole_course.is_(True), chosen)))


def addressees(activity: HomeActivity) -> list[Parent]:
    """The parents the activity is for: enrolled in its course and, for a session's activity, invited to it; one
    query."""
    pairs = addressed_pairs(HomeActivity.id == activity.id).subquery()
    query = select(Parent).join(pairs, pairs.c.parent_id == Parent.id).order_by(Parent.name, Parent.id)
    return list(db.session.scalars(query))


def is_for(activity: HomeActivity, parent: Parent) -> bool:
    """True when the parent may see and answer the activity: enrolled, and invited to its session if any."""
    if all(e.course_id != activity.course_id for e in parent.enrolments):
        return False
    session = _session_of(activity)
    return session is None or is_invited(session, parent)


def parent_activities(parent: Parent, courses: list[Course]) -> list[HomeActivity]:
    """The activities of these (unarchived) courses that are for the parent, newest first; one query."""
    course_ids = [c.id for c in courses]
    if not course_ids:
        return []
    enrolled = exists().where(Enrolment.course_id == HomeActivity.course_id, Enrolment.parent_id == parent.id)
    invited = select(WorkshopSession.id).where(WorkshopSession.id == HomeActivity.session_id,
                                               invited_clause(parent)).exists()
    query = select(HomeActivity).where(HomeActivity.course_id.in_(course_ids), enrolled,
                                       or_(HomeActivity.session_id.is_(None), invited))
    return list(db.session.scalars(query.order_by(HomeActivity.created_at.desc(), HomeActivity.id.desc())))
