"""The Huey instance (SQLite, Redis, or immediate in tests) and enqueue-after-commit.

The instance is built at import time from the environment, because task decorators need it then
(style.md §3.4); the app factory only switches it to immediate mode for tests.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huey import PriorityRedisHuey, SqliteHuey
from huey.api import Huey, TaskWrapper
from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session

from core.config import PROJECT_ROOT, ConfigError

_PENDING = "ouderkamer_pending_tasks"
_app = None  # the Flask app tasks run in; set by bind_app() from the factory


def make_huey(env: dict[str, str] | None = None) -> Huey:
    """Build the queue: RedisHuey when REDIS_URL is set, else SqliteHuey in the instance folder."""
    env = dict(os.environ) if env is None else env
    redis_url = (env.get("REDIS_URL") or "").strip()
    if redis_url:
        # Plain RedisHuey ignores priorities; the priority variant needs Redis 5+, which every supported Redis has.
        try:
            return PriorityRedisHuey("ouderkamer", url=redis_url)
        except ValueError as exc:
            raise ConfigError("REDIS_URL", str(exc)) from None
    instance = Path((env.get("INSTANCE_PATH") or "").strip() or PROJECT_ROOT / "instance")
    instance.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("ouderkamer", filename=str(instance / "queue.sqlite"))


huey: Huey = make_huey()


def bind_app(app) -> None:
    """Remember the app that tasks push their own app context from."""
    global _app
    _app = app


def _in_app_context(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def in_app_context(*args, **kwargs):
        if _app is None:
            raise RuntimeError("no Flask app bound to the queue; call create_app() first")
        # A fresh context gives the task its own db.session, even in immediate mode where it runs
        # inside the committing session's after-commit hook.
        with _app.app_context():
            return fn(*args, **kwargs)

    # Huey prefixes the function's module to the task name; a fixed module keeps names stable across moves.
    in_app_context.__module__ = "ouderkamer"
    return in_app_context


#: Every task declared through `task` or `periodic_task`, by its name: what `enqueue_by_name` looks up.
TASKS: dict[str, TaskWrapper] = {}


def _declared(name: str, wrapper: TaskWrapper) -> TaskWrapper:
    TASKS[name] = wrapper
    return wrapper


def task(name: str, **options) -> Callable[[Callable], TaskWrapper]:
    """Declare a Huey task with an explicit name that runs inside a fresh app context."""
    return lambda fn: _declared(name, huey.task(name=name, **options)(_in_app_context(fn)))


def periodic_task(cron: Callable, name: str, **options) -> Callable[[Callable], TaskWrapper]:
    """Declare a periodic Huey task (a `crontab`, matched in UTC) that runs inside a fresh app context."""
    return lambda fn: _declared(name, huey.periodic_task(cron, name=name, **options)(_in_app_context(fn)))


def enqueue_after_commit(session: Session, task_fn: TaskWrapper, *args: Any, **kwargs: Any) -> None:
    """Enqueue `task_fn(*args)` once `session` commits for real; dropped if that part rolls back."""
    # Tagged with the innermost transaction, so a rolled-back SAVEPOINT drops only what was queued inside it.
    real = session() if isinstance(session, scoped_session) else session
    owner = real.get_nested_transaction() or real.get_transaction()
    real.info.setdefault(_PENDING, []).append((owner, task_fn, args, kwargs))


def enqueue_by_name(session: Session, name: str, *args: Any, **kwargs: Any) -> None:
    """Enqueue the task declared as `name` once `session` commits, without importing the module that declares it
    (a lower module starting a higher one's step); KeyError when no such task is declared."""
    enqueue_after_commit(session, TASKS[name], *args, **kwargs)


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    # SQLAlchemy fires after_commit for a released SAVEPOINT too; only the outermost commit makes rows visible.
    if session.in_nested_transaction():
        return
    pending = session.info.pop(_PENDING, [])
    for _owner, task_fn, args, kwargs in pending:
        task_fn(*args, **kwargs)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction) -> None:
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)
        return
    pending = session.info.get(_PENDING, [])
    session.info[_PENDING] = [entry for entry in pending if not _within(entry[0], previous_transaction)]


def _within(owner, transaction) -> bool:
    while owner is not None:
        if owner is transaction:
            return True
        owner = owner.parent
    return False
