"""The coordinator's audit page (/audit): who did what to a parent's data, filtered and paginated."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import IntegerField, SelectChoice, SelectField
from wtforms.validators import NumberRange, Optional

from accounts import audit
from accounts.access import coordinator_required
from accounts.models import User
from core.extensions import db

bp = Blueprint("audit", __name__)

PER_PAGE = 50
DETAIL_LABELS = {"fields": _l("Velden"), "count": _l("Aantal"), "activity": _l("Thuisactiviteit")}


class AuditFilterForm(FlaskForm):
    """The filters, read from the query string (a GET form: it changes nothing, so no CSRF token)."""

    class Meta:
        csrf = False

    parent = IntegerField(_l("Ouder (nummer)"), validators=[Optional(), NumberRange(min=1)])
    course = SelectField(_l("Cursus"), coerce=lambda v: int(v) if v else None, validate_choice=False)
    actor = SelectField(_l("Door"), coerce=lambda v: int(v) if v else None, validate_choice=False)


def _filter_form() -> AuditFilterForm:
    form = AuditFilterForm(request.args)
    everyone = _l("Alle")
    courses = sorted(audit.course_titles(current_user.organisation_id).items(), key=lambda item: item[1])
    form.course.choices = [SelectChoice("", everyone)] + [SelectChoice(i, title) for i, title in courses]
    users = db.session.scalars(select(User).order_by(User.name))
    form.actor.choices = [SelectChoice("", everyone)] + [SelectChoice(u.id, u.name) for u in users]
    return form


@bp.route("/audit")
@coordinator_required
def audit_log():
    form = _filter_form()
    valid = form.validate()
    filters = {"parent_id": form.parent.data, "course_id": form.course.data, "actor_id": form.actor.data}
    query = audit.entries_query(**filters) if valid else audit.entries_query()
    page = db.paginate(query, per_page=PER_PAGE, error_out=False)
    titles = audit.course_titles(current_user.organisation_id, {e.course_id for e in page.items if e.course_id})
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("accounts/audit.html", form=form, page=page, titles=titles, args=args,
                           actions=audit.ACTIONS, kinds=audit.ACTOR_KINDS, detail_labels=DETAIL_LABELS), \
        200 if valid else 400
