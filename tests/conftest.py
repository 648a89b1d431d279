"""Root fixtures: the app on SQLite (and PostgreSQL when TEST_DATABASE_URL is set), a clean database per test,
an isolated test client, a logged-in trainer, a live server and a Chromium browser."""

from __future__ import annotations

import contextvars
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

# Before any app import: the queue module reads INSTANCE_PATH/REDIS_URL at import time, and tests must not
# write into the developer's instance folder.
_TEST_INSTANCE = Path(tempfile.mkdtemp(prefix="ouderkamer-test-"))
os.environ["INSTANCE_PATH"] = str(_TEST_INSTANCE)

from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from core import queue  # noqa: E402
from core.app import create_app  # noqa: E402
from core.config import sqlalchemy_url  # noqa: E402
from core.extensions import db as _db  # noqa: E402
from core.extensions import limiter  # noqa: E402
from tests.fixtures.services import need, services_required  # noqa: E402


def _compile_translations() -> None:
    # `make test` compiles the catalogues; this keeps a bare `pytest` run working too.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in Path(__file__).resolve().parent.parent.glob("translations/*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as src, mo.open("wb") as dst:
                write_mo(dst, read_po(src))


_compile_translations()

pytest_plugins = [
    "tests.fixtures.s3",
    "tests.fixtures.smtp",
    "tests.fixtures.caldav",
    "tests.fixtures.media",
    "tests.fixtures.recordings",
    "tests.fixtures.jitsi_stub",
    "tests.fixtures.factories",
]

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
BACKENDS = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL else [])
PASSWORD = "correct horse battery"
CHROMIUM = "/usr/bin/chromium"


def pytest_configure(config):
    if services_required() and not TEST_DATABASE_URL:
        raise pytest.UsageError("REQUIRE_SERVICES=1 needs TEST_DATABASE_URL (PostgreSQL) to be set")


def pytest_report_header(config):
    redis = os.environ.get("REDIS_URL") or "not set (SQLite queue)"
    return [f"ouderkamer: database backends: {', '.join(BACKENDS)}"
            + (f" ({TEST_DATABASE_URL})" if TEST_DATABASE_URL else ""),
            f"ouderkamer: REDIS_URL: {redis}; REQUIRE_SERVICES={int(services_required())}"]


class IsolatedClient(FlaskClient):
    """A test client whose every request gets its own app context and db session, as in production."""

    def open(self, *args, **kwargs):
        # Flask reuses an app context that is already pushed (the test's own), which would share g,
        # the logged-in user and the db session between requests; an empty contextvars context avoids that.
        return contextvars.Context().run(super().open, *args, **kwargs)


def _private_postgres_database(url: str) -> str:
    """Create a fresh database for this test run beside TEST_DATABASE_URL's, so parallel runs never collide."""
    admin_url = make_url(sqlalchemy_url(url))
    name = f"{admin_url.database}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any connection failure means "PostgreSQL not available"
        need(False, f"PostgreSQL at {url} ({type(exc).__name__}: {exc})")
    return admin_url.set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(url: str) -> None:
    private = make_url(url)
    engine = create_engine(private.set(database=make_url(sqlalchemy_url(TEST_DATABASE_URL)).database),
                           isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{private.database}" WITH (FORCE)'))
    engine.dispose()


def app_overrides(instance: Path, database_url: str) -> dict:
    """Config overrides for a test app."""
    return {
        "DATABASE_URL": database_url, "INSTANCE_PATH": str(instance), "TESTING": True, "HUEY_IMMEDIATE": True,
        "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "SECRET_KEY": "test-secret-" + "x" * 32,
        "PUBLIC_BASE_URL": "http://ouderkamer.test", "MAIL_TRANSPORT": "memory", "SMS_TRANSPORT": "memory",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"
    }


@pytest.fixture(scope="session", params=BACKENDS)
def app(request, tmp_path_factory):
    instance = tmp_path_factory.mktemp(f"instance-{request.param}")
    if request.param == "postgresql":
        url = _private_postgres_database(TEST_DATABASE_URL)
    else:
        url = f"sqlite:///{instance / 'test.sqlite'}"
    application = create_app(app_overrides(instance, url))
    application.test_client_class = IsolatedClient
    with application.app_context():
        from flask_migrate import upgrade

        upgrade()
    yield application
    with application.app_context():
        _db.engine.dispose()
    if request.param == "postgresql":
        _drop_postgres_database(url)


def _clean_tables(application) -> None:
    with application.app_context():
        tables = [t.name for t in reversed(_db.metadata.sorted_tables)]
        if _db.engine.dialect.name == "postgresql":
            _db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                _db.session.execute(text(f"DELETE FROM {name}"))
        _db.session.commit()


@pytest.fixture
def db(app):
    """The SQLAlchemy extension inside an app context, with every table emptied after the test."""
    queue.bind_app(app)
    if app.config.get("RATELIMIT_ENABLED", True):
        limiter.reset()
    for key in ("ouderkamer.mail", "ouderkamer.sms"):
        app.extensions.pop(key, None)  # a fresh memory outbox per test
    if queue.huey.immediate:
        queue.huey.flush()  # retries an earlier test scheduled (immediate mode keeps them in memory) stay there
    with app.app_context():
        yield _db
        _db.session.rollback()
    _clean_tables(app)


@pytest.fixture
def client(app, db):
    return app.test_client()


@pytest.fixture
def runner(app, db):
    return app.test_cli_runner()


class AuthActions:
    """Log a user in and out through the real login form."""

    def __init__(self, client):
        self._client = client

    def login(self, email: str, password: str = PASSWORD):
        return self._client.post("/login", data={"email": email, "password": password})

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


class _Gate:
    """WSGI middleware for the live server: counts requests in flight and refuses new ones once closing.

    A browser may still send a request (a beacon, a poll) on a kept-alive connection after the test ended; without
    the gate it could write to the database after the per-test clean-up.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app, self.in_flight, self.closing = wsgi_app, 0, False
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            if self.closing:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"test server closing"]
            self.in_flight += 1
        try:
            iterable = self.wsgi_app(environ, start_response)
            try:
                return list(iterable)
            finally:
                if hasattr(iterable, "close"):
                    iterable.close()
        finally:
            with self.lock:
                self.in_flight -= 1

    def close(self, timeout: float = 10.0) -> None:
        with self.lock:
            self.closing = True
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)


@pytest.fixture
def live_server(app, db):
    """The test app served over real HTTP on a free loopback port, in a thread."""
    gate = _Gate(app)
    server = make_server("127.0.0.1", 0, gate, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    gate.close()
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    need(Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="nl-NL")
    yield context.new_page()
    context.close()
