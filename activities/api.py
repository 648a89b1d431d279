"""Home activities and the parents' responses in the JSON API (read-only)."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from accounts.api import token_required
from activities import figures
from activities.media import signed_url
from activities.models import ActivityResponse, HomeActivity, MediaState
from core.api import operation, paginate
from core.urls import external_url
from courses.access import api_course_or_404

ACTIVITY_SCHEMA = {
    "type": "object",
    "required": ["id", "course_id", "session_id", "title", "body", "request_kinds", "request_text", "due_on",
                 "responded", "asked", "created_at", "inbox_url"],
    "properties": {
        "id": {"type": "integer"},
        "course_id": {"type": "integer"},
        "session_id": {"type": ["integer", "null"]},
        "title": {"type": "string"},
        "body": {"type": "string"},
        "request_kinds": {"type": "array", "items": {"type": "string", "enum": ["photo", "clip", "voice", "text"]},
                          "description": "What the trainer would like back; empty: no request"},
        "request_text": {"type": "string"},
        "due_on": {"type": ["string", "null"], "format": "date"},
        "translations": {"type": "object", "description": "Per language: title, body and request_text"},
        "responded": {"type": "integer", "description": "Parents who answered"},
        "asked": {"type": "integer", "description": "Parents asked (0 without a request)"},
        "created_at": {"type": "string", "format": "date-time"},
        "inbox_url": {"type": "string"},
    },
}

RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["id", "activity_id", "parent_id", "kind", "text", "state", "created_at", "media_url"],
    "properties": {
        "id": {"type": "integer"},
        "activity_id": {"type": "integer"},
        "parent_id": {"type": "integer"},
        "kind": {"type": "string", "enum": ["photo", "clip", "voice", "text"]},
        "text": {"type": "string"},
        "state": {"type": "string", "enum": ["processing", "ready", "failed"]},
        "content_type": {"type": ["string", "null"]},
        "duration_s": {"type": ["number", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "media_url": {"type": ["string", "null"],
                      "description": "Short-lived signed URL of the photo, clip or voice message (PLAYBACK_URL_TTL_SECONDS)"},
    },
}


def activity_json(activity: HomeActivity, counts: figures.Answered) -> dict:
    """The API representation of a home activity."""
    return {
        "id": activity.id, "course_id": activity.course_id, "session_id": activity.session_id,
        "title": activity.title, "body": activity.body, "request_kinds": [k.value for k in activity.requested],
        "request_text": activity.request_text, "due_on": activity.due_on.isoformat() if activity.due_on else None,
        "translations": activity.translations or {}, "responded": counts.answered, "asked": counts.asked,
        "created_at": activity.created_at.isoformat(),
        "inbox_url": external_url("activities.inbox", course_id=activity.course_id, activity_id=activity.id),
    }


def response_json(response: ActivityResponse) -> dict:
    """The API representation of a parent's response, with a short-lived URL of its file when it is ready."""
    url = None
    if response.media_key and response.state is MediaState.ready:
        url = signed_url(response.media_key)
        url = url if "://" in url else current_app.config["PUBLIC_BASE_URL"] + url
    return {
        "id": response.id, "activity_id": response.activity_id, "parent_id": response.parent_id,
        "kind": response.kind.value, "text": response.text, "state": response.state.value,
        "content_type": response.content_type if response.media_key else None, "duration_s": response.duration_s,
        "created_at": response.created_at.isoformat(), "media_url": url,
    }


@operation("/courses/<int:course_id>/activities", summary="The home activities of a course, newest first",
           tag="activities", errors=(404,), response=ACTIVITY_SCHEMA, paginated=True, deprecated_key="activities")
@token_required
def list_activities(course_id: int):
    query = select(HomeActivity).where(HomeActivity.course_id == api_course_or_404(course_id).id)
    page = paginate(query, HomeActivity.created_at, HomeActivity.id, descending=True)
    counts = figures.activity_counts(page.rows)
    return page.response([activity_json(a, counts[a.id]) for a in page.rows], deprecated_key="activities")


@operation("/courses/<int:course_id>/responses", summary="The parents' responses to a course's home activities, oldest "
           "first", tag="activities", errors=(404,), response=RESPONSE_SCHEMA, paginated=True,
           deprecated_key="responses")
@token_required
def list_responses(course_id: int):
    activities = select(HomeActivity.id).where(HomeActivity.course_id == api_course_or_404(course_id).id)
    page = paginate(select(ActivityResponse).where(ActivityResponse.activity_id.in_(activities)),
                    ActivityResponse.created_at, ActivityResponse.id)
    return page.response([response_json(r) for r in page.rows], deprecated_key="responses")
