"""The trainer's course pages: courses, their parents and the parents' CSV import; archiving, unenrolling and
revoking a link each ask for a confirmation that says what will happen."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from itsdangerous import BadSignature, URLSafeTimedSerializer

from accounts import audit
from accounts.forms import EmptyForm
from core.errors import DomainError, press_button, save_form, show_error
from core.extensions import db
from courses import imports, links, services
from courses.access import course_or_403, parent_or_404
from courses.forms import (
    ConfirmForm,
    ImportConfirmForm,
    ImportUploadForm,
    MoveParentForm,
    ParentForm,
    translation_fields,
    typed_translations,
)
from courses.forms import CourseForm as BaseCourseForm
from courses.models import Course

bp = Blueprint("courses", __name__)

IMPORT_MAX_AGE = 3600  # seconds a previewed upload stays valid


def _course_values(form: BaseCourseForm) -> dict:
    values = {name: getattr(form, name).data for name in
              ("title", "description", "language", "timezone", "starts_on", "ends_on", "retention_days",
               "reminder_offsets", "publish_automatically")}
    if current_user.is_coordinator:
        values["trainers"] = services.find_trainers(form.trainers.data or [], current_user.organisation_id)
    values["translations"] = typed_translations(form, _other_languages())
    return values


def _other_languages() -> list[str]:
    return [lang for lang in current_app.config["LANGUAGES"] if lang != "nl"]


def _course_form(course: Course | None = None) -> BaseCourseForm:
    # Titles and descriptions in the parents' other languages (optional; parents see the Dutch otherwise).
    CourseForm = type("TranslatedCourseForm", (BaseCourseForm,), translation_fields(_other_languages()))  # noqa: N806
    if not current_user.is_coordinator:
        form = CourseForm(obj=course)
        del form.trainers  # only coordinators assign trainers; a trainer's new course is their own
    else:
        form = CourseForm(obj=course, trainer_choices=services.trainer_choices(current_user.organisation_id))
        if not form.is_submitted():
            form.trainers.data = [t.id for t in course.trainers] if course else [current_user.id]
    if course is not None and not form.is_submitted():
        for lang, texts in (course.translations or {}).items():
            for name, text in texts.items():
                if hasattr(form, f"{name}_{lang}"):
                    getattr(form, f"{name}_{lang}").data = text
    return form


@bp.route("/courses")
@login_required
def index():
    return render_template("courses/index.html", courses=services.courses_for(current_user), empty=EmptyForm())


@bp.route("/courses/new", methods=["GET", "POST"])
@login_required
def create():
    form = _course_form()
    if not form.is_submitted():  # a new course starts from the organisation's defaults
        form.language.data = current_user.organisation.language
        form.retention_days.data = current_user.organisation.retention_days
    if form.validate_on_submit() and (course := save_form(
            form, lambda: services.create_course(**{"trainers": [current_user], **_course_values(form)}),
            done=_("De cursus is aangemaakt."))):
        return redirect(url_for("dashboard.course", course_id=course.id))
    return render_template("courses/create.html", form=form), 400 if form.errors else 200


@bp.route("/courses/<int:course_id>/edit", methods=["GET", "POST"])
@login_required
def edit(course_id: int):
    course = course_or_403(course_id)
    form = _course_form(course)
    if form.validate_on_submit() and save_form(form, lambda: services.update_course(course, **_course_values(form)),
                                               done=_("De cursus is bijgewerkt.")):
        return redirect(url_for("dashboard.course", course_id=course.id))
    return render_template("courses/edit.html", form=form, course=course), 400 if form.errors else 200


def _confirmed(form: ConfirmForm, change, *, done: str) -> bool:
    """Run `change()` only when the confirmation page's button posted the form (a one-click POST shows the page)."""
    if not (form.validate_on_submit() and form.confirmed.data):
        return False
    press_button(form, change, done=done)
    return True


def _confirm_page(course: Course, *, title: str, lines: list[str], action: str, form: ConfirmForm):
    return render_template("courses/confirm.html", course=course, title=title, lines=lines, action=action,
                           form=form, back=url_for("dashboard.course", course_id=course.id))


@bp.route("/courses/<int:course_id>/archive", methods=["GET", "POST"])
@login_required
def archive(course_id: int):
    course = course_or_403(course_id)
    form = ConfirmForm()
    if _confirmed(form, lambda: services.archive_course(course), done=_("De cursus is gearchiveerd.")):
        return redirect(url_for("courses.index"))
    parents = len(services.course_parents(course))
    return _confirm_page(course, form=form, title=_("Cursus archiveren?"), action=_("Ja, archiveren"), lines=[
        _("De cursus verdwijnt uit de lijst met cursussen; de gegevens blijven bewaard."),
        ngettext("%(num)d ouder ziet de cursus niet meer op de eigen pagina.",
                 "%(num)d ouders zien de cursus niet meer op hun eigen pagina.", parents),
        _("Geplande bijeenkomsten worden niet geannuleerd en ouders krijgen geen bericht: annuleer ze eerst als ze "
          "niet doorgaan.")])


def _parent_values(form: ParentForm) -> dict:
    return {name: getattr(form, name).data for name in
            ("name", "email", "phone", "language", "consent_recording", "contact_email", "contact_sms",
             "contact_whatsapp")}


@bp.route("/courses/<int:course_id>/parents/new", methods=["GET", "POST"])
@login_required
def add_parent(course_id: int):
    course = course_or_403(course_id)
    form = ParentForm(language=course.language)
    if form.validate_on_submit():
        try:
            parent, created = services.enrol_parent(course, **_parent_values(form))
        except DomainError as exc:
            show_error(form, exc)
        else:
            if created:
                links.send_welcome_message(parent)
            db.session.commit()
            flash(_("%(name)s is ingeschreven.", name=parent.name) if created else
                  _("Deze ouder was al bekend (%(name)s) en is nu ingeschreven.", name=parent.name), "info")
            return redirect(url_for("dashboard.course", course_id=course.id))
    return render_template("courses/add_parent.html", form=form, course=course), 400 if form.errors else 200


@bp.route("/courses/<int:course_id>/parents/<int:parent_id>/edit", methods=["GET", "POST"])
@login_required
def edit_parent(course_id: int, parent_id: int):
    course = course_or_403(course_id)
    parent = parent_or_404(course, parent_id)
    form = ParentForm(obj=parent)
    if not form.is_submitted():
        audit.record("parent.viewed", parent=parent)
        db.session.commit()
    if form.validate_on_submit() and save_form(form, lambda: services.update_parent(parent, **_parent_values(form)),
                                               done=_("De gegevens zijn opgeslagen.")):
        return redirect(url_for("dashboard.course", course_id=course.id))
    return (render_template("courses/edit_parent.html", form=form, course=course, parent=parent),
            400 if form.errors else 200)


@bp.route("/courses/<int:course_id>/parents/<int:parent_id>/link", methods=["POST"])
@login_required
def reissue_link(course_id: int, parent_id: int):
    course = course_or_403(course_id)
    parent = parent_or_404(course, parent_id)
    if EmptyForm().validate_on_submit():
        link = links.reissue_access(parent)
        audit.record("link.reissued", parent=parent)
        db.session.commit()
        flash(_("Nieuwe persoonlijke link voor %(name)s (de oude werkt niet meer): %(link)s", name=parent.name,
                link=link), "info")
    return redirect(url_for("dashboard.course", course_id=course.id))


def _revoke(parent) -> None:
    links.revoke_access(parent)
    audit.record("link.revoked", parent=parent)


@bp.route("/courses/<int:course_id>/parents/<int:parent_id>/link/revoke", methods=["GET", "POST"])
@login_required
def revoke_link(course_id: int, parent_id: int):
    course = course_or_403(course_id)
    parent = parent_or_404(course, parent_id)
    form = ConfirmForm()
    if _confirmed(form, lambda: _revoke(parent),
                  done=_("De persoonlijke link van %(name)s is ingetrokken.", name=parent.name)):
        return redirect(url_for("dashboard.course", course_id=course.id))
    courses = len(parent.enrolments)
    return _confirm_page(course, form=form, title=_("Link van %(name)s intrekken?", name=parent.name),
                         action=_("Ja, link intrekken"), lines=[
        ngettext("De persoonlijke link en de agenda-link van %(name)s werken meteen niet meer, voor %(num)d cursus.",
                 "De persoonlijke link en de agenda-link van %(name)s werken meteen niet meer, voor alle %(num)d "
                 "cursussen.", courses, name=parent.name),
        _("%(name)s krijgt geen uitnodigingen en herinneringen meer, tot je een nieuwe link stuurt.", name=parent.name)])


@bp.route("/courses/<int:course_id>/parents/<int:parent_id>/remove", methods=["GET", "POST"])
@login_required
def remove_parent(course_id: int, parent_id: int):
    course = course_or_403(course_id)
    parent = parent_or_404(course, parent_id)
    form = ConfirmForm()
    if _confirmed(form, lambda: services.remove_from_course(course, parent),
                  done=_("%(name)s is uitgeschreven.", name=parent.name)):
        return redirect(url_for("dashboard.course", course_id=course.id))
    others = len(parent.enrolments) - 1
    return _confirm_page(course, form=form, title=_("%(name)s uitschrijven?", name=parent.name),
                         action=_("Ja, uitschrijven"), lines=[
        _("%(name)s krijgt geen uitnodigingen en herinneringen meer voor %(course)s.", name=parent.name,
          course=course.title),
        ngettext("%(name)s blijft ingeschreven bij %(num)d andere cursus.",
                 "%(name)s blijft ingeschreven bij %(num)d andere cursussen.", others, name=parent.name)
        if others else _("Dit is de laatste cursus van %(name)s: de persoonlijke link en de agenda-link werken daarna "
                         "niet meer.", name=parent.name)])


@bp.route("/courses/<int:course_id>/parents/<int:parent_id>/move", methods=["GET", "POST"])
@login_required
def move_parent(course_id: int, parent_id: int):
    course = course_or_403(course_id)
    parent = parent_or_404(course, parent_id)
    targets = [c for c in services.courses_for(current_user) if c.id != course.id]
    form = MoveParentForm()
    form.course_id.choices = [(c.id, c.title) for c in targets]
    if form.validate_on_submit():
        target = next(c for c in targets if c.id == form.course_id.data)
        services.move_parent(parent, from_course=course, to_course=target)
        db.session.commit()
        flash(_("%(name)s zit nu in %(course)s.", name=parent.name, course=target.title), "info")
        return redirect(url_for("dashboard.course", course_id=course.id))
    return (render_template("courses/move_parent.html", form=form, course=course, parent=parent),
            400 if form.errors else 200)


def _import_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="courses.import-parents")


@bp.route("/courses/<int:course_id>/import", methods=["GET", "POST"])
@login_required
def import_parents(course_id: int):
    course = course_or_403(course_id)
    form, rows, confirm = ImportUploadForm(), None, None
    if form.validate_on_submit():
        raw = form.file.data.read()
        try:
            rows = imports.check_import(course, raw)
        except DomainError as exc:
            show_error(form, exc)
        else:
            payload = _import_signer().dumps({"course_id": course.id, "csv": raw.decode("utf-8-sig")})
            confirm = ImportConfirmForm(formdata=None, payload=payload)
    status = 400 if form.errors else 200
    return render_template("courses/import_parents.html", form=form, course=course, rows=rows,
                           confirm=confirm, errors=[r for r in rows or [] if r.error]), status


@bp.route("/courses/<int:course_id>/import/confirm", methods=["POST"])
@login_required
def confirm_import(course_id: int):
    course = course_or_403(course_id)
    form = ImportConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        upload = _import_signer().loads(form.payload.data, max_age=IMPORT_MAX_AGE)
    except BadSignature:
        abort(400)
    if upload.get("course_id") != course.id:
        abort(400)
    try:
        rows = imports.import_parents(course, upload["csv"].encode())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("courses.import_parents", course_id=course.id))
    db.session.commit()
    imported = [r for r in rows if not r.error]
    flash(ngettext("%(num)d ouder ingeschreven.", "%(num)d ouders ingeschreven.", len(imported)), "info")
    if len(imported) < len(rows):
        flash(ngettext("%(num)d regel met een fout is overgeslagen.", "%(num)d regels met een fout zijn overgeslagen.",
                       len(rows) - len(imported)), "warning")
    return redirect(url_for("dashboard.course", course_id=course.id))


@bp.route("/courses/<int:course_id>/import/template.csv")
@login_required
def import_template(course_id: int):
    course_or_403(course_id)
    response = make_response(imports.TEMPLATE.encode("utf-8-sig"))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = 'attachment; filename="ouders-voorbeeld.csv"'
    return response
