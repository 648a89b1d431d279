"""Fixtures for the security tests: rate limits turned on for one test, a parent with a personal link."""

from __future__ import annotations

import pytest
from limits.storage import MemoryStorage

from accounts.views import login_slowdown
from core.extensions import db as _db
from core.extensions import limiter
from courses import links


@pytest.fixture
def rate_limits(app, db, monkeypatch):
    """Flask-Limiter switched on for this test (the test app runs without it), on fresh memory storage.

    Returns a function that sets limits by config name, e.g. `rate_limits(RATELIMIT_LOGIN="3 per minute")`.
    """
    def configure(storage_uri: str = "memory://", **limits: str):
        for name, value in limits.items():
            monkeypatch.setitem(app.config, name, value)
        monkeypatch.setitem(app.config, "RATELIMIT_ENABLED", True)
        monkeypatch.setitem(app.config, "RATELIMIT_STORAGE_URI", storage_uri)
        limiter.init_app(app)  # the hooks are added once per app; the storage is new every time
        # The login slow-down's memory (used while the storage is unreachable) lives as long as the process: start
        # each test without another test's failures in it.
        monkeypatch.setattr(login_slowdown, "_fallback", MemoryStorage())
        monkeypatch.setattr(login_slowdown, "_skip", (None, 0.0))
        return limiter

    yield configure
    limiter.enabled = False  # the limiter is a module-level object shared by every test


@pytest.fixture
def linked_parent(db, create_parent, course):
    """A parent enrolled in the default course, with a personal link; returns (parent, token)."""
    def make(name: str = "Sanne", email: str = "sanne@example.org"):
        parent = create_parent(name, course=course, email=email)
        url = links.issue_personal_link(parent)
        _db.session.commit()
        return parent, url.rsplit("/", 1)[1]

    return make
