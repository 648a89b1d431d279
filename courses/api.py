"""Courses in the JSON API."""

from __future__ import annotations

from flask import g, jsonify

from accounts.api import token_required
from core.api import operation
from core.urls import external_url
from courses import services
from courses.models import Course

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
        "url": {"type": "string"},
    },
}


def course_json(course: Course) -> dict:
    """The API representation of a course."""
    return {
        "id": course.id, "title": course.title, "description": course.description, "language": course.language,
        "timezone": course.timezone, "retention_days": course.retention_days,
        "starts_on": course.starts_on.isoformat() if course.starts_on else None,
        "ends_on": course.ends_on.isoformat() if course.ends_on else None,
        "url": external_url("courses.detail", course_id=course.id),
    }


@operation("/courses", summary="Courses the token's owner may manage", tag="courses",
           response={"type": "object", "required": ["courses"],
                     "properties": {"courses": {"type": "array", "items": COURSE_SCHEMA}}})
@token_required
def list_courses():
    return jsonify({"courses": [course_json(c) for c in services.courses_for(g.api_user)]})
