"""Domain errors and the 403/404/500 handlers (HTML for pages, the JSON error shape for the API)."""

from __future__ import annotations

import contextlib
import sqlite3

from flask import Flask, current_app, flash, g, jsonify, make_response, render_template, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from core.extensions import db, login_manager
from core.ratelimits import link_token


class DomainError(Exception):
    """A rule of the domain was broken; `field` names the form field it belongs to, if any."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def caught(check, *args, **kwargs) -> list[DomainError]:
    """The broken rules that `check(*args, **kwargs)` raises, as a list (empty when it passes)."""
    try:
        check(*args, **kwargs)
    except DomainError as exc:
        return list(getattr(exc, "errors", [exc]))
    return []


def raise_all(errors: list[DomainError]) -> None:
    """Raise every collected broken rule at once (a form shows them all in one round): the first, of its own class,
    carrying all of them in `errors`; nothing when there are none."""
    if errors:
        first = errors[0]
        error = type(first)(first.message, first.field)
        error.errors = errors
        raise error


def show_error(form, exc: DomainError) -> None:
    """Attach a DomainError (or each of DomainErrors) to its form field, or flash it when it names no field."""
    for error in getattr(exc, "errors", [exc]):
        field = getattr(form, error.field, None) if error.field else None
        if field is not None:
            field.errors = [*field.errors, str(error.message)]
        else:
            flash(str(error.message), "error")


def save_form(form, change, *, done: str | None = None):
    """Run `change()` for a submitted form: on a DomainError roll back and show it on its field (returns None);
    else commit, flash `done` and return what `change` returned (True when that was None)."""
    try:
        result = change()
    except DomainError as exc:
        db.session.rollback()  # a change may have flushed part of its rows before the rule that failed
        show_error(form, exc)
        return None
    db.session.commit()
    if done:
        flash(done, "info")
    return True if result is None else result


def press_button(form, change, *, done: str | None = None) -> None:
    """Run `change()` for a button that changes state once `form` (only its CSRF token) validates, then commit and
    flash `done`; nothing when it does not validate. A DomainError is not caught here (see save_form)."""
    if form.validate_on_submit():
        change()
        db.session.commit()
        if done:
            flash(done, "info")


def api_error(code: str, message: str, status: int, field: str | None = None):
    """The one JSON error shape of the API: {"error": {"code", "message", "field"}}."""
    response = jsonify({"error": {"code": code, "message": message, "field": field}})
    response.status_code = status
    return response


def wants_json() -> bool:
    """True for API requests, which always get JSON errors."""
    return request.path.startswith("/api/")


def _http_error(exc: HTTPException):
    if exc.code and exc.code >= 500:
        db.session.rollback()
    if wants_json():
        code = (exc.name or "error").lower().replace(" ", "_")
        response = api_error(code, exc.description or exc.name, exc.code or 500)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response
    parent_link = bool(link_token()) or request.path.startswith(("/p/", "/c/", "/r/"))
    if exc.code in (404, 429) and parent_link:
        # A parent's link: all the parents' languages, the browser's first (a dead link has no parent to ask).
        g.page_languages = current_app.config["LANGUAGES"]
    if exc.code in (403, 404, 429, 500):  # 429: Flask-Limiter adds Retry-After after the handler
        return render_template(f"errors/{exc.code}.html", parent_link=parent_link), exc.code
    return exc


def _unexpected_error(exc: Exception):
    # Logged first, so a rollback that fails too cannot hide it; core.logs redacts the path and the traceback.
    current_app.logger.error("Unexpected error on %s %s", request.method, request.path, exc_info=exc)
    db.session.rollback()
    if wants_json():
        return api_error("internal_error", "Something went wrong on our side.", 500)
    return render_template("errors/500.html"), 500


def database_unavailable(exc: DBAPIError) -> bool:
    """True when the database is out of reach for now (restart, fail-over, SQLite busy): worth a retry, not a bug."""
    if exc.connection_invalidated:
        return True
    if isinstance(exc.orig, sqlite3.Error):  # SQLite's OperationalError also covers mistakes such as "no such table"
        return isinstance(exc, OperationalError) and any(w in str(exc.orig) for w in ("locked", "busy"))
    return isinstance(exc, OperationalError | InterfaceError)  # PostgreSQL: connection, shutdown, resources


def _database_error(exc: DBAPIError):
    if not database_unavailable(exc):
        raise exc  # a real bug: Flask logs it with its traceback, then the 500 page (in tests: the failing test)
    current_app.logger.warning("Database unavailable on %s %s", request.method, request.path, exc_info=exc)
    with contextlib.suppress(SQLAlchemyError):
        db.session.rollback()
    # The page must not ask the database who is logged in: it would fail again and end in a bare error.
    g._login_user = login_manager.anonymous_user()
    if wants_json():
        response = api_error("unavailable", "The service is briefly unavailable. Try again in a minute.", 503)
    else:
        response = make_response(render_template("errors/500.html"), 503)
    response.headers["Retry-After"] = "30"
    return response


def register_error_handlers(app: Flask) -> None:
    """Install the error handlers on the app."""
    app.register_error_handler(HTTPException, _http_error)
    # Always, tests included: a database that is briefly away is an answer (503), not a crash.
    app.register_error_handler(DBAPIError, _database_error)
    if not app.testing:
        # In tests an unexpected exception should surface as a failure, not a rendered 500 page.
        app.register_error_handler(Exception, _unexpected_error)
