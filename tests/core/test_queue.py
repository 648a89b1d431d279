"""The queue: enqueue-after-commit on SQLite and Redis, and the real worker process."""

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from huey import RedisHuey, SqliteHuey

from accounts.models import Organisation, User
from core.queue import enqueue_after_commit, task
from tests.fixtures.services import need

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL", "").strip()


def _redis_huey() -> RedisHuey:
    need(bool(REDIS_URL), "Redis (REDIS_URL)")
    huey = RedisHuey(f"ouderkamer-test-{uuid.uuid4().hex}", url=REDIS_URL)
    try:
        huey.storage.conn.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means Redis is not reachable
        need(False, f"Redis at {REDIS_URL} ({exc})")
    return huey


@pytest.fixture(params=["sqlite", "redis"])
def real_huey(request, tmp_path):
    huey = SqliteHuey("ouderkamer-test", filename=str(tmp_path / "q.sqlite")) if request.param == "sqlite" \
        else _redis_huey()
    yield huey
    huey.flush()


def _drain(huey) -> None:
    while (message := huey.dequeue()) is not None:
        huey.execute(message)


def test_job_enqueued_in_rolled_back_transaction_never_runs(db, real_huey):
    ran = []

    @real_huey.task(name="test.record")
    def record(value):
        ran.append(value)

    db.session.add(Organisation(name="a@example.org"))
    enqueue_after_commit(db.session, record, "rolled back")
    db.session.rollback()
    db.session.add(Organisation(name="b@example.org"))
    enqueue_after_commit(db.session, record, "committed")
    db.session.commit()
    pending = real_huey.pending_count()
    _drain(real_huey)

    assert pending == 1
    assert ran == ["committed"]


def test_nothing_is_enqueued_before_the_commit(db, real_huey):
    @real_huey.task(name="test.noop")
    def noop():
        return None

    enqueue_after_commit(db.session, noop)
    before = real_huey.pending_count()
    db.session.commit()

    assert (before, real_huey.pending_count()) == (0, 1)


def test_released_savepoint_does_not_send_before_the_real_commit(db, real_huey):
    @real_huey.task(name="test.noop")
    def noop(value):
        return value

    db.session.add(Organisation(name="outer@example.org"))
    enqueue_after_commit(db.session, noop, "outer")
    with db.session.begin_nested():
        db.session.add(Organisation(name="inner@example.org"))
        enqueue_after_commit(db.session, noop, "inner")
    after_savepoint = real_huey.pending_count()
    db.session.commit()

    assert (after_savepoint, real_huey.pending_count()) == (0, 2)


def test_rolled_back_savepoint_drops_only_its_own_jobs(db, real_huey):
    ran = []

    @real_huey.task(name="test.record")
    def record(value):
        ran.append(value)

    enqueue_after_commit(db.session, record, "outer")
    savepoint = db.session.begin_nested()
    enqueue_after_commit(db.session, record, "inside the savepoint")
    savepoint.rollback()
    db.session.commit()
    _drain(real_huey)

    assert ran == ["outer"]


seen_emails: list = []


@task(name="tests.read_user")
def read_user(user_id):
    from core.extensions import db as sa_db

    seen_emails.append(sa_db.session.get(User, user_id).email)


def test_task_runs_after_commit_in_its_own_session_and_sees_the_row(db, trainer):
    seen_emails.clear()

    enqueue_after_commit(db.session, read_user, trainer.id)
    db.session.commit()

    assert seen_emails == [trainer.email]


def _run_flask(args, env, **kwargs):
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, **kwargs)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_worker_process_sends_a_queued_password_reset_mail(tmp_path, backend):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "SMTP_HOST")}
    env.update(INSTANCE_PATH=str(tmp_path), PYTHONUNBUFFERED="1")
    if backend == "redis":
        _redis_huey()
        env["REDIS_URL"] = REDIS_URL
        _run_flask(["shell"], env, input="from core.queue import huey; huey.flush()\n")
    assert _run_flask(["db", "upgrade"], env).returncode == 0
    _run_flask(["trainers", "create", "reset@example.org", "--name", "R", "--password-stdin"], env,
               input="long enough password\n")
    enqueue = ("from accounts import services, tasks; from core.extensions import db\n"
               "u, t = services.start_password_reset('reset@example.org'); db.session.commit()\n"
               "tasks.send_password_reset(u.id, t)\n")
    assert _run_flask(["shell"], env, input=enqueue).returncode == 0

    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "-w", "1"], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output = _read_until(worker, "Nieuw wachtwoord voor Ouderkamer", timeout=30)
    finally:
        worker.terminate()
        worker.wait(timeout=10)
        worker.stdout.close()

    assert "Nieuw wachtwoord voor Ouderkamer" in output
    assert "reset@example.org" in output


def _read_until(proc, needle: str, timeout: float) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and needle not in "".join(lines):
        time.sleep(0.1)
    return "".join(lines)


def test_scheduler_can_read_every_periodic_task():
    # The consumer's scheduler calls validate_datetime on each periodic task every minute; a wrongly declared
    # task kills the scheduler thread, which no task test would notice.
    from datetime import datetime

    from core.queue import huey

    due = {t.name for minute in range(60) for t in huey.read_periodic(datetime(2027, 3, 9, 10, minute))}

    assert {"recordings.reap_stale_steps", "sessions.reminders_tick", "recordings.expire_recordings"} <= due
