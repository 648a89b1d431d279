"""The composition root: create_app() wires config, extensions, blueprints, tasks, errors and CLI."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

# Domain packages, registered explicitly so a reader sees the wiring (style.md §3.1).
import accounts.api  # noqa: F401  (registers API routes)
import accounts.tasks  # noqa: F401  (registers tasks for the worker)
import activities.api  # noqa: F401
import activities.tasks  # noqa: F401
import courses.api  # noqa: F401
import courses.tasks  # noqa: F401
import demo
import parents.tasks  # noqa: F401
import recordings.api  # noqa: F401  (registers API routes)
import recordings.publish_tasks  # noqa: F401
import recordings.tasks  # noqa: F401
import sessions.api  # noqa: F401
import sessions.outbox  # noqa: F401  (imports sessions.invite_tasks)
import sessions.reminders  # noqa: F401
import sessions.tasks  # noqa: F401
from accounts.audit_views import bp as audit_bp
from accounts.cli import orgs_cli, tokens_cli, trainers_cli
from accounts.views import bp as accounts_bp
from activities.views import bp as activities_bp
from core import queue, ratelimits
from core.api import api_blueprint
from core.cli import worker_command
from core.config import PROJECT_ROOT, load_config
from core.errors import register_error_handlers
from core.extensions import babel, csrf, db, limiter, login_manager, migrate
from core.logs import install_redaction
from core.static import init_static
from core.text import bdi, in_page_language, isolate
from core.urls import IdConverter
from core.views import bp as core_bp
from courses.views import bp as courses_bp
from dashboard.views import bp as dashboard_bp
from parents.access import ForgivingLinks, known_link
from parents.feeds import bp as feeds_bp
from parents.lobby import bp as lobby_bp
from parents.presence import bp as presence_bp
from parents.responses import bp as responses_bp
from parents.routemap import bp as parents_bp
from parents.rsvp import bp as rsvp_bp
from parents.watch import bp as watch_bp
from recordings.audit import storage_cli
from recordings.views import bp as recordings_bp
from recordings.watch import bp as playback_bp
from sessions.views import bp as sessions_bp

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


def _origin(url: str | None) -> str | None:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def _jitsi_origin(config: dict) -> str | None:
    return "https://8x8.vc" if config.get("JAAS_APP_ID") else _origin(config.get("JITSI_BASE_URL"))


def _s3_origin(config: dict) -> str | None:
    # Presigned URLs point at the endpoint, or at <bucket>.<endpoint host> with virtual-hosted addressing.
    if not config.get("S3_BUCKET"):
        return None
    endpoint = urlsplit(config.get("S3_ENDPOINT_URL") or "")
    if not endpoint.netloc:
        return "https://*.amazonaws.com"
    host = endpoint.netloc
    if config.get("S3_ADDRESSING_STYLE") == "virtual":
        host = f"{config['S3_BUCKET']}.{host}"
    return f"{endpoint.scheme}://{host}"


def content_security_policy(config: dict) -> str:
    """The CSP header: our own origin, plus the Jitsi host (script and frame) and the S3 endpoint (media)."""
    jitsi, s3 = _jitsi_origin(config), _s3_origin(config)
    extra_media = f" {s3}" if s3 else ""
    extra_jitsi = f" {jitsi}" if jitsi else ""
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self'{extra_jitsi}",
        f"frame-src{extra_jitsi or ' ' + chr(39) + 'none' + chr(39)}",
        f"connect-src 'self'{extra_media}{extra_jitsi}",
        f"media-src 'self' blob:{extra_media}",
        f"img-src 'self' data: blob:{extra_media}",
        "style-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def permissions_policy(config: dict) -> str:
    """Camera, microphone and screen sharing for our pages and the Jitsi room they embed; nothing else."""
    jitsi = _jitsi_origin(config)
    allow = f'(self "{jitsi}")' if jitsi else "(self)"
    return ", ".join([f"camera={allow}", f"microphone={allow}", f"display-capture={allow}", f"fullscreen={allow}",
                      f"autoplay={allow}", "geolocation=()", "payment=()", "usb=()"])


def _security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Permissions-Policy", permissions_policy(current_app.config))
    response.headers.setdefault("Content-Security-Policy", content_security_policy(current_app.config))
    if current_app.config.get("HSTS"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.blueprint == "api":  # ASVS 14.4.2: a browser never renders an API answer as a page
        response.headers.setdefault("Content-Disposition", 'attachment; filename="api.json"')
    if request.endpoint != "static" and (g.get("api_user") or "_user_id" in session):  # no user load here
        # Staff pages and API answers hold parents' details: no copy in the browser's or a proxy's cache.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _init_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    # The limiter's hooks are installed even when it is off (tests), so a test can switch it on for itself.
    enabled = app.config.setdefault("RATELIMIT_ENABLED", True)
    app.config["RATELIMIT_ENABLED"] = True
    limiter.init_app(app)
    app.config["RATELIMIT_ENABLED"] = limiter.enabled = enabled
    ratelimits.headers_on_refusals_only(app, limiter)


def _init_queue(app: Flask) -> None:
    queue.bind_app(app)
    if app.config.get("HUEY_IMMEDIATE"):
        queue.huey.immediate = True
    app.extensions["huey"] = queue.huey


def create_app(overrides: dict | None = None) -> Flask:
    """Build the Flask app from the environment, with `overrides` applied last (tests)."""
    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"))
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.config.update(load_config(overrides))
    install_redaction()
    if app.config.get("PROXY_COUNT"):
        # Behind N trusted proxies: the client address (rate limits) and https come from their headers.
        hops = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    app.wsgi_app = ForgivingLinks(app.wsgi_app)  # a link with a trailing ".", ")", "/" or line break still opens
    app.extensions["known_link"] = known_link  # core.ratelimits: a valid link is never refused for others' guesses
    _init_extensions(app)
    _init_queue(app)
    api = api_blueprint()
    csrf.exempt(api)  # the API authenticates with bearer tokens, not cookies
    for blueprint in (core_bp, accounts_bp, audit_bp, courses_bp, activities_bp, parents_bp, responses_bp, sessions_bp,
                      lobby_bp, presence_bp, rsvp_bp, feeds_bp, recordings_bp, playback_bp, watch_bp, dashboard_bp, api):
        app.register_blueprint(blueprint)
    for command in (worker_command, orgs_cli, trainers_cli, tokens_cli, demo.demo_command, storage_cli):
        app.cli.add_command(command)
    sessions.outbox.connect_scheduling_signals()
    register_error_handlers(app)
    init_static(app)
    app.context_processor(_template_globals)
    app.jinja_env.filters["bdi"] = bdi  # trainer-entered text on parent pages, direction-isolated
    app.jinja_env.filters["local"] = in_page_language  # a title or description in the page's language
    app.jinja_env.filters["isolate"] = isolate  # the same in plain text (SMS, text mails): Unicode isolates
    app.after_request(_security_headers)
    return app
