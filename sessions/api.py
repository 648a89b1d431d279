"""Live sessions in the JSON API: schedule, reschedule, cancel (one date or a series), list, attendance; a local
time that occurs twice (the night the clocks go back) needs its UTC offset."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import abort, g, jsonify
from sqlalchemy import Select, String, func, select
from sqlalchemy.orm import selectinload

from accounts.api import token_required
from core.api import ApiInputError, json_body, operation, paginate
from core.errors import DomainError
from core.extensions import db
from courses.access import api_course_or_404
from courses.models import Course, Enrolment, Parent
from courses.services import can_manage, course_parents
from sessions import scheduling, services
from sessions.access import api_session_or_404
from sessions.calendar_models import Rsvp
from sessions.models import SessionKind, WorkshopSeries, WorkshopSession, session_invitees

SESSION_SCHEMA = {
    "type": "object",
    "required": ["id", "course_id", "series_id", "title", "kind", "status", "starts_at", "local_start", "timezone",
                 "duration_minutes", "recorded", "lobby_minutes", "invitee_ids"],
    "properties": {
        "id": {"type": "integer"},
        "course_id": {"type": "integer"},
        "series_id": {"type": ["integer", "null"]},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "kind": {"type": "string", "enum": [k.value for k in SessionKind]},
        "status": {"type": "string", "enum": ["scheduled", "live", "ended", "cancelled"]},
        "starts_at": {"type": "string", "format": "date-time", "description": "UTC"},
        "local_start": {"type": "string", "description": "YYYY-MM-DDTHH:MM in `timezone`"},
        "timezone": {"type": "string"},
        "duration_minutes": {"type": "integer"},
        "recorded": {"type": "boolean"},
        "lobby_minutes": {"type": "integer"},
        "invitee_ids": {"type": ["array", "null"], "items": {"type": "integer"},
                        "description": "null: the whole course"},
        "sequence": {"type": "integer"},
    },
}
SESSION_LIST = {"type": "array", "items": SESSION_SCHEMA}

SCHEDULE_INPUT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "starts_at"],
    "properties": {
        "title": {"type": "string", "maxLength": 200},
        "description": {"type": "string", "maxLength": 5000},
        "kind": {"type": "string", "enum": [k.value for k in SessionKind]},
        "starts_at": {"type": "string", "maxLength": 40,
                      "description": "Local start, YYYY-MM-DDTHH:MM, in `timezone`; with its UTC offset "
                                     "(YYYY-MM-DDTHH:MM+01:00) when the time occurs twice (the night the clocks go "
                                     "back): without it that is a 422"},
        "ends_at": {"type": "string", "maxLength": 10,
                    "description": "Local end HH:MM (same day); or give duration_minutes"},
        "duration_minutes": {"type": "integer", "minimum": 5, "maximum": 480},
        "timezone": {"type": "string", "maxLength": 64, "description": "IANA zone; default the course's"},
        "recorded": {"type": "boolean"},
        "lobby_minutes": {"type": "integer", "minimum": 0, "maximum": 120},
        "invitee_ids": {"type": ["array", "null"], "items": {"type": "integer"}},
        "count": {"type": "integer", "description": "Weekly series: number of dates (1-52)"},
        "until": {"type": "string", "format": "date", "description": "Weekly series: last date, YYYY-MM-DD"},
    },
}
RESCHEDULE_INPUT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["starts_at"],
    "properties": {name: SCHEDULE_INPUT["properties"][name]
                   for name in ("starts_at", "ends_at", "duration_minutes", "timezone")},
}
ATTENDANCE_SCHEMA = {
    "type": "object", "required": ["parent_id", "name", "attended", "minutes"],
    "properties": {"parent_id": {"type": "integer"}, "name": {"type": "string"},
                   "attended": {"type": "boolean"}, "minutes": {"type": "integer"}},
}

RSVP_SCHEMA = {
    "type": "object", "required": ["parent_id", "name", "answer", "answered_at"],
    "properties": {"parent_id": {"type": "integer"}, "name": {"type": "string"},
                   "answer": {"type": ["string", "null"], "enum": ["coming", "not_coming", None],
                              "description": "null: no answer yet"},
                   "answered_at": {"type": ["string", "null"], "format": "date-time"}},
}


def _parse(value: str, kind, field: str, hint: str):
    try:
        return kind(value)
    except ValueError:
        raise ApiInputError(f"Use {hint}.", field=field) from None


def _iso_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _fold(starts: datetime, tzid: str) -> tuple[datetime, int | None]:
    """The local time without its offset, and which occurrence the offset picks when the time occurs twice."""
    offset, naive = starts.utcoffset(), starts.replace(tzinfo=None)
    if offset is None:
        return naive, None
    first, second = scheduling.offsets_at(naive, tzid)
    if offset not in (first, second):
        raise ApiInputError(f"{naive:%Y-%m-%dT%H:%M} in {tzid} is at UTC{_iso_offset(first)}, not "
                            f"{_iso_offset(offset)}: give the local time in `timezone`.", field="starts_at")
    return naive, (None if first == second else 0 if offset == first else 1)


def _when(body: dict, default_minutes: int, tzid: str) -> tuple[datetime, int, int | None]:
    starts_local, fold = _fold(_parse(body["starts_at"], datetime.fromisoformat, "starts_at", "YYYY-MM-DDTHH:MM"),
                               tzid)
    if "ends_at" in body:
        end = _parse(body["ends_at"], lambda v: datetime.strptime(v, "%H:%M").time(), "ends_at", "HH:MM")
        return (starts_local, scheduling.minutes_between(starts_local, datetime.combine(starts_local.date(), end)),
                fold)
    return starts_local, body.get("duration_minutes", default_minutes), fold


def _ambiguous(exc: scheduling.AmbiguousTimeError, starts_local: datetime) -> ApiInputError:
    local, (summer, winter) = f"{exc.local:%Y-%m-%dT%H:%M}", exc.offsets
    how = (f"give its offset: {local}{_iso_offset(summer)} (summer time) or {local}{_iso_offset(winter)} "
           "(winter time)" if exc.local.date() == starts_local.date()
           else "schedule that date on its own with its offset, or choose another time")
    return ApiInputError(f"{local} occurs twice in {exc.tzid} (the clocks go back an hour that night): {how}.",
                         field="starts_at")


#: Columns the API shows as they are stored.
_PLAIN_FIELDS = ("id", "course_id", "series_id", "title", "description", "timezone", "duration_minutes", "recorded",
                 "lobby_minutes", "sequence")


def session_json(workshop_session: WorkshopSession) -> dict:
    """The API representation of a live session (no room name or token: those are minted on join)."""
    return {
        **{name: getattr(workshop_session, name) for name in _PLAIN_FIELDS},
        "kind": workshop_session.kind.value, "status": workshop_session.status.value,
        "starts_at": workshop_session.starts_at.isoformat(),
        "local_start": workshop_session.local_start.strftime("%Y-%m-%dT%H:%M"),
        "invitee_ids": None if workshop_session.invite_whole_course else [p.id for p in workshop_session.invitees],
    }


def _invitees(course: Course, ids: list[int] | None):
    if ids is None:
        return None
    by_id = {p.id: p for p in course_parents(course)}
    if any(i not in by_id for i in ids):
        raise ApiInputError("Every invitee must be a parent of this course.", field="invitee_ids")
    return [by_id[i] for i in ids]


def _schedule(course: Course, body: dict) -> list[WorkshopSession]:
    tzid = body.get("timezone", course.timezone)
    starts_local, minutes, fold = _when(body, 60, tzid)
    try:
        return _schedule_at(course, body, starts_local, minutes, fold=fold)
    except scheduling.AmbiguousTimeError as exc:
        raise _ambiguous(exc, starts_local) from None


def _schedule_at(course: Course, body: dict, starts_local: datetime, minutes: int, *,
                 fold: int | None) -> list[WorkshopSession]:
    values = dict(title=body["title"], timezone=body.get("timezone", course.timezone), duration_minutes=minutes,
                  kind=SessionKind(body.get("kind", "workshop")), recorded=body.get("recorded", False),
                  description=body.get("description", ""), lobby_minutes=body.get("lobby_minutes", 15),
                  invitees=_invitees(course, body.get("invitee_ids")), fold=fold)
    if "count" in body or "until" in body:
        until = _parse(body["until"], date.fromisoformat, "until", "YYYY-MM-DD") if "until" in body else None
        series = scheduling.schedule_series(course, first_local=starts_local, count=body.get("count"), until=until,
                                            **values)
        return list(series.sessions)
    return [scheduling.schedule_session(course, starts_local=starts_local, **values)]


@operation("/courses/<int:course_id>/sessions", summary="List a course's live sessions, in time order",
           tag="sessions", response=SESSION_SCHEMA, paginated=True, errors=(404,))
@token_required
def list_sessions(course_id: int):
    course = api_course_or_404(course_id)
    query = (select(WorkshopSession).where(WorkshopSession.course_id == course.id)
             .options(selectinload(WorkshopSession.invitees)))
    page = paginate(query, WorkshopSession.starts_at, WorkshopSession.id)
    return page.response([session_json(s) for s in page.rows])


@operation("/courses/<int:course_id>/sessions", "POST", summary="Schedule one session or a weekly series",
           tag="sessions", response=SESSION_LIST, status=201, request=SCHEDULE_INPUT, errors=(404, 422))
@token_required
def schedule_sessions(course_id: int):
    course = api_course_or_404(course_id)
    try:
        created = _schedule(course, json_body(SCHEDULE_INPUT))
    except DomainError:
        db.session.rollback()
        raise
    db.session.commit()
    return jsonify([session_json(s) for s in created]), 201


@operation("/sessions/<int:session_id>", "PATCH", summary="Move one date of a session", tag="sessions",
           response=SESSION_SCHEMA, request=RESCHEDULE_INPUT, errors=(404, 422))
@token_required
def reschedule_session(session_id: int):
    workshop_session = api_session_or_404(session_id)
    body = json_body(RESCHEDULE_INPUT)
    try:
        starts_local, minutes, fold = _when(body, workshop_session.duration_minutes,
                                            body.get("timezone") or workshop_session.timezone)
        try:
            scheduling.reschedule_session(workshop_session, starts_local=starts_local, timezone=body.get("timezone"),
                                          duration_minutes=minutes, fold=fold)
        except scheduling.AmbiguousTimeError as exc:
            raise _ambiguous(exc, starts_local) from None
    except DomainError:
        db.session.rollback()
        raise
    db.session.commit()
    return jsonify(session_json(workshop_session))


@operation("/sessions/<int:session_id>", "DELETE", summary="Cancel one date", tag="sessions",
           response=SESSION_SCHEMA, errors=(404,))
@token_required
def cancel_session(session_id: int):
    workshop_session = api_session_or_404(session_id)
    scheduling.cancel_session(workshop_session)
    db.session.commit()
    return jsonify(session_json(workshop_session))


@operation("/series/<int:series_id>", "DELETE", summary="Cancel every remaining date of a series", tag="sessions",
           response=SESSION_LIST, errors=(404,))
@token_required
def cancel_series(series_id: int):
    series = db.session.get(WorkshopSeries, series_id)
    if series is None or not can_manage(g.api_user, series.course):
        abort(404)
    cancelled = scheduling.cancel_series(series)
    db.session.commit()
    return jsonify([session_json(s) for s in cancelled])


def _invitees_query(workshop_session: WorkshopSession) -> Select:
    # The parents of services.invitees_of, as a query so that the page is cut in SQL.
    if workshop_session.invite_whole_course:
        return select(Parent).join(Enrolment).where(Enrolment.course_id == workshop_session.course_id)
    return select(Parent).join(session_invitees).where(session_invitees.c.session_id == workshop_session.id)


@operation("/sessions/<int:session_id>/attendance", summary="Attendance per invited parent, by name", tag="sessions",
           response=ATTENDANCE_SCHEMA, paginated=True, errors=(404,))
@token_required
def session_attendance(session_id: int):
    workshop_session = api_session_or_404(session_id)
    page = paginate(_invitees_query(workshop_session), Parent.name, Parent.id)
    rows = services.attendance(workshop_session, parents=page.rows)  # figures for this page's parents only
    return page.response([{"parent_id": r.parent.id, "name": r.parent.name, "attended": r.attended,
                           "minutes": r.minutes} for r in rows])


@operation("/sessions/<int:session_id>/rsvps", tag="sessions", response=RSVP_SCHEMA, paginated=True, errors=(404,),
           summary="Who comes: each invited parent's answer to the reminder, by name (case-insensitive)")
@token_required
def session_rsvps(session_id: int):
    workshop_session = api_session_or_404(session_id)
    page = paginate(_invitees_query(workshop_session), func.lower(Parent.name, type_=String), Parent.id)
    query = select(Rsvp).where(Rsvp.session_id == workshop_session.id, Rsvp.parent_id.in_([p.id for p in page.rows]))
    answers = {r.parent_id: r for r in db.session.scalars(query)} if page.rows else {}
    return page.response([{"parent_id": p.id, "name": p.name,
                           "answer": answers[p.id].answer.value if p.id in answers else None,
                           "answered_at": answers[p.id].answered_at.isoformat() if p.id in answers else None}
                          for p in page.rows])
