"""The trainer's home activities (blueprint `activities`): list, create, edit, the inbox, replies and nudges."""

from __future__ import annotations

from babel import Locale
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import SelectChoice

from accounts import audit
from accounts.forms import EmptyForm
from activities import answers, figures, media, services
from activities.forms import KIND_LABELS, ReplyForm, activity_form_class
from activities.media import signed_redirect
from activities.models import ActivityMedia, ActivityResponse, HomeActivity, MediaKind
from core.errors import DomainError, press_button, show_error
from core.extensions import db
from courses.access import course_or_403, parent_or_404
from courses.forms import ConfirmForm
from courses.models import Course
from sessions.scheduling import course_sessions

bp = Blueprint("activities", __name__, url_prefix="/courses/<int:course_id>/activities")

#: Pictures a trainer may add in one go (each within RESPONSE_MAX_UPLOAD_BYTES), plus one clip.
MAX_IMAGES = 6


def _activity_or_404(course: Course, activity_id: int) -> HomeActivity:
    activity = services.find_activity(course, activity_id)
    if activity is None:
        abort(404)
    return activity


def _extra_languages(course: Course) -> list[str]:
    return [lang for lang in current_app.config["LANGUAGES"] if lang != course.language]


def _language_names(languages: list[str]) -> dict[str, str]:
    shown_in = str(get_locale() or "nl")
    return {lang: Locale.parse(lang).get_display_name(shown_in) for lang in languages}


def _session_choices(course: Course) -> list[SelectChoice]:
    return [SelectChoice(0, _("De hele cursus"))] + [
        SelectChoice(s.id, f"{s.local_start:%d-%m-%Y %H:%M} · {s.title}") for s in course_sessions(course)]


def _form(course: Course, activity: HomeActivity | None = None, **kwargs):
    languages = _extra_languages(course)
    form = activity_form_class(languages)(obj=activity, **kwargs)
    form.session_id.choices = _session_choices(course)
    if activity is not None and not form.is_submitted():
        form.session_id.data = activity.session_id or 0
        form.request_kinds.data = [k.value for k in activity.requested]
        for lang in languages:
            for name in services.TEXT_FIELDS:
                getattr(form, f"{name}_{lang}").data = (activity.translations or {}).get(lang, {}).get(name, "")
    return form, languages


def _values(form, languages: list[str]) -> dict:
    return {"title": form.title.data, "body": form.body.data, "session_id": form.session_id.data or None,
            "request_kinds": form.request_kinds.data, "request_text": form.request_text.data,
            "due_on": form.due_on.data, "translations": form.translations(languages)}


def _add_files(activity: HomeActivity, new_keys: list[str]) -> None:
    uploads = [(f, MediaKind.image) for f in request.files.getlist("images") if f and f.filename][:MAX_IMAGES]
    clip = request.files.get("clip")
    if clip and clip.filename:
        uploads.append((clip, MediaKind.clip))
    for upload, kind in uploads:
        new_keys += services.add_media(activity, upload.stream, kind=kind).keys


def _save(course: Course, activity: HomeActivity | None):
    """Create or update from the posted form: (form, activity), or (form, None) when the form shows errors.

    Pictures and clips are stored as they are checked; when anything fails, those already stored are removed.
    """
    request.max_content_length = (MAX_IMAGES + 1) * media.max_upload_bytes() + 1024 * 1024
    try:
        form, languages = _form(course, activity)
        valid = form.validate_on_submit()
    except RequestEntityTooLarge:
        form, languages = _form(course, activity, formdata=None)
        form.images.errors = [media.too_large_message()]
        return form, None
    if not valid:
        return form, None
    new_keys: list[str] = []
    try:
        values = _values(form, languages)
        if activity is None:
            activity = services.create_activity(course, created_by=current_user, **values)
        else:
            services.update_activity(activity, **values)
        _add_files(activity, new_keys)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        media.delete_objects(new_keys)
        if not isinstance(exc, DomainError):
            raise
        show_error(form, exc if exc.field != "file" else DomainError(exc.message, field="images"))
        return form, None
    return form, activity


@bp.route("")
@login_required
def index(course_id: int):
    course = course_or_403(course_id)
    items = services.course_activities(course)
    return render_template("activities/index.html", course=course, activities=items,
                           counts=figures.activity_counts(items), kind_labels=KIND_LABELS)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create(course_id: int):
    course = course_or_403(course_id)
    form, activity = _save(course, None) if request.method == "POST" else (_form(course)[0], None)
    if activity is not None:
        flash(_("De opdracht staat klaar voor de ouders."), "info")
        return redirect(url_for("activities.inbox", course_id=course.id, activity_id=activity.id))
    return (render_template("activities/form.html", course=course, form=form, activity=None,
                            languages=_extra_languages(course),
                            language_names=_language_names(_extra_languages(course))), 400 if form.errors else 200)


@bp.route("/<int:activity_id>/edit", methods=["GET", "POST"])
@login_required
def edit(course_id: int, activity_id: int):
    course = course_or_403(course_id)
    activity = _activity_or_404(course, activity_id)
    if request.method == "POST":
        form, saved = _save(course, activity)
        if saved is not None:
            flash(_("De opdracht is bijgewerkt."), "info")
            return redirect(url_for("activities.inbox", course_id=course.id, activity_id=activity.id))
    else:
        form = _form(course, activity)[0]
    return (render_template("activities/form.html", course=course, form=form, activity=activity,
                            languages=_extra_languages(course), empty=EmptyForm(),
                            language_names=_language_names(_extra_languages(course))), 400 if form.errors else 200)


@bp.route("/<int:activity_id>/delete", methods=["POST"])
@login_required
def delete(course_id: int, activity_id: int):
    course = course_or_403(course_id)
    activity = _activity_or_404(course, activity_id)
    press_button(EmptyForm(), lambda: services.delete_activity(activity),
                 done=_("De opdracht is verwijderd, met alle antwoorden."))
    return redirect(url_for("activities.index", course_id=course.id))


@bp.route("/<int:activity_id>/media/<int:media_id>/delete", methods=["POST"])
@login_required
def delete_media(course_id: int, activity_id: int, media_id: int):
    course = course_or_403(course_id)
    activity = _activity_or_404(course, activity_id)
    row = services.find_part(activity, ActivityMedia, media_id)
    if row is None:
        abort(404)
    press_button(EmptyForm(), lambda: services.remove_media(row))
    return redirect(url_for("activities.edit", course_id=course.id, activity_id=activity.id))


@bp.route("/<int:activity_id>")
@login_required
def inbox(course_id: int, activity_id: int):
    course = course_or_403(course_id)
    activity = _activity_or_404(course, activity_id)
    search = request.args.get("q", "").strip()[:100]
    found = figures.inbox(activity, search=search, page=request.args.get("page", 1, type=int))
    page = render_template("activities/inbox.html", course=course, activity=activity, inbox=found, search=search,
                           answered=found.answered, waiting=found.waiting, reply_form=ReplyForm(formdata=None),
                           empty=EmptyForm(), kind_labels=KIND_LABELS)
    # Rendered before the commit: a commit expires every row, which the template would otherwise load again.
    audit.record("responses.viewed", activity=activity.id, count=found.answered_total)
    db.session.commit()
    return page


@bp.route("/<int:activity_id>/parents/<int:parent_id>/reply", methods=["POST"])
@login_required
def reply(course_id: int, activity_id: int, parent_id: int):
    course = course_or_403(course_id)
    activity = _activity_or_404(course, activity_id)
    parent = parent_or_404(course, parent_id)
    form = ReplyForm()
    if form.validate_on_submit():
        try:
            answers.add_reply(activity, parent, author=current_user, text=form.text.data)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("Je antwoord aan %(name)s is verstuurd.", name=parent.name), "info")
    else:
        flash(_("Schrijf eerst een bericht."), "error")
    return redirect(url_for("activities.inbox", course_id=course.id, activity_id=activity.id,
                            _anchor=f"parent-{parent.id}"))


@bp.route("/<int:activity_id>/nudge", methods=["GET", "POST"])
@login_required
def nudge(course_id: int, activity_id: int):
    course = course_or_403(course_id)
    activity = _activity_or_404(course, activity_id)
    form = ConfirmForm()
    if form.validate_on_submit() and form.confirmed.data:  # a one-click POST only shows the confirmation
        sent = answers.nudge(activity)
        db.session.commit()
        flash(_("%(n)d ouders krijgen een herinnering in hun eigen taal.", n=len(sent)) if sent else
              _("Er is niemand om te herinneren (of iedereen kreeg vandaag al een herinnering)."), "info")
        return redirect(url_for("activities.inbox", course_id=course.id, activity_id=activity.id))
    plan = answers.nudge_plan(activity)
    return render_template("activities/nudge.html", course=course, activity=activity, form=form, plan=plan)


def _signed_part(course_id: int, activity_id: int, model, row_id: int, part: str):
    activity = _activity_or_404(course_or_403(course_id), activity_id)
    row = services.find_part(activity, model, row_id)
    if row is None:
        abort(404)
    return signed_redirect(row, part)


@bp.route("/<int:activity_id>/responses/<int:response_id>/<any(file, poster):part>")
@login_required
def response_file(course_id: int, activity_id: int, response_id: int, part: str):
    return _signed_part(course_id, activity_id, ActivityResponse, response_id, part)


@bp.route("/<int:activity_id>/media/<int:media_id>/<any(file, poster):part>")
@login_required
def media_file(course_id: int, activity_id: int, media_id: int, part: str):
    return _signed_part(course_id, activity_id, ActivityMedia, media_id, part)
