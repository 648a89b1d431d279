"""The parent's page for one home activity (blueprint `responses`): the activity, their thread, their answer.

Reached from the route map (personal link) or from a nudge (the calendar token, as recording messages do).
Another parent's responses, other courses' activities and unknown tokens all give the same 404. Stored files
are only handed out as short-lived signed URLs, after the same check.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import force_locale, format_date
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from activities import answers, services
from activities import media as activity_media
from activities.forms import ResponseForm
from activities.media import signed_redirect
from activities.models import ActivityMedia, ActivityResponse, HomeActivity, MediaState, ResponseKind
from core.errors import DomainError
from core.extensions import csrf, db, limiter
from core.ratelimits import configured
from courses.models import Parent
from parents.access import page_language, parent_or_404, private, route_map_token

bp = Blueprint("responses", __name__, url_prefix="/p/<token>/activities/<int:activity_id>")

#: Per link, like the route map (core.ratelimits).
RATE_LIMIT = configured("RATELIMIT_PERSONAL_LINK")
#: Per link as well; a parent on a bad connection may retry a few times, each retry is one request.
UPLOAD_RATE_LIMIT = "20 per minute"
#: Room for the text field and the multipart framing around the file.
FORM_OVERHEAD_BYTES = 1024 * 1024


def _activity_or_404(token: str, activity_id: int) -> tuple[Parent, HomeActivity]:
    parent = parent_or_404(token)
    activity = db.session.get(HomeActivity, activity_id)
    if activity is None or activity.course.archived_at is not None \
            or not services.is_for(activity, parent):
        abort(404)
    return parent, activity


def new_client_key() -> str:
    """A fresh idempotency key for one answer form."""
    return secrets.token_urlsafe(24)


def _texts(activity: HomeActivity, language: str) -> dict:
    return {name: activity.text_in(language, name) for name in services.TEXT_FIELDS}


def _accept(activity: HomeActivity) -> str:
    asked = {k.value for k in activity.requested}
    return ",".join(t for k, t in (("photo", "image/*"), ("clip", "video/*")) if k in asked)


def _page(parent: Parent, activity: HomeActivity, token: str, language: str, *, form: ResponseForm | None = None,
          error: str | None = None, status: int = 200):
    form = form or ResponseForm(formdata=None, client_key=new_client_key())
    back = url_for("parents.route_map", token=token) if route_map_token(token) else None
    with force_locale(language):
        html = render_template(
            "parents/activity.html", parent=parent, activity=activity, token=token, texts=_texts(activity, language),
            due=format_date(activity.due_on, "long") if activity.due_on else None,
            asked=[k.value for k in activity.requested], accept=_accept(activity), form=form, error=error,
            items=answers.thread(activity, parent), back_url=back,
            parent_file_url=lambda item, part: url_for(
                "responses.response_file", token=token, activity_id=activity.id, response_id=item.id,
                part="thumb" if part == "file" and item.kind is ResponseKind.photo else part),
            parent_delete_url=lambda item: url_for("responses.delete_response", token=token,
                                                   activity_id=activity.id, response_id=item.id),
            media=[m for m in activity.media if m.state is MediaState.ready],
            max_bytes=activity_media.max_upload_bytes(), too_large=activity_media.too_large_message(),
            max_seconds=activity_media.max_seconds())
    return private(make_response(html, status))


@bp.route("", methods=["GET"])
@limiter.limit(RATE_LIMIT)
def show(token: str, activity_id: int):
    parent, activity = _activity_or_404(token, activity_id)
    return _page(parent, activity, token, page_language(parent))


def _first_file():
    return next((f for f in request.files.getlist("file") if f and f.filename), None)


def _answer(parent: Parent, activity: HomeActivity) -> tuple[ResponseForm | None, str | None, int]:
    """Store the posted answer and commit: (form, None, 201), or (form, message, status) when it was refused."""
    form = None
    try:
        form = ResponseForm()
        upload = _first_file()
        response, created = answers.add_response(activity, parent, client_key=form.client_key.data or "",
                                                 text=form.text.data or "",
                                                 stream=upload.stream if upload else None)
    except RequestEntityTooLarge:
        return form, activity_media.too_large_message(), 413
    except answers.DuplicateResponse:
        db.session.rollback()  # the same answer is already in, from the request this one retried
        if answers.find_response(parent, form.client_key.data) is None:
            return form, str(activity_media.MSG_STORAGE), 400  # it was another constraint after all
        return form, None, 201
    except DomainError as exc:
        db.session.rollback()
        return form, str(exc.message), 400
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()  # keep storage and database in step: the files of an unsaved answer go too
        if created:
            activity_media.delete_objects(response.keys)
        raise
    return form, None, 201


@bp.route("", methods=["POST"])
@limiter.limit(UPLOAD_RATE_LIMIT)
def respond(token: str, activity_id: int):
    parent, activity = _activity_or_404(token, activity_id)
    language = page_language(parent)
    request.max_content_length = activity_media.max_upload_bytes() + FORM_OVERHEAD_BYTES
    page_url = url_for("responses.show", token=token, activity_id=activity.id) + "#thread"
    with force_locale(language):
        form, error, status = _answer(parent, activity)
        if error is None:
            flash(_("Dank je wel! De trainer ziet je antwoord."), "info")
    if request.accept_mimetypes.best == "application/json":  # the page's script; it retries on network errors
        return private(make_response(jsonify({"error": error} if error else {"url": page_url}), status))
    if error:
        form = form or ResponseForm(formdata=None, client_key=new_client_key())
        return _page(parent, activity, token, language, form=form, error=error, status=status)
    return redirect(page_url, code=303)


# Bound to the parent's secret link in the URL, not to a cookie, so there is no session to forge a request with;
# and an upload retried an hour later on a bad connection must not fail on an expired CSRF token.
csrf.exempt(respond)


@bp.route("/responses/<int:response_id>/delete", methods=["POST"])
@limiter.limit(RATE_LIMIT)
def delete_response(token: str, activity_id: int, response_id: int):
    parent, activity = _activity_or_404(token, activity_id)
    response = _own_response_or_404(parent, activity, response_id)
    answers.delete_response(response)
    db.session.commit()
    with force_locale(page_language(parent)):
        flash(_("Je antwoord is verwijderd."), "info")
    return redirect(url_for("responses.show", token=token, activity_id=activity.id) + "#thread", code=303)


csrf.exempt(delete_response)  # same reason as `respond`


def _own_response_or_404(parent: Parent, activity: HomeActivity, response_id: int) -> ActivityResponse:
    response = db.session.get(ActivityResponse, response_id)
    if response is None or response.activity_id != activity.id or response.parent_id != parent.id:
        abort(404)
    return response


@bp.route("/responses/<int:response_id>/<any(file, poster, thumb):part>")
@limiter.limit(RATE_LIMIT)
def response_file(token: str, activity_id: int, response_id: int, part: str):
    parent, activity = _activity_or_404(token, activity_id)
    response = _own_response_or_404(parent, activity, response_id)
    if part == "thumb":
        # A screen-sized copy of the parent's own photo, made on first view and kept as the row's poster.
        if response.kind is not ResponseKind.photo or response.state is not MediaState.ready:
            abort(404)
        if not response.poster_key:
            activity_media.store_thumbnail(response)
            db.session.commit()
        part = "poster"
    return signed_redirect(response, part)


@bp.route("/media/<int:media_id>/<any(file, poster):part>")
@limiter.limit(RATE_LIMIT)
def media_file(token: str, activity_id: int, media_id: int, part: str):
    _parent, activity = _activity_or_404(token, activity_id)
    row = services.find_part(activity, ActivityMedia, media_id)
    if row is None:
        abort(404)
    return signed_redirect(row, part)
