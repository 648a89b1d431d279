"""Trainer pages for live sessions: schedule, move, cancel, join as moderator, consent, attendance, answers and
messages that did not arrive."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms import SelectChoice

from accounts.forms import EmptyForm
from core.errors import DomainError, show_error
from core.extensions import db
from courses.forms import REMINDER_CHOICES
from courses.models import Course
from courses.services import can_manage, course_parents
from sessions import deliveries, services
from sessions.forms import MoveForm, ScheduleForm
from sessions.models import SessionKind, WorkshopSeries, WorkshopSession
from sessions.rsvp import rsvp_overview

bp = Blueprint("sessions", __name__)


def get_course_or_403(course_id: int) -> Course:
    """The course, if the current user may manage it; 404 when unknown, 403 when not theirs."""
    course = db.get_or_404(Course, course_id)
    if not can_manage(current_user, course):
        abort(403)
    return course


def get_session_or_403(session_id: int) -> WorkshopSession:
    """The session, if the current user may manage its course."""
    session = db.get_or_404(WorkshopSession, session_id)
    if not can_manage(current_user, session.course):
        abort(403)
    return session


def _when(form) -> tuple[datetime, int]:
    starts_local = form.starts_at.data
    ends_local = datetime.combine(starts_local.date(), form.ends_at.data)
    return starts_local, services.minutes_between(starts_local, ends_local)


def _schedule(course: Course, form: ScheduleForm) -> list[WorkshopSession]:
    starts_local, minutes = _when(form)
    invitees = None
    if form.invite.data == "chosen":
        chosen = set(form.invitees.data or [])
        invitees = [p for p in course_parents(course) if p.id in chosen]
    values = dict(title=form.title.data, timezone=form.timezone.data.strip(), duration_minutes=minutes,
                  kind=SessionKind(form.kind.data), recorded=form.recorded.data,
                  description=form.description.data or "", lobby_minutes=form.lobby_minutes.data, invitees=invitees)
    if form.repeat.data == "weekly":
        series = services.schedule_series(course, first_local=starts_local, count=form.count.data,
                                          until=form.until.data, **values)
        return list(series.sessions)
    return [services.schedule_session(course, starts_local=starts_local, **values)]


def _warn_conflicts(sessions: list[WorkshopSession]) -> None:
    for other in services.series_conflicts(sessions):
        flash(_("Let op: er is al een bijeenkomst op dat moment: %(title)s op %(when)s.", title=other.title,
                when=format_datetime(other.starts_at, "short")), "warning")


@bp.route("/courses/<int:course_id>/sessions/new", methods=["GET", "POST"])
@login_required
def create(course_id: int):
    course = get_course_or_403(course_id)
    form = ScheduleForm(timezone=course.timezone)
    form.invitees.choices = [SelectChoice(p.id, p.name) for p in course_parents(course)]
    if form.validate_on_submit():
        try:
            created = _schedule(course, form)
        except DomainError as exc:
            db.session.rollback()  # a series may have flushed some dates before the failing one
            show_error(form, exc)
        else:
            _warn_conflicts(created)
            db.session.commit()
            flash(_("De bijeenkomst is gepland.") if len(created) == 1 else
                  _("%(n)d bijeenkomsten zijn gepland.", n=len(created)), "info")
            return redirect(url_for("sessions.detail", session_id=created[0].id))
    return render_template("sessions/create.html", form=form, course=course), 400 if form.errors else 200


@bp.route("/sessions/<int:session_id>")
@login_required
def detail(session_id: int):
    # recordings sits above sessions in the import direction (architecture.md); the page shows both.
    from recordings.models import Recording

    session = get_session_or_403(session_id)
    recordings = db.session.scalars(select(Recording).where(Recording.session_id == session.id)
                                    .order_by(Recording.created_at)).all()
    return render_template("sessions/detail.html", session=session, state=services.lobby_state(session),
                           objections=services.objections(session) if session.recorded else [],
                           consent_log=services.consent_log(session), attendance=services.attendance(session),
                           invitees=services.invitees_of(session), recordings=recordings, empty=EmptyForm(),
                           rsvps=rsvp_overview(session), failures=deliveries.failed_deliveries(session),
                           offset_labels={str(c.value): c.label for c in REMINDER_CHOICES})


@bp.route("/sessions/<int:session_id>/deliveries/<any(invite, reminder):kind>/<int:delivery_id>/resend",
          methods=["POST"])
@login_required
def resend(session_id: int, kind: str, delivery_id: int):
    session = get_session_or_403(session_id)
    if EmptyForm().validate_on_submit():
        if deliveries.resend_delivery(session, kind, delivery_id):
            db.session.commit()
            flash(_("Het bericht wordt opnieuw verstuurd."), "info")
        else:
            db.session.rollback()
            flash(_("Dit bericht kan niet opnieuw verstuurd worden: het is al verstuurd of niet meer nodig."),
                  "warning")
    return redirect(url_for("sessions.detail", session_id=session.id, _anchor="deliveries"))


@bp.route("/sessions/<int:session_id>/edit", methods=["GET", "POST"])
@login_required
def edit(session_id: int):
    session = get_session_or_403(session_id)
    local_start = session.local_start.replace(tzinfo=None)
    form = MoveForm(starts_at=local_start, ends_at=session.local_end.time(), timezone=session.timezone)
    if form.validate_on_submit():
        try:
            starts_local, minutes = _when(form)
            services.reschedule_session(session, starts_local=starts_local, timezone=form.timezone.data.strip(),
                                        duration_minutes=minutes)
        except DomainError as exc:
            db.session.rollback()
            show_error(form, exc)
        else:
            _warn_conflicts([session])
            db.session.commit()
            flash(_("De bijeenkomst is verplaatst."), "info")
            return redirect(url_for("sessions.detail", session_id=session.id))
    return render_template("sessions/edit.html", form=form, session=session), 400 if form.errors else 200


@bp.route("/sessions/<int:session_id>/cancel", methods=["POST"])
@login_required
def cancel(session_id: int):
    session = get_session_or_403(session_id)
    if EmptyForm().validate_on_submit():
        services.cancel_session(session)
        db.session.commit()
        flash(_("De bijeenkomst is geannuleerd."), "info")
    return redirect(url_for("sessions.detail", session_id=session.id))


@bp.route("/sessions/series/<int:series_id>/cancel", methods=["POST"])
@login_required
def cancel_series(series_id: int):
    series = db.get_or_404(WorkshopSeries, series_id)
    if not can_manage(current_user, series.course):
        abort(403)
    if EmptyForm().validate_on_submit():
        cancelled = services.cancel_series(series)
        db.session.commit()
        flash(_("%(n)d bijeenkomsten zijn geannuleerd.", n=len(cancelled)), "info")
    return redirect(url_for("courses.detail", course_id=series.course_id))


@bp.route("/sessions/<int:session_id>/join")
@login_required
def join(session_id: int):
    session = get_session_or_403(session_id)
    state, setup = services.lobby_state(session), None
    if state == services.OPEN:
        try:
            setup = services.join_setup(session, current_user, lang=current_user.language)
        except DomainError as exc:
            flash(str(exc.message), "error")
    response = make_response(render_template(
        "sessions/join.html", session=session, state=state, setup=setup,
        objections=services.objections(session) if session.recorded else []))
    response.headers["Cache-Control"] = "no-store"  # the page carries a room token
    return response
