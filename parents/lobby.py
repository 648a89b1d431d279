"""The parent-facing lobby of a live session, reached through the parent's personal link (blueprint `lobby`)."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale, format_date, format_time, format_timedelta
from flask_babel import gettext as _

from core.db import utcnow
from core.errors import DomainError
from core.extensions import db, limiter
from core.ratelimits import configured, one_trip_limit
from courses.forms import RecordingConsentForm
from courses.models import Parent
from parents import lobby_pass
from parents.access import page_language, parent_or_404, private, route_map_token
from parents.consent import CAMERA_OFF_NOTICE, consent_items, consent_saved, forget_lobby_passes
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


def _setup(session: WorkshopSession, parent: Parent, language: str, *, camera_off: bool | None = None) -> dict:
    """Mint the token, log the join click and return the IFrame setup (the caller commits). A parent without
    consent in a recorded session joins with the camera off, told why (`camera_off`, `notice`)."""
    if camera_off is None:
        camera_off = services.lacks_consent(session, parent)
    setup = services.join_setup(session, parent, lang=language, camera_off=camera_off)
    if camera_off:
        with force_locale(language):
            setup |= {"camera_off": True, "notice": str(CAMERA_OFF_NOTICE)}
    services.record_attendance(session, parent, AttendanceKind.join_click)
    return setup


def _page_texts(session: WorkshopSession, token: str) -> dict:
    """The lobby page's dates and times in the current locale, its way back, the trainer's phone, the timeout."""
    start, end, opens = session.local_start, session.local_end, session.opens_at.astimezone(session.local_start.tzinfo)
    phone = next((t.phone for t in session.course.trainers if t.phone and t.active), None)
    seconds_left = max(0, int((session.opens_at - utcnow()).total_seconds()))
    return {"date_text": format_date(start.date(), "full"), "start_text": format_time(start, "short", rebase=False),
            "end_text": format_time(end, "short", rebase=False),
            "opens_text": format_time(opens, "short", rebase=False),
            "opens_date": format_date(opens.date(), "full"),
            "opens_in": format_timedelta(timedelta(seconds=seconds_left), add_direction=True) if seconds_left else "",
            "back_url": url_for("parents.route_map", token=token) if route_map_token(token) else None,
            "trainer_phone": phone, "connect_timeout": current_app.config.get("JITSI_LOAD_TIMEOUT_S", 20)}


@bp.route("", methods=["GET"])
@limiter.limit(RATE_LIMIT)
def show(token: str, session_id: int):
    generation = lobby_pass.current_generation(session_id)  # before the session row: see lobby_pass
    parent, session = _lobby_or_404(token, session_id)
    language = page_language(parent)
    with force_locale(language):  # before the join click's INSERT: nothing is read after it
        texts = _page_texts(session, token)
    with force_locale(language):  # the recorded session's consent question (one query), in the page's language
        consent = consent_items(parent, [session.course]) if session.recorded else []
    camera_off = bool(consent) and consent[0].answer not in ("yes", "trainer")
    state, setup = services.lobby_state(session), None
    if state == services.OPEN:
        try:
            setup = _setup(session, parent, language, camera_off=camera_off)
        except DomainError:
            state = services.WAITING  # e.g. clock edge; the page fetches the setup when it retries
    seconds_left = max(0, int((session.opens_at - utcnow()).total_seconds()))
    with force_locale(language):
        html = render_template("parents/lobby.html", parent=parent, session=session, state=state, setup=setup,
                               token=token, seconds_left=seconds_left, consent_form=RecordingConsentForm(),
                               consent_items=consent, objected=camera_off, camera_off=camera_off,
                               **texts)
    lobby_pass.keep_pass(parent, session, language, generation, setup)  # this visit's polls answer from it
    if setup is not None:
        db.session.commit()  # after rendering: a commit expires every row, which the template would load again
    return private(make_response(html))


@bp.route("/join.json", methods=["GET"])
@limiter.exempt
@one_trip_limit(limiter, RATE_LIMIT, scope="lobby.join_json")
def join_json(token: str, session_id: int):
    # One indexed read (the parent) and one cache read (the pass); the full checks only without a pass.
    parent = parent_or_404(token)
    language = page_language(parent)
    kept, generation = lobby_pass.find_pass(parent, session_id, language)
    if kept is None or (kept.setup is None and kept.state() == services.OPEN):
        session = db.session.get(WorkshopSession, session_id)
        if session is None or not services.is_invited(session, parent):
            abort(404)
        setup = None
        if services.lobby_state(session) == services.OPEN:
            try:
                setup = _setup(session, parent, language)  # this visit's join click
            except DomainError as exc:
                return private(make_response(jsonify(state=services.OPEN, error=str(exc.message)), 409))
        kept = lobby_pass.keep_pass(parent, session, language, generation, setup)
        db.session.commit()
    state = kept.state()
    if state == services.WAITING:
        return private(make_response(jsonify(state=state, opens_in=kept.opens_in()), 409))
    if state != services.OPEN or kept.setup is None:
        return private(make_response(jsonify(state=state), 410 if state != services.OPEN else 409))
    return private(make_response(jsonify(state=state, setup=kept.setup)))


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
    if form.validate_on_submit():  # the answer holds for the whole course (parents.consent)
        services.record_consent(session, parent, objected=form.choice.data == "object")
        db.session.commit()
        forget_lobby_passes(parent, session.course_id)
        with force_locale(language):
            flash(consent_saved(form.choice.data != "object"), "info")
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
