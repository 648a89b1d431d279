"""The trainer's course pages: courses, their parents and the parents' CSV import."""

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
from courses.forms import CourseForm, ImportConfirmForm, ImportUploadForm, MoveParentForm, ParentForm
from courses.models import Course

bp = Blueprint("courses", __name__)

IMPORT_MAX_AGE = 3600  # seconds a previewed upload stays valid


def _course_values(form: CourseForm) -> dict:
    values = {name: getattr(form, name).data for name in
              ("title", "description", "language", "timezone", "starts_on", "ends_on", "retention_days",
               "reminder_offsets", "publish_automatically")}
    if current_user.is_coordinator:
        values["trainers"] = services.find_trainers(form.trainers.data or [], current_user.organisation_id)
    return values


def _course_form(course: Course | None = None) -> CourseForm:
    if not current_user.is_coordinator:
        form = CourseForm(obj=course)
        del form.trainers  # only coordinators assign trainers; a trainer's new course is their own
        return form
    form = CourseForm(obj=course, trainer_choices=services.trainer_choices(current_user.organisation_id))
    if not form.is_submitted():
        form.trainers.data = [t.id for t in course.trainers] if course else [current_user.id]
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


@bp.route("/courses/<int:course_id>/archive", methods=["POST"])
@login_required
def archive(course_id: int):
    course = course_or_403(course_id)
    press_button(EmptyForm(), lambda: services.archive_course(course), done=_("De cursus is gearchiveerd."))
    return redirect(url_for("courses.index"))


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


@bp.route("/courses/<int:course_id>/parents/<int:parent_id>/link/revoke", methods=["POST"])
@login_required
def revoke_link(course_id: int, parent_id: int):
    course = course_or_403(course_id)
    parent = parent_or_404(course, parent_id)
    if EmptyForm().validate_on_submit():
        links.revoke_access(parent)
        audit.record("link.revoked", parent=parent)
        db.session.commit()
        flash(_("De persoonlijke link van %(name)s is ingetrokken.", name=parent.name), "info")
    return redirect(url_for("dashboard.course", course_id=course.id))


@bp.route("/courses/<int:course_id>/parents/<int:parent_id>/remove", methods=["POST"])
@login_required
def remove_parent(course_id: int, parent_id: int):
    course = course_or_403(course_id)
    parent = parent_or_404(course, parent_id)
    press_button(EmptyForm(), lambda: services.remove_from_course(course, parent),
                 done=_("%(name)s is uitgeschreven.", name=parent.name))
    return redirect(url_for("dashboard.course", course_id=course.id))


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
