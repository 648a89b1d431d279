"""PostgreSQL restarted during a burst of requests: a private cluster (initdb + pg_ctl, never the shared server).

While a client thread keeps enrolling parents through the API and opening a parent's page, the cluster restarts.
Requests caught by the restart get a clean 503 (the JSON error shape, or the error page: no traceback); every
request that starts after it succeeds without restarting the app (pool_pre_ping); and no request wrote half of
its rows: every stored parent has its enrolment and calendar feed, and every 201 has its parent.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from accounts import services as accounts
from core.app import create_app
from core.extensions import db as _db
from courses import links
from courses import services as courses
from tests.conftest import app_overrides
from tests.faults.conftest import wait_for
from tests.fixtures.services import need
from tests.fixtures.smtp import free_port

pytestmark = [pytest.mark.slow, pytest.mark.adapter]


class PrivateCluster:
    """A throw-away PostgreSQL cluster in a temporary folder, on a free port, trusting local connections."""

    def __init__(self):
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        need(bool(binaries) or bool(shutil.which("pg_ctl")), "PostgreSQL server programs (initdb, pg_ctl)")
        self.bin = Path(binaries[-1]).parent if binaries else Path(shutil.which("pg_ctl")).parent
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="ouderkamer-pg-"))
        self.data = self.folder / "data"
        self.user = None
        if os.geteuid() == 0:  # initdb refuses to run as root; the server runs as the postgres account
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                need(False, "a 'postgres' account to run a private PostgreSQL as (the tests run as root)")
            os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)
        self.folder.chmod(0o755)

    def _run(self, program: str, *args: str) -> None:
        kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid} if self.user else {}
        subprocess.run([str(self.bin / program), *args], check=True, capture_output=True, timeout=120, **kwargs)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def _options(self) -> str:
        return f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-o", self._options(), "-l", str(self.folder / "log"), "-w",
                  "start")

    def restart(self) -> None:
        """A fast restart: open connections are cut, as in a fail-over or an upgrade."""
        self._run("pg_ctl", "-D", str(self.data), "-o", self._options(), "-l", str(self.folder / "log"), "-m", "fast",
                  "-w", "restart")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="module")
def cluster():
    server = PrivateCluster()
    try:
        server.init()
        server.start()
        yield server
    finally:
        if (server.data / "postmaster.pid").exists():
            server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture
def served_app(cluster, tmp_path):
    """The app (production error handling: TESTING off) on a fresh database of the cluster, over real HTTP."""
    admin = create_engine(cluster.url().replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS burst WITH (FORCE)"))
        conn.execute(text("CREATE DATABASE burst"))
    admin.dispose()
    app = create_app({**app_overrides(tmp_path, cluster.url("burst")), "TESTING": False})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    with app.app_context():
        _db.engine.dispose()


@dataclass
class Answer:
    kind: str
    started: float
    status: int
    body: str
    name: str = ""


def _burst(base: str, headers: dict, course_id: int, page: str, stop: threading.Event, answers: list) -> None:
    """Alternate an API write (a new parent) and a parent's page, until told to stop."""
    session = requests.Session()
    number = 0
    while not stop.is_set():
        number += 1
        name = f"Ouder {number}"
        started = time.monotonic()
        try:
            response = session.post(f"{base}/api/v1/courses/{course_id}/parents", headers=headers, timeout=30,
                                    json={"name": name, "email": f"ouder{number}@example.org"})
            answers.append(Answer("api", started, response.status_code, response.text, name))
            started = time.monotonic()
            response = session.get(f"{base}{page}", timeout=30)
            answers.append(Answer("page", started, response.status_code, response.text))
        except requests.RequestException as exc:  # a cut connection is not an answer; the next one tries again
            answers.append(Answer("none", started, 0, repr(exc), name))


def _burst_once(base: str, headers: dict, course_id: int, page: str, name: str) -> tuple[int, int]:
    api = requests.post(f"{base}/api/v1/courses/{course_id}/parents", headers=headers, timeout=30,
                        json={"name": name, "email": "stilte@example.org"})
    return api.status_code, requests.get(f"{base}{page}", timeout=30).status_code


def test_postgres_restart_during_a_burst_gives_clean_503s_then_serves_again_with_no_half_writes(cluster,
                                                                                             served_app):
    app, base = served_app
    with app.app_context():
        user = accounts.create_user("co@example.org", name="Co", password="correct horse battery", coordinator=True)
        course = courses.create_course(title="Voorlezen", trainers=[user])
        parent, _ = courses.enrol_parent(course, name="Sanne", email="sanne@example.org")
        page = "/p/" + links.issue_personal_link(parent).rsplit("/", 1)[1]
        _row, token = accounts.create_api_token(user)
        _db.session.commit()
        course_id = course.id
    answers: list[Answer] = []
    stop = threading.Event()
    client = threading.Thread(target=_burst, args=(base, {"Authorization": f"Bearer {token}"}, course_id, page, stop,
                                                   answers), daemon=True)
    client.start()

    wait_for(lambda: sum(a.status == 201 for a in answers) >= 5, timeout=60, what="five parents before the restart")
    cluster.restart()
    restarted = time.monotonic()
    wait_for(lambda: sum(a.started > restarted for a in answers) >= 20, timeout=60,
             what="twenty answers after the restart")
    stop.set()
    client.join(timeout=60)
    # And a restart while nothing runs: the pool's idle connections are dead; the next request must not notice.
    cluster.restart()
    quiet = [_burst_once(base, {"Authorization": f"Bearer {token}"}, course_id, page, "Ouder na stilte")]

    after = [(a.kind, a.status) for a in answers if a.started > restarted]
    failed = [a for a in answers if a.status not in (200, 201)]
    created = {a.name for a in answers if a.kind == "api" and a.status == 201}
    sent = {a.name for a in answers if a.kind == "api"} | {a.name for a in answers if a.kind == "none"}
    with app.app_context():
        rows = _db.session.execute(text(
            "SELECT p.name, count(DISTINCT e.id), count(DISTINCT f.id) FROM parents p "
            "LEFT JOIN enrolments e ON e.parent_id = p.id LEFT JOIN calendar_feeds f ON f.parent_id = p.id "
            "WHERE p.name LIKE 'Ouder %' AND p.name != 'Ouder na stilte' GROUP BY p.name")).all()
    stored = {name for name, _e, _f in rows}
    assert set(after) <= {("api", 201), ("page", 200)}, after
    assert quiet == [(201, 200)]
    assert all(a.status == 503 for a in failed), [(a.kind, a.status, a.body[:200]) for a in failed]
    assert all("Traceback" not in a.body for a in answers)
    assert all(a.body.startswith('{"error":{"code":"unavailable"') for a in failed if a.kind == "api" and a.status)
    assert all("Er ging iets mis" in a.body for a in failed if a.kind == "page")
    assert created <= stored <= sent
    assert all((enrolments, feeds) == (1, 1) for _name, enrolments, feeds in rows), rows
