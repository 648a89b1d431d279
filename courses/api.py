"""Courses and their parents in the JSON API."""

from __future__ import annotations

from datetime import date

from flask import g, jsonify
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from accounts import audit
from accounts.api import token_required
from accounts.models import User
from core.api import ApiInputError, json_body, operation, paginate
from core.extensions import db
from core.urls import external_url
from courses import links, services
from courses.access import api_course_or_404, parent_or_404
from courses.models import Course, Enrolment, Parent

COURSE_SCHEMA = {
    "type": "object",
    "required": ["id", "title", "language", "timezone", "url"],
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "language": {"type": "string"},
        "timezone": {"type": "string"},
        "starts_on": {"type": ["string", "null"], "format": "date"},
        "ends_on": {"type": ["string", "null"], "format": "date"},
        "retention_days": {"type": "integer"},
        "reminder_offsets": {"type": "array", "items": {"type": "integer"},
                             "description": "Minutes before each session that reminders go out"},
        "trainer_ids": {"type": "array", "items": {"type": "integer"}},
        "archived": {"type": "boolean"},
        "publish_automatically": {"type": "boolean",
                                  "description": "New recordings reach parents without the trainer's review"},
        "url": {"type": "string"},
    },
}

COURSE_INPUT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "title": {"type": "string", "maxLength": 200},
        "description": {"type": "string", "maxLength": 5000},
        "language": {"type": "string", "maxLength": 8},
        "timezone": {"type": "string", "maxLength": 64, "description": "IANA zone, default Europe/Amsterdam"},
        "starts_on": {"type": ["string", "null"], "format": "date"},
        "ends_on": {"type": ["string", "null"], "format": "date"},
        "retention_days": {"type": "integer", "minimum": 1, "maximum": 365},
        "reminder_offsets": {"type": "array", "maxItems": 3,
                             "items": {"type": "integer", "enum": [10080, 2880, 1440, 180, 60, 15]},
                             "description": "Minutes before each session (1 week ... 15 min); [] = no reminders"},
        "trainer_ids": {"type": "array", "items": {"type": "integer"},
                        "description": "Coordinators only; a trainer's own courses are theirs"},
        "publish_automatically": {"type": "boolean"},
    },
}

PARENT_SCHEMA = {
    "type": "object",
    "required": ["id", "name", "email", "phone", "language", "personal_link", "calendar_feed"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "email": {"type": ["string", "null"]},
        "phone": {"type": ["string", "null"], "description": "E.164"},
        "language": {"type": "string"},
        "consent_recording": {"type": "boolean"},
        "contact_email": {"type": "boolean"},
        "contact_sms": {"type": "boolean"},
        "contact_whatsapp": {"type": "boolean"},
        "personal_link": {"type": ["string", "null"]},
        "calendar_feed": {"type": ["string", "null"]},
    },
}

PARENT_INPUT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 200},
        "email": {"type": ["string", "null"], "maxLength": 254},
        "phone": {"type": ["string", "null"], "maxLength": 40, "description": "Dutch numbers may leave out +31"},
        "language": {"type": "string", "maxLength": 8},
        "consent_recording": {"type": "boolean"},
        "contact_email": {"type": "boolean"},
        "contact_sms": {"type": "boolean"},
        "contact_whatsapp": {"type": "boolean"},
    },
}

def _date(body: dict, name: str) -> None:
    if body.get(name) is not None:
        try:
            body[name] = date.fromisoformat(body[name])
        except ValueError:
            raise ApiInputError("Use a date as YYYY-MM-DD.", field=name) from None


def _course_values(body: dict) -> dict:
    for name in ("starts_on", "ends_on"):
        _date(body, name)
    if "trainer_ids" in body:
        if not g.api_user.is_coordinator:
            raise ApiInputError("Only coordinators assign trainers.", field="trainer_ids")
        body["trainers"] = services.find_trainers(body.pop("trainer_ids"), g.api_user.organisation_id)
    return body


def course_json(course: Course) -> dict:
    """The API representation of a course."""
    return {
        "id": course.id, "title": course.title, "description": course.description, "language": course.language,
        "timezone": course.timezone, "retention_days": course.retention_days,
        "publish_automatically": course.publish_automatically,
        "reminder_offsets": list(course.reminder_offsets),
        "starts_on": course.starts_on.isoformat() if course.starts_on else None,
        "ends_on": course.ends_on.isoformat() if course.ends_on else None,
        "trainer_ids": [t.id for t in course.trainers], "archived": course.archived_at is not None,
        "url": external_url("dashboard.course", course_id=course.id),
    }


def parent_links(parent: Parent, personal_link: str | None = None, *, token: str | None = ...) -> dict:
    """The parent's links: the personal link only in the response that issued it (only its hash is stored).

    :param token: the parent's calendar token when the caller read it already (a list reads them all at once).
    """
    if token is ...:
        token = links.parent_feed_token(parent)  # None while the parent's access is revoked
    return {"personal_link": personal_link, "calendar_feed": links.feed_urls(token)["https"] if token else None}


def parent_json(parent: Parent, personal_link: str | None = None, *, token: str | None = ...) -> dict:
    """The API representation of a parent (with the personal link only when it was just issued)."""
    return {
        "id": parent.id, "name": parent.name, "email": parent.email, "phone": parent.phone,
        "language": parent.language, "consent_recording": parent.consent_recording,
        "contact_email": parent.contact_email, "contact_sms": parent.contact_sms,
        "contact_whatsapp": parent.contact_whatsapp,
        **parent_links(parent, personal_link, token=token),
    }


@operation("/courses", summary="Courses the token's owner may manage, by title", tag="courses",
           response=COURSE_SCHEMA, paginated=True, deprecated_key="courses")
@token_required
def list_courses():
    # The same courses as services.courses_for, as a query so that the page is cut in SQL.
    query = select(Course).where(Course.archived_at.is_(None)).options(selectinload(Course.trainers))
    if not g.api_user.is_coordinator:
        query = query.where(Course.trainers.any(User.id == g.api_user.id))
    page = paginate(query, Course.title, Course.id)
    return page.response([course_json(c) for c in page.rows], deprecated_key="courses")


@operation("/courses", "POST", summary="Create a course", tag="courses", response=COURSE_SCHEMA, status=201,
           request={**COURSE_INPUT, "required": ["title"]}, errors=(422,))
@token_required
def create_course():
    values = _course_values(json_body(COURSE_INPUT, required=("title",)))
    values.setdefault("trainers", [g.api_user])
    values.setdefault("language", g.api_user.organisation.language)
    values.setdefault("retention_days", g.api_user.organisation.retention_days)
    course = services.create_course(**values)
    db.session.commit()
    return jsonify(course_json(course)), 201


@operation("/courses/<int:course_id>", summary="One course", tag="courses", response=COURSE_SCHEMA, errors=(404,))
@token_required
def get_course(course_id: int):
    return jsonify(course_json(api_course_or_404(course_id)))


@operation("/courses/<int:course_id>", "PATCH", summary="Change a course", tag="courses", response=COURSE_SCHEMA,
           request=COURSE_INPUT, errors=(404, 422))
@token_required
def update_course(course_id: int):
    course = api_course_or_404(course_id)
    services.update_course(course, **_course_values(json_body(COURSE_INPUT)))
    db.session.commit()
    return jsonify(course_json(course))


@operation("/courses/<int:course_id>/archive", "POST", summary="Archive a course", tag="courses",
           response=COURSE_SCHEMA, errors=(404,))
@token_required
def archive_course(course_id: int):
    course = api_course_or_404(course_id)
    services.archive_course(course)
    db.session.commit()
    return jsonify(course_json(course))


@operation("/courses/<int:course_id>/parents", summary="The parents enrolled in a course, by name", tag="parents",
           response=PARENT_SCHEMA, paginated=True, deprecated_key="parents", errors=(404,))
@token_required
def list_parents(course_id: int):
    course = api_course_or_404(course_id)
    page = paginate(select(Parent).join(Enrolment).where(Enrolment.course_id == course.id), Parent.name, Parent.id)
    tokens = links.parent_feed_tokens(page.rows)  # one query for the page, not one per parent
    items = [parent_json(p, token=tokens.get(p.id)) for p in page.rows]
    audit.record("parents.exported", count=len(items))
    db.session.commit()
    return page.response(items, deprecated_key="parents")


@operation("/courses/<int:course_id>/parents", "POST", tag="parents", response=PARENT_SCHEMA, status=201,
           summary="Enrol a parent; a parent with the same e-mail or phone is enrolled instead of duplicated",
           request={**PARENT_INPUT, "required": ["name"]}, errors=(404, 422))
@token_required
def enrol_parent(course_id: int):
    course = api_course_or_404(course_id)
    body = json_body(PARENT_INPUT, required=("name",))
    parent, created = services.enrol_parent(course, **body)
    link = links.send_welcome_message(parent) if created else None
    body = parent_json(parent, link)
    db.session.commit()
    return jsonify(body), 201


@operation("/courses/<int:course_id>/parents/<int:parent_id>/link", "POST", tag="parents", response=PARENT_SCHEMA,
           summary="Issue a new personal link (the old one stops working) and send the welcome message again",
           errors=(404,))
@token_required
def reissue_link(course_id: int, parent_id: int):
    parent = parent_or_404(api_course_or_404(course_id), parent_id)
    link = links.reissue_access(parent)
    audit.record("link.reissued", parent=parent)
    body = parent_json(parent, link)
    db.session.commit()
    return jsonify(body)


@operation("/courses/<int:course_id>/parents/<int:parent_id>/link", "DELETE", tag="parents", response={"type": "null"},
           summary="Revoke the parent's personal link and calendar token: every link of theirs stops working",
           status=204, errors=(404,))
@token_required
def revoke_link(course_id: int, parent_id: int):
    parent = parent_or_404(api_course_or_404(course_id), parent_id)
    links.revoke_access(parent)
    audit.record("link.revoked", parent=parent)
    db.session.commit()
    return "", 204


@operation("/courses/<int:course_id>/parents/<int:parent_id>", "PATCH", summary="Change a parent's details",
           tag="parents", response=PARENT_SCHEMA, request=PARENT_INPUT, errors=(404, 422))
@token_required
def update_parent(course_id: int, parent_id: int):
    parent = parent_or_404(api_course_or_404(course_id), parent_id)
    services.update_parent(parent, **json_body(PARENT_INPUT))
    body = parent_json(parent)
    db.session.commit()
    return jsonify(body)


@operation("/courses/<int:course_id>/parents/<int:parent_id>", "DELETE", summary="Take a parent out of a course",
           tag="parents", response={"type": "null"}, status=204, errors=(404,))
@token_required
def remove_parent(course_id: int, parent_id: int):
    course = api_course_or_404(course_id)
    services.remove_from_course(course, parent_or_404(course, parent_id))
    db.session.commit()
    return "", 204
