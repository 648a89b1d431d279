"""Trainer pages for live sessions: schedule and edit (one date or the series) with warnings before saving, cancel
after a confirmation, join as moderator, consent, attendance, answers and messages that did not arrive."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from wtforms import SelectChoice

from accounts.forms import EmptyForm
from core.errors import DomainError, save_form
from core.extensions import db
from courses.access import course_or_403
from courses.links import course_feed_token, feed_urls, reset_feed_token
from courses.models import Course, Parent
from courses.services import course_parents
from sessions import deliveries, edits, scheduling, services
from sessions.access import series_or_403, session_or_403
from sessions.forms import (
    CancelForm,
    EditForm,
    ScheduleForm,
    fill_translations,
    form_translations,
    with_translations,
)
from sessions.models import SessionKind, SessionStatus, WorkshopSession

bp = Blueprint("sessions", __name__)


def _when(form) -> tuple[datetime, int]:
    starts_local = form.starts_at.data
    ends_local = datetime.combine(starts_local.date(), form.ends_at.data)
    return starts_local, scheduling.minutes_between(starts_local, ends_local)


def _repeat(form: ScheduleForm) -> dict:
    return {"count": form.count.data, "until": form.until.data} if form.repeat.data == "weekly" else {"count": 1}


def _schedule(course: Course, form: ScheduleForm) -> list[WorkshopSession]:
    starts_local, minutes = _when(form)
    invitees = None
    if form.invite.data == "chosen":
        chosen = set(form.invitees.data or [])
        invitees = [p for p in course_parents(course) if p.id in chosen]
    values = dict(title=form.title.data, timezone=form.timezone.data.strip(), duration_minutes=minutes,
                  kind=SessionKind(form.kind.data), recorded=form.recorded.data,
                  description=form.description.data or "", lobby_minutes=form.lobby_minutes.data, invitees=invitees,
                  fold=form.fold_choice())
    if form.repeat.data == "weekly":
        series = scheduling.schedule_series(course, first_local=starts_local, count=form.count.data,
                                            until=form.until.data, **values)
        created = list(series.sessions)
    else:
        created = [scheduling.schedule_session(course, starts_local=starts_local, **values)]
    edits.set_translations(created, form_translations(form))
    return created


def _utc_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    return f"{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def _ask_fold(form, plan) -> None:
    """Offer the two instants when a planned local time occurs twice; `plan(fold)` plans without writing."""
    try:
        plan(None)
    except scheduling.AmbiguousTimeError as exc:
        time, (first, second) = exc.local.strftime("%H:%M"), exc.offsets
        form.fold.choices = [
            SelectChoice("0", _("%(time)s zomertijd (UTC%(offset)s)", time=time, offset=_utc_offset(first))),
            SelectChoice("1", _("%(time)s wintertijd (UTC%(offset)s)", time=time, offset=_utc_offset(second)))]
    except DomainError:
        pass  # saving reports it, with every other message


def _warnings(form, course: Course, plan, *, exclude: tuple[int, ...] = ()) -> edits.Warnings | None:
    """What to confirm before anything is saved (double booking, past the course's end), unless the trainer chose
    "Toch opslaan" already or a rule is broken (saving reports that)."""
    _ask_fold(form, plan)
    if form.confirmed.data:
        return None
    try:
        starts, minutes = plan(form.fold_choice()), _when(form)[1]
    except DomainError:
        return None
    return edits.plan_warnings(course, starts, minutes, form.timezone.data.strip(), exclude=exclude) or None


@bp.route("/courses/<int:course_id>/sessions/new", methods=["GET", "POST"])
@login_required
def create(course_id: int):
    course = course_or_403(course_id)
    form = with_translations(ScheduleForm)(timezone=course.timezone)
    form.invitees.choices = [SelectChoice(p.id, p.name) for p in course_parents(course)]
    warnings = None
    if form.validate_on_submit():
        def plan(fold):
            return scheduling.planned_starts(_when(form)[0], form.timezone.data.strip(), fold=fold, **_repeat(form))

        warnings = _warnings(form, course, plan)
        if not warnings and (created := save_form(form, lambda: _schedule(course, form))):
            flash(_("De bijeenkomst is gepland.") if len(created) == 1 else
                  _("%(n)d bijeenkomsten zijn gepland.", n=len(created)), "info")
            return redirect(url_for("dashboard.session", session_id=created[0].id))
    return (render_template("sessions/create.html", form=form, course=course, warnings=warnings),
            400 if form.errors else 200)


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


def _edit_form(workshop_session: WorkshopSession) -> EditForm:
    form = with_translations(EditForm)(
        title=workshop_session.title, description=workshop_session.description, recorded=workshop_session.recorded,
        starts_at=workshop_session.local_start.replace(tzinfo=None), ends_at=workshop_session.local_end.time(),
        timezone=workshop_session.timezone)
    fill_translations(form, workshop_session.translations)
    if workshop_session.series_id is None:
        del form.scope
    return form


def _edit(workshop_session: WorkshopSession, form: EditForm, scope: str) -> list[WorkshopSession]:
    starts_local, minutes = _when(form)
    return edits.edit_session(workshop_session, scope=scope, title=form.title.data,
                              description=form.description.data or "", recorded=form.recorded.data,
                              starts_local=starts_local, timezone=form.timezone.data.strip(),
                              duration_minutes=minutes, fold=form.fold_choice(),
                              translations=form_translations(form))


@bp.route("/sessions/<int:session_id>/edit", methods=["GET", "POST"])
@login_required
def edit(session_id: int):
    workshop_session = session_or_403(session_id)
    form, warnings = _edit_form(workshop_session), None
    if form.validate_on_submit():
        scope = form.scope.data if "scope" in form else edits.ONE
        in_scope = edits.dates_in_scope(workshop_session, scope)

        def plan(fold):  # the new starts of the dates whose time changes
            starts_local, minutes = _when(form)
            return [start for s, start in edits.planned_times(
                workshop_session, scope=scope, starts_local=starts_local, timezone=form.timezone.data.strip(),
                fold=fold) if (start, minutes) != (s.starts_at, s.duration_minutes)]

        warnings = _warnings(form, workshop_session.course, plan, exclude=tuple(s.id for s in in_scope))
        if not warnings and (changed := save_form(form, lambda: _edit(workshop_session, form, scope))) is not None:
            flash(ngettext("%(num)d datum is gewijzigd; de ouders krijgen bericht.",
                           "%(num)d datums zijn gewijzigd; de ouders krijgen bericht.", len(changed))
                  if changed else _("Er is niets veranderd."), "info")
            return redirect(url_for("dashboard.session", session_id=workshop_session.id))
    return (render_template("sessions/edit.html", form=form, session=workshop_session, warnings=warnings),
            400 if form.errors else 200)


def _reach(workshop_sessions: list[WorkshopSession]) -> tuple[list[Parent], list[Parent]]:
    """The invitees of these dates who get a message (they have a channel) and those who cannot be reached."""
    parents = sorted({p.id: p for s in workshop_sessions for p in services.invitees(s)}.values(),
                     key=lambda p: p.name)
    return [p for p in parents if p.channels], [p for p in parents if not p.channels]


@bp.route("/sessions/<int:session_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(session_id: int):
    workshop_session = session_or_403(session_id)
    form = CancelForm()
    if form.validate_on_submit() and form.confirmed.data and save_form(
            form, lambda: scheduling.cancel_session(workshop_session, reason=form.reason.data),
            done=_("De bijeenkomst is geannuleerd.")):
        return redirect(url_for("dashboard.session", session_id=workshop_session.id))
    dates = [] if workshop_session.status is SessionStatus.cancelled else [workshop_session]
    reached, unreachable = _reach(dates)
    return (render_template("sessions/cancel.html", form=form, session=workshop_session, series=None, dates=dates,
                            reached=reached, unreachable=unreachable,
                            back=url_for("dashboard.session", session_id=workshop_session.id)),
            400 if form.errors else 200)


@bp.route("/sessions/series/<int:series_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel_series(series_id: int):
    series = series_or_403(series_id)
    form = CancelForm()
    if form.validate_on_submit() and form.confirmed.data and (cancelled := save_form(
            form, lambda: scheduling.cancel_series(series, reason=form.reason.data))) is not None:
        flash(ngettext("%(num)d bijeenkomst is geannuleerd.", "%(num)d bijeenkomsten zijn geannuleerd.",
                       len(cancelled)), "info")
        return redirect(url_for("dashboard.course", course_id=series.course_id))
    dates = edits.remaining_dates(series)
    reached, unreachable = _reach(dates)
    return (render_template("sessions/cancel.html", form=form, session=None, series=series, dates=dates,
                            reached=reached, unreachable=unreachable,
                            back=url_for("dashboard.course", course_id=series.course_id)), 400 if form.errors else 200)


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
        consent=services.consent_overview(workshop_session, services.invitees_of(workshop_session))
        if workshop_session.recorded else None))
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
