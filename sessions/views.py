"""Trainer pages for live sessions: schedule, move, cancel, join as moderator, consent, attendance, answers and
messages that did not arrive."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, flash, make_response, redirect, render_template, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms import SelectChoice

from accounts.forms import EmptyForm
from core.errors import DomainError, press_button, save_form
from core.extensions import db
from courses.access import course_or_403
from courses.links import course_feed_token, feed_urls, reset_feed_token
from courses.models import Course
from courses.services import course_parents
from sessions import deliveries, scheduling, services
from sessions.access import series_or_403, session_or_403
from sessions.forms import MoveForm, ScheduleForm
from sessions.models import SessionKind, WorkshopSession

bp = Blueprint("sessions", __name__)


def _when(form) -> tuple[datetime, int]:
    starts_local = form.starts_at.data
    ends_local = datetime.combine(starts_local.date(), form.ends_at.data)
    return starts_local, scheduling.minutes_between(starts_local, ends_local)


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
        series = scheduling.schedule_series(course, first_local=starts_local, count=form.count.data,
                                            until=form.until.data, **values)
        return list(series.sessions)
    return [scheduling.schedule_session(course, starts_local=starts_local, **values)]


def _move(workshop_session: WorkshopSession, form: MoveForm) -> WorkshopSession:
    starts_local, minutes = _when(form)
    scheduling.reschedule_session(workshop_session, starts_local=starts_local, timezone=form.timezone.data.strip(),
                                  duration_minutes=minutes)
    return workshop_session


def _warn_conflicts(workshop_sessions: list[WorkshopSession]) -> list[WorkshopSession]:
    for other in scheduling.series_conflicts(workshop_sessions):
        flash(_("Let op: er is al een bijeenkomst op dat moment: %(title)s op %(when)s.", title=other.title,
                when=format_datetime(other.starts_at, "short")), "warning")
    return workshop_sessions


@bp.route("/courses/<int:course_id>/sessions/new", methods=["GET", "POST"])
@login_required
def create(course_id: int):
    course = course_or_403(course_id)
    form = ScheduleForm(timezone=course.timezone)
    form.invitees.choices = [SelectChoice(p.id, p.name) for p in course_parents(course)]
    if form.validate_on_submit() and (created := save_form(form, lambda: _warn_conflicts(_schedule(course, form)))):
        flash(_("De bijeenkomst is gepland.") if len(created) == 1 else
              _("%(n)d bijeenkomsten zijn gepland.", n=len(created)), "info")
        return redirect(url_for("dashboard.session", session_id=created[0].id))
    return render_template("sessions/create.html", form=form, course=course), 400 if form.errors else 200


@bp.route("/sessions/<int:session_id>/deliveries/<any(invite, reminder):kind>/<int:delivery_id>/resend",
          methods=["POST"])
@login_required
def resend(session_id: int, kind: str, delivery_id: int):
    workshop_session = session_or_403(session_id)
    if EmptyForm().validate_on_submit():
        if deliveries.resend_delivery(workshop_session, kind, delivery_id):
            db.session.commit()
            flash(_("Het bericht wordt opnieuw verstuurd."), "info")
        else:
            db.session.rollback()
            flash(_("Dit bericht kan niet opnieuw verstuurd worden: het is al verstuurd of niet meer nodig."),
                  "warning")
    return redirect(url_for("dashboard.session", session_id=workshop_session.id, _anchor="deliveries"))


@bp.route("/sessions/<int:session_id>/edit", methods=["GET", "POST"])
@login_required
def edit(session_id: int):
    workshop_session = session_or_403(session_id)
    local_start = workshop_session.local_start.replace(tzinfo=None)
    form = MoveForm(starts_at=local_start, ends_at=workshop_session.local_end.time(),
                    timezone=workshop_session.timezone)
    if form.validate_on_submit() and save_form(form, lambda: _warn_conflicts([_move(workshop_session, form)]),
                                               done=_("De bijeenkomst is verplaatst.")):
        return redirect(url_for("dashboard.session", session_id=workshop_session.id))
    return render_template("sessions/edit.html", form=form, session=workshop_session), 400 if form.errors else 200


@bp.route("/sessions/<int:session_id>/cancel", methods=["POST"])
@login_required
def cancel(session_id: int):
    workshop_session = session_or_403(session_id)
    press_button(EmptyForm(), lambda: scheduling.cancel_session(workshop_session),
                 done=_("De bijeenkomst is geannuleerd."))
    return redirect(url_for("dashboard.session", session_id=workshop_session.id))


@bp.route("/sessions/series/<int:series_id>/cancel", methods=["POST"])
@login_required
def cancel_series(series_id: int):
    series = series_or_403(series_id)
    if EmptyForm().validate_on_submit():
        cancelled = scheduling.cancel_series(series)
        db.session.commit()
        flash(_("%(n)d bijeenkomsten zijn geannuleerd.", n=len(cancelled)), "info")
    return redirect(url_for("dashboard.course", course_id=series.course_id))


@bp.route("/sessions/<int:session_id>/join")
@login_required
def join(session_id: int):
    workshop_session = session_or_403(session_id)
    state, setup = services.lobby_state(workshop_session), None
    if state == services.OPEN:
        try:
            setup = services.join_setup(workshop_session, current_user, lang=current_user.language)
        except DomainError as exc:
            flash(str(exc.message), "error")
    response = make_response(render_template(
        "sessions/join.html", session=workshop_session, state=state, setup=setup,
        objections=services.objections(workshop_session) if workshop_session.recorded else []))
    response.headers["Cache-Control"] = "no-store"  # the page carries a room token
    return response


@bp.route("/courses/<int:course_id>/calendar/reset", methods=["POST"])
@login_required
def reset_course_feed(course_id: int):
    course = course_or_403(course_id)
    token = reset_feed_token(course=course)
    db.session.commit()
    return render_template("feeds/course_feed.html", course=course, urls=feed_urls(token))


@bp.route("/courses/<int:course_id>/calendar")
@login_required
def course_feed(course_id: int):
    course = course_or_403(course_id)
    token = course_feed_token(course)
    db.session.commit()
    return render_template("feeds/course_feed.html", course=course, urls=feed_urls(token))
