"""The lobby poll's rate limit (issue 18): one Redis round trip per poll, X-RateLimit-* headers only on a 429,
and the same guessing limit as every other link route."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
import redis
from redis.connection import Connection

from core.db import utcnow
from tests.fixtures.services import need

pytestmark = pytest.mark.unit

SCHOOL = {"REMOTE_ADDR": "198.51.100.9"}
HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def _redis_url() -> str:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except (redis.RedisError, OSError):
        need(False, "Redis (REDIS_URL or 127.0.0.1:6379)")
    return url


@pytest.fixture
def poll_url(db, linked_parent, create_workshop_session):
    _parent, token = linked_parent()
    session = create_workshop_session(starts_at=(utcnow() + timedelta(minutes=10)).replace(second=0, microsecond=0))
    return f"/p/{token}/s/{session.id}/join.json"


@pytest.fixture
def round_trips(monkeypatch):
    """Requests sent to Redis (a pipeline is one)."""
    sent = []
    real = Connection.send_packed_command

    def counting(self, command, *args, **kwargs):
        sent.append(command)
        return real(self, command, *args, **kwargs)

    monkeypatch.setattr(Connection, "send_packed_command", counting)
    return sent


def test_a_poll_costs_one_redis_round_trip_and_carries_no_rate_limit_headers(client, poll_url, rate_limits,
                                                                             round_trips):
    # A per-run hourly amount: counters of an earlier run in the same Redis cannot refuse this one.
    rate_limits(storage_uri=_redis_url(), RATELIMIT_PERSONAL_LINK=f"2 per minute;{uuid.uuid4().int % 1000 + 5} per hour")
    client.get(poll_url, environ_base=SCHOOL)  # the limiter's first use registers its scripts
    round_trips.clear()

    second = client.get(poll_url, environ_base=SCHOOL)
    sent = len(round_trips)
    third = client.get(poll_url, environ_base=SCHOOL)

    # The limiter's counters in one round trip; with REDIS_URL the lobby pass (core/cache.py) is read from Redis as
    # well, in one more: nothing else of the poll talks to Redis.
    cache_trips = 1 if client.application.config.get("REDIS_URL") else 0
    assert (second.status_code, sent) == (200, 1 + cache_trips)
    assert not any(h in second.headers for h in HEADERS)
    assert third.status_code == 429
    assert third.headers["X-RateLimit-Limit"] == "2" and third.headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(third.headers["Retry-After"]) <= 60


def test_other_link_pages_send_rate_limit_headers_only_when_refusing(client, linked_parent, rate_limits):
    _parent, token = linked_parent()
    rate_limits(RATELIMIT_PERSONAL_LINK="1 per minute")

    served, refused = (client.get(f"/p/{token}", environ_base=SCHOOL) for _ in range(2))

    assert (served.status_code, refused.status_code) == (200, 429)
    assert not any(h in served.headers for h in HEADERS)
    assert all(h in refused.headers for h in HEADERS) and "Retry-After" in refused.headers


def test_guessing_through_the_poll_counts_as_misses_and_is_refused(client, poll_url, rate_limits):
    rate_limits(RATELIMIT_LINK_MISSES="3 per minute")
    wrong = poll_url.replace("/p/", "/p/x", 1)

    statuses = [client.get(wrong, environ_base=SCHOOL).status_code for _ in range(4)]
    mine = client.get(poll_url, environ_base=SCHOOL)

    assert statuses == [404, 404, 404, 429]
    assert mine.status_code == 200  # a valid link is never refused for the guesses of others
