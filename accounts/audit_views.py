"""The coordinator's audit page (/audit): who did what to a parent's data, searched and paged by keyset."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SearchField
from wtforms.validators import Length

from accounts import audit
from accounts.access import coordinator_required

bp = Blueprint("audit", __name__)

DETAIL_LABELS = {"fields": _l("Velden"), "count": _l("Aantal"), "activity": _l("Thuisactiviteit"),
                 "recording": _l("Opname"), "session": _l("Bijeenkomst"), "present": _l("Aanwezig (ouder #)"),
                 "consented": _l("Met toestemming (ouder #)"), "without_consent": _l("Zonder toestemming (ouder #)")}
SEARCH_MAX = 200


class AuditFilterForm(FlaskForm):
    """The search boxes, read from the query string (a GET form: it changes nothing, so no CSRF token)."""

    class Meta:
        csrf = False

    parent = SearchField(_l("Ouder (naam of nummer)"), validators=[Length(max=SEARCH_MAX)])
    course = SearchField(_l("Cursus (titel of nummer)"), validators=[Length(max=SEARCH_MAX)])
    actor = SearchField(_l("Door (naam of nummer)"), validators=[Length(max=SEARCH_MAX)])


def _position(name: str):
    value = request.args.get(name)
    if value is None:
        return None
    try:
        return audit.parse_cursor(value)
    except ValueError:
        abort(400)


@bp.route("/audit")
@coordinator_required
def audit_log():
    form = AuditFilterForm(request.args)
    valid = form.validate()
    organisation_id = current_user.organisation_id
    filters = audit.search_filters(organisation_id, parent=form.parent.data, course=form.course.data,
                                   actor=form.actor.data) if valid else []
    page = audit.entries_page(organisation_id, filters, before=_position("before"), after=_position("after"))
    titles = audit.course_titles(organisation_id, {e.course_id for e in page.entries if e.course_id})
    args = {name: value for name in form.data if (value := request.args.get(name)) and valid}
    return render_template("accounts/audit.html", form=form, page=page, titles=titles, args=args,
                           actions=audit.ACTIONS, kinds=audit.ACTOR_KINDS, detail_labels=DETAIL_LABELS), \
        200 if valid else 400
