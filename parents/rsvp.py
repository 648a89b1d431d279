"""The parent's one-tap RSVP page behind the links in reminders (blueprint `rsvp`): a GET shows, a POST records."""

from __future__ import annotations

from flask import Blueprint, abort, make_response, redirect, render_template, url_for
from flask_babel import force_locale

from core.extensions import csrf, db, limiter
from courses.models import Parent
from parents.access import page_language, private
from sessions.calendar import join_url, local_when
from sessions.calendar_models import RsvpAnswer
from sessions.models import WorkshopSession
from sessions.rsvp import ANSWERS, SLUGS, RsvpClosedError, answer_of, find_rsvp_link, is_open, record_rsvp

bp = Blueprint("rsvp", __name__, url_prefix="/r")

#: Per code (core.ratelimits keys code routes on the code); wrong codes count per address, as guesses.
RATE_LIMIT = "30 per minute"
_ROUTE = "/<int:feed_id>/<int:session_id>/<code>/<any(yes, no):answer>"


def _link_or_404(feed_id: int, session_id: int, code: str) -> tuple[Parent, WorkshopSession]:
    found = find_rsvp_link(feed_id, session_id, code)
    if found is None:
        abort(404)
    return found


@bp.route(_ROUTE, methods=["GET"])
@limiter.limit(RATE_LIMIT)
def show(feed_id: int, session_id: int, code: str, answer: str):
    # A GET never records: link previewers and scanners fetch every URL in a message.
    parent, session = _link_or_404(feed_id, session_id, code)
    language = page_language(parent)
    current = answer_of(session, parent)
    urls = {slug: url_for("rsvp.record", feed_id=feed_id, session_id=session_id, code=code, answer=slug)
            for slug in ANSWERS}
    with force_locale(language):
        html = render_template("sessions/rsvp.html", parent=parent, session=session, wanted=ANSWERS[answer],
                               current=current, urls=urls, slugs=SLUGS, open=is_open(session),
                               when=local_when(session, language),
                               join=join_url(parent, session) if current is RsvpAnswer.coming else None)
    return private(make_response(html))


@bp.route(_ROUTE, methods=["POST"])
@limiter.limit(RATE_LIMIT)
@csrf.exempt  # the unguessable code in the path is the credential; no cookie is needed (in-app browsers drop them)
def record(feed_id: int, session_id: int, code: str, answer: str):
    parent, session = _link_or_404(feed_id, session_id, code)
    try:
        record_rsvp(session, parent, ANSWERS[answer])
    except RsvpClosedError:
        db.session.rollback()
    else:
        db.session.commit()
    return redirect(url_for("rsvp.show", feed_id=feed_id, session_id=session_id, code=code, answer=answer), 303)
