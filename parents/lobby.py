"""The parent-facing lobby of a live session, reached through the parent's personal link (blueprint `lobby`)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _

from core.db import utcnow
from core.errors import DomainError
from core.extensions import db, limiter
from core.ratelimits import configured
from courses.models import Parent
from parents.access import page_language, parent_or_404, private
from sessions import services
from sessions.forms import ConsentForm
from sessions.models import AttendanceKind, WorkshopSession

bp = Blueprint("lobby", __name__, url_prefix="/p/<token>/s/<int:session_id>")

RATE_LIMIT = configured("RATELIMIT_PERSONAL_LINK")  # per link, see core.ratelimits
#: Events the page may post; a join click is logged by the server itself when it mints the token.
PAGE_EVENTS = {"joined": AttendanceKind.joined, "left": AttendanceKind.left}


def _lobby_or_404(token: str, session_id: int) -> tuple[Parent, WorkshopSession]:
    # Unknown links, other parents' sessions and uninvited parents all get the same 404.
    parent = parent_or_404(token)
    session = db.session.get(WorkshopSession, session_id)
    if session is None or not services.is_invited(session, parent):
        abort(404)
    return parent, session


def _setup(session: WorkshopSession, parent: Parent, language: str, *, objected: bool | None = None) -> dict:
    """Mint the token, log the join click and return the IFrame setup (the caller commits)."""
    if objected is None:
        objected = session.recorded and services.has_objected(session, parent)
    setup = services.join_setup(session, parent, lang=language, camera_off=session.recorded and objected)
    services.record_attendance(session, parent, AttendanceKind.join_click)
    return setup


@bp.route("", methods=["GET"])
@limiter.limit(RATE_LIMIT)
def show(token: str, session_id: int):
    parent, session = _lobby_or_404(token, session_id)
    language = page_language(parent)
    objected = session.recorded and services.has_objected(session, parent)
    state, setup = services.lobby_state(session), None
    if state == services.OPEN:
        try:
            setup = _setup(session, parent, language, objected=objected)
        except DomainError:
            state = services.WAITING  # e.g. clock edge; the page fetches the setup when it retries
    seconds_left = max(0, int((session.opens_at - utcnow()).total_seconds()))
    with force_locale(language):
        html = render_template("sessions/lobby.html", parent=parent, session=session, state=state, setup=setup,
                               token=token, seconds_left=seconds_left, consent_form=ConsentForm(),
                               objected=objected)
    if setup is not None:
        db.session.commit()  # after rendering: a commit expires every row, which the template would load again
    return private(make_response(html))


@bp.route("/join.json", methods=["GET"])
@limiter.limit(RATE_LIMIT)
def join_json(token: str, session_id: int):
    parent, session = _lobby_or_404(token, session_id)
    state = services.lobby_state(session)
    if state == services.WAITING:
        seconds = max(1, int((session.opens_at - utcnow()).total_seconds()))
        return private(make_response(jsonify(state=state, opens_in=seconds), 409))
    if state != services.OPEN:
        return private(make_response(jsonify(state=state), 410))
    try:
        setup = _setup(session, parent, page_language(parent))
    except DomainError as exc:
        return private(make_response(jsonify(state=state, error=str(exc.message)), 409))
    db.session.commit()
    return private(make_response(jsonify(state=state, setup=setup)))


@bp.route("/events", methods=["POST"])
@limiter.limit(RATE_LIMIT)
def event(token: str, session_id: int):
    parent, session = _lobby_or_404(token, session_id)
    body = request.get_json(silent=True) if request.is_json else request.form
    kind = PAGE_EVENTS.get((body or {}).get("event", ""))
    if kind is None:
        return jsonify(error="unknown event"), 400
    try:
        services.record_attendance(session, parent, kind, user_id=(body or {}).get("user_id"))
    except services.AttendanceError as exc:
        db.session.rollback()
        return jsonify(error=str(exc.message)), 403 if exc.field == "user_id" else 409
    db.session.commit()
    return "", 204


@bp.route("/consent", methods=["POST"])
@limiter.limit(RATE_LIMIT)
def consent(token: str, session_id: int):
    parent, session = _lobby_or_404(token, session_id)
    form = ConsentForm()
    language = page_language(parent)
    if form.validate_on_submit() and session.recorded:
        services.record_consent(session, parent, objected=form.choice.data == "object")
        db.session.commit()
        with force_locale(language):
            flash(_("Je keuze is opgeslagen. Je kunt met je camera uit meedoen.") if form.choice.data == "object"
                  else _("Je keuze is opgeslagen."), "info")
    return redirect(url_for("lobby.show", token=token, session_id=session.id))


@bp.route("/help", methods=["POST"])
@limiter.limit("5 per minute")
def cannot_get_in(token: str, session_id: int):
    parent, session = _lobby_or_404(token, session_id)
    services.request_help(session, parent)
    db.session.commit()
    with force_locale(page_language(parent)):
        flash(_("De trainer weet nu dat je niet binnenkomt en neemt contact met je op."), "info")
    return redirect(url_for("lobby.show", token=token, session_id=session.id))
