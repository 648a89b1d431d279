"""The composition root: create_app() wires config, extensions, blueprints, tasks, errors and CLI."""

from __future__ import annotations

from flask import Flask, g, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user

# Domain packages, registered explicitly so a reader sees the wiring (style.md §3.1).
import accounts.api  # noqa: F401  (registers API routes)
import accounts.tasks  # noqa: F401  (registers tasks for the worker)
import courses.api  # noqa: F401
import courses.tasks  # noqa: F401
import demo
from accounts.cli import tokens_cli, trainers_cli
from accounts.views import bp as accounts_bp
from core import queue
from core.api import api
from core.cli import worker_command
from core.config import PROJECT_ROOT, load_config
from core.errors import register_error_handlers
from core.extensions import babel, csrf, db, limiter, login_manager, migrate
from core.views import bp as core_bp
from courses.routemap import bp as parents_bp
from courses.views import bp as courses_bp

RTL_LANGUAGES = {"ar", "fa", "he", "ur"}


def select_locale() -> str:
    """The UI language: an explicit choice, else the parent's or user's own, else the browser's, else Dutch."""
    if not has_request_context():
        return "nl"  # CLI and worker: Dutch unless a task forces the recipient's language
    languages = g.get("page_languages") or ["nl", "en"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if g.get("parent_language") in languages:
        return g.parent_language
    if current_user and current_user.is_authenticated and current_user.language in languages:
        return current_user.language
    return request.accept_languages.best_match(languages) or languages[0]


def _template_globals() -> dict:
    locale = str(get_locale() or "nl")
    return {"current_lang": locale, "text_dir": "rtl" if locale in RTL_LANGUAGES else "ltr",
            "page_languages": g.get("page_languages") or ["nl", "en"]}


def _security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'",
    )
    return response


def _init_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None
    csrf.init_app(app)
    csrf.exempt(api)  # the API authenticates with bearer tokens, not cookies
    babel.init_app(app, locale_selector=select_locale)
    limiter.init_app(app)


def _init_queue(app: Flask) -> None:
    queue.bind_app(app)
    if app.config.get("HUEY_IMMEDIATE"):
        queue.huey.immediate = True
    app.extensions["huey"] = queue.huey


def create_app(overrides: dict | None = None) -> Flask:
    """Build the Flask app from the environment, with `overrides` applied last (tests)."""
    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"))
    app.config.update(load_config(overrides))
    _init_extensions(app)
    _init_queue(app)
    for blueprint in (core_bp, accounts_bp, courses_bp, parents_bp, api):
        app.register_blueprint(blueprint)
    for command in (worker_command, trainers_cli, tokens_cli, demo.demo_command):
        app.cli.add_command(command)
    register_error_handlers(app)
    app.context_processor(_template_globals)
    app.after_request(_security_headers)
    return app
