"""Who may act on a workshop session or series: the one place each check lives (pages 403, the API 404)."""

from __future__ import annotations

from flask import abort, g
from flask_login import current_user

from core.extensions import db
from courses.services import can_manage
from sessions.models import WorkshopSeries, WorkshopSession


def session_or_403(session_id: int) -> WorkshopSession:
    """The workshop session, if the logged-in user may manage its course; 404 when unknown, 403 when not theirs."""
    workshop_session = db.get_or_404(WorkshopSession, session_id)
    if not can_manage(current_user, workshop_session.course):
        abort(403)
    return workshop_session


def series_or_403(series_id: int) -> WorkshopSeries:
    """The series, if the logged-in user may manage its course; 404 when unknown, 403 when not theirs."""
    series = db.get_or_404(WorkshopSeries, series_id)
    if not can_manage(current_user, series.course):
        abort(403)
    return series


def api_session_or_404(session_id: int) -> WorkshopSession:
    """The workshop session, if the API token's owner may manage its course; 404 otherwise."""
    workshop_session = db.session.get(WorkshopSession, session_id)
    if workshop_session is None or not can_manage(g.api_user, workshop_session.course):
        abort(404)
    return workshop_session
