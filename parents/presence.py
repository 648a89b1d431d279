"""The lobby page's "still in the conference" heartbeat (blueprint `presence`; static/js/presence.js posts it)."""

from __future__ import annotations

from flask import Blueprint, jsonify, make_response

from core.extensions import db, limiter
from core.ratelimits import configured
from parents.access import parent_or_404, private
from sessions import presence

bp = Blueprint("presence", __name__, url_prefix="/p/<token>/s/<int:session_id>")

RATE_LIMIT = configured("RATELIMIT_PERSONAL_LINK")  # per link, like the lobby's other routes


@bp.route("/presence", methods=["POST"])
@limiter.limit(RATE_LIMIT)
def heartbeat(token: str, session_id: int):
    # One indexed read (the parent) and one UPDATE of the visit's heartbeat row. The invitation and the open room
    # were checked when the page's `joined` started that row (parents.lobby `event`); without one nothing is
    # written and the page is told to post its `joined` again (409).
    parent = parent_or_404(token)
    if not presence.heartbeat(session_id, parent):
        db.session.rollback()
        return private(make_response(jsonify(error="not joined", next_s=presence.HEARTBEAT_S), 409))
    db.session.commit()
    return private(make_response(jsonify(next_s=presence.HEARTBEAT_S)))
