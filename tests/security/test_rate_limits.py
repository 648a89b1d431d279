"""Rate limits (ASVS 2.2.1, 11.1.4): login, password reset, personal links and calendar feeds.

Personal links and feeds count per token, so thirty parents behind one school NAT address do not share one
budget; guessing counts per address (only misses).
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid

import pytest
import redis
from flask import request

from core import queue, ratelimits
from core.app import create_app
from core.config import ConfigError, load_config, read_settings, validate
from core.ratelimits import limit_key
from courses.links import parent_feed_token
from tests.conftest import app_overrides
from tests.fixtures.services import need

pytestmark = pytest.mark.unit

SCHOOL = {"REMOTE_ADDR": "198.51.100.7"}
ELSEWHERE = {"REMOTE_ADDR": "203.0.113.20"}


def _post_login(client, email, password="wrong password 123", environ=None):
    return client.post("/login", data={"email": email, "password": password}, environ_base=environ or SCHOOL)


def _address(n: int) -> dict:
    return {"REMOTE_ADDR": f"192.0.2.{n}"}


def _wait_asked(response) -> int:
    """The seconds the login form asks to wait ("Probeer het over N seconden opnieuw")."""
    asked = re.search(r"over (\d+) seconde", response.get_data(as_text=True))
    assert (response.status_code, "Retry-After" in response.headers, bool(asked)) == (429, True, True)
    return int(asked.group(1))


@pytest.fixture
def clock(monkeypatch):
    """The login slow-down's clock, moved by hand (`clock.advance(30)`) instead of sleeping."""
    class Clock:
        t = 1_700_000_000.0

        def __call__(self) -> float:
            return self.t

        def advance(self, seconds: float) -> None:
            self.t += seconds

    clock = Clock()
    monkeypatch.setattr(ratelimits, "now", clock)
    return clock


def test_login_is_limited_per_client_address(client, trainer, rate_limits):
    rate_limits(RATELIMIT_LOGIN="3 per minute")

    statuses = [_post_login(client, trainer.email).status_code for _ in range(4)]
    elsewhere = _post_login(client, trainer.email, environ=ELSEWHERE)

    assert statuses == [400, 400, 400, 429]
    assert elsewhere.status_code == 400
    assert "Retry-After" in client.post("/login", data={}, environ_base=SCHOOL).headers


def test_failed_logins_are_limited_per_address_and_account(client, trainer, create_user, rate_limits):
    other = create_user("other@example.org")
    rate_limits(RATELIMIT_LOGIN_ADDRESS_ACCOUNT="2 per hour", RATELIMIT_LOGIN_SLOWDOWN_AFTER=100)

    statuses = [_post_login(client, trainer.email).status_code for _ in range(3)]
    same_account_elsewhere = _post_login(client, trainer.email, environ=ELSEWHERE)
    other_account_here = _post_login(client, other.email)

    assert statuses == [400, 400, 429]
    assert same_account_elsewhere.status_code == 400
    assert other_account_here.status_code == 400


def test_failed_logins_on_one_account_slow_it_down_with_a_growing_wait(client, trainer, rate_limits, clock):
    rate_limits(RATELIMIT_LOGIN_SLOWDOWN_AFTER=2, RATELIMIT_LOGIN_SLOWDOWN_MAX_S=8)
    first = [_post_login(client, trainer.email, environ=_address(n)).status_code for n in (1, 2)]

    waits, checked = [], []
    for n in range(3, 9):
        waits.append(_wait_asked(_post_login(client, trainer.email, environ=_address(n))))
        clock.advance(waits[-1])
        checked.append(_post_login(client, trainer.email, environ=_address(n)).status_code)

    assert first == [400, 400]
    assert waits == [1, 2, 4, 8, 8, 8]  # from any address, doubling up to RATELIMIT_LOGIN_SLOWDOWN_MAX_S
    assert checked == [400] * 6


def test_a_slowed_down_attempt_is_refused_without_checking_the_password(client, trainer, rate_limits, clock):
    rate_limits(RATELIMIT_LOGIN_SLOWDOWN_AFTER=1, RATELIMIT_LOGIN_SLOWDOWN_MAX_S=30)
    _post_login(client, trainer.email)

    too_early = _post_login(client, trainer.email, "correct horse battery", environ=ELSEWHERE)

    assert _wait_asked(too_early) == 1
    assert 'name="password"' in too_early.get_data(as_text=True)  # the login form again, with the message


def test_a_stranger_cannot_lock_the_owner_out_from_another_address(app, trainer, rate_limits, clock):
    rate_limits(RATELIMIT_LOGIN="1000 per minute", RATELIMIT_LOGIN_ADDRESS_ACCOUNT="1000 per hour",
                RATELIMIT_LOGIN_SLOWDOWN_AFTER=5, RATELIMIT_LOGIN_SLOWDOWN_MAX_S=30)
    stranger, owner = app.test_client(), app.test_client()
    stranger_failures = []
    for _ in range(50):
        clock.advance(30)
        stranger_failures.append(_post_login(stranger, trainer.email, environ=SCHOOL).status_code)

    too_early = _post_login(owner, trainer.email, "correct horse battery", environ=ELSEWHERE)
    clock.advance(30)
    owner_in = _post_login(owner, trainer.email, "correct horse battery", environ=ELSEWHERE)

    assert owner_in.status_code == 302  # within the cap, after the stranger's 50 failures
    assert _wait_asked(too_early) <= 30
    assert stranger_failures == [400] * 50


def test_a_stranger_failing_on_time_keeps_the_owner_waiting_no_longer_than_the_cap(app, trainer, rate_limits,
                                                                                    clock):
    rate_limits(RATELIMIT_LOGIN_SLOWDOWN_AFTER=1, RATELIMIT_LOGIN_SLOWDOWN_MAX_S=30)
    stranger, owner = app.test_client(), app.test_client()
    for _ in range(8):
        clock.advance(30)
        _post_login(stranger, trainer.email, environ=SCHOOL)

    wait = _wait_asked(_post_login(owner, trainer.email, "correct horse battery", environ=ELSEWHERE))
    clock.advance(wait)
    on_time = _post_login(stranger, trainer.email, environ=SCHOOL)  # the moment the wait is over, before the owner
    owner_in = _post_login(owner, trainer.email, "correct horse battery", environ=ELSEWHERE)

    assert wait == 30
    assert on_time.status_code == 400
    assert owner_in.status_code == 302  # the owner's turn was kept


def test_the_address_limit_still_refuses_the_stranger_while_the_owner_gets_in(app, trainer, rate_limits):
    rate_limits(RATELIMIT_LOGIN="3 per minute")
    stranger, owner = app.test_client(), app.test_client()

    statuses = [_post_login(stranger, trainer.email, environ=SCHOOL).status_code for _ in range(4)]
    owner_in = _post_login(owner, trainer.email, "correct horse battery", environ=ELSEWHERE)

    assert statuses == [400, 400, 400, 429]
    assert owner_in.status_code == 302


def test_successful_logins_do_not_count_and_reset_the_slowdown(app, trainer, rate_limits, clock):
    rate_limits(RATELIMIT_LOGIN_ADDRESS_ACCOUNT="2 per hour", RATELIMIT_LOGIN_SLOWDOWN_AFTER=2)

    # A fresh client per login: a logged-in client would be redirected away from a second login.
    ok = [_post_login(app.test_client(), trainer.email, "correct horse battery").status_code for _ in range(3)]
    failed = [_post_login(app.test_client(), trainer.email, environ=_address(n)).status_code for n in (1, 2, 3)]
    clock.advance(1)
    after_the_wait = _post_login(app.test_client(), trainer.email, "correct horse battery", environ=_address(3))
    failed_again = [_post_login(app.test_client(), trainer.email, environ=_address(n)).status_code for n in (4, 5)]

    assert ok == [302, 302, 302]  # the address and account limit counts failures only
    assert failed == [400, 400, 429]
    assert after_the_wait.status_code == 302
    assert failed_again == [400, 400]  # counted from zero again


def test_login_slowdown_is_counted_in_redis_when_redis_url_is_set(client, trainer, rate_limits, clock):
    url = os.environ.get("REDIS_URL", "")
    need(bool(url), "Redis (REDIS_URL)")
    rate_limits(storage_uri=url, RATELIMIT_LOGIN_SLOWDOWN_AFTER=1, RATELIMIT_LOGIN_SLOWDOWN_MAX_S=30)
    server = redis.Redis.from_url(url)
    digest = hashlib.sha256(trainer.email.encode()).hexdigest()[:32]
    for key in server.scan_iter(f"*login-slowdown/account:{digest}*"):
        server.delete(key)  # left by an earlier run that stopped half-way

    failed = _post_login(client, trainer.email)
    too_early = _post_login(client, trainer.email, environ=ELSEWHERE)
    keys = [k.decode() for k in server.scan_iter(f"*login-slowdown/account:{digest}*")]

    assert failed.status_code == 400
    assert _wait_asked(too_early) == 1
    assert keys and all(trainer.email not in k for k in keys)
    server.delete(*keys)


def test_password_reset_requests_are_limited_per_address(client, trainer, rate_limits):
    rate_limits(RATELIMIT_PASSWORD_RESET="2 per minute")

    statuses = [client.post("/password/reset", data={"email": trainer.email}, environ_base=SCHOOL).status_code
                for _ in range(3)]
    new_password = [client.post("/password/reset/not-a-real-token", data={}, environ_base=SCHOOL).status_code
                    for _ in range(3)]

    assert statuses == [302, 302, 429]
    assert new_password == [404, 404, 429]


def test_personal_links_are_limited_per_link_not_per_address(client, linked_parent, rate_limits):
    _first, token = linked_parent()
    _second, other_token = linked_parent("Elif", "elif@example.org")
    rate_limits(RATELIMIT_PERSONAL_LINK="3 per minute")

    own = [client.get(f"/p/{token}", environ_base=SCHOOL).status_code for _ in range(4)]
    neighbour = client.get(f"/p/{other_token}", environ_base=SCHOOL)
    own_from_home = client.get(f"/p/{token}", environ_base=ELSEWHERE)

    assert own == [200, 200, 200, 429]
    assert neighbour.status_code == 200  # another parent behind the same school address
    assert own_from_home.status_code == 429  # the budget belongs to the link


def test_thirty_parents_behind_one_address_all_get_in(client, db, create_parent, course, rate_limits):
    tokens = []
    for n in range(30):
        parent = create_parent(f"Ouder {n}", course=course, email=f"ouder{n}@example.org")
        tokens.append(parent_feed_token(parent))
    db.session.commit()
    rate_limits(RATELIMIT_FEED="2 per minute", RATELIMIT_LINK_MISSES="5 per minute")

    statuses = {client.get(f"/c/{token}.ics", environ_base=SCHOOL).status_code for token in tokens * 2}

    assert statuses == {200}


def test_guessing_links_is_limited_per_address(client, linked_parent, rate_limits):
    _parent, token = linked_parent()
    rate_limits(RATELIMIT_LINK_MISSES="3 per minute")

    misses = [client.get(f"/p/guess{n:040d}", environ_base=SCHOOL).status_code for n in range(4)]
    feed_guess = client.get("/c/another-guess.ics", environ_base=SCHOOL)
    other_address = client.get("/p/guess-from-elsewhere", environ_base=ELSEWHERE)
    real_link_elsewhere = client.get(f"/p/{token}", environ_base=ELSEWHERE)

    assert misses == [404, 404, 404, 429]
    assert feed_guess.status_code == 429  # one budget for personal, calendar and reset links
    assert other_address.status_code == 404
    assert real_link_elsewhere.status_code == 200


def test_calendar_feeds_are_limited_per_token(client, db, create_parent, course, rate_limits):
    token = parent_feed_token(create_parent(course=course))
    other = parent_feed_token(create_parent("Elif", course=course, email="elif@example.org"))
    db.session.commit()
    rate_limits(RATELIMIT_FEED="2 per minute")

    statuses = [client.get(f"/c/{token}.ics", environ_base=SCHOOL).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert client.get(f"/c/{other}.ics", environ_base=SCHOOL).status_code == 200


def test_limits_off_lets_everything_through(client, linked_parent):
    _parent, token = linked_parent()

    statuses = {client.get(f"/p/{token}").status_code for _ in range(70)}

    assert statuses == {200}


def test_rate_limits_are_counted_in_redis_when_redis_url_is_set(client, linked_parent, rate_limits):
    url = os.environ.get("REDIS_URL", "")
    need(bool(url), "Redis (REDIS_URL)")
    _parent, token = linked_parent()
    rate_limits(storage_uri=url, RATELIMIT_PERSONAL_LINK=f"2 per minute;{uuid.uuid4().int % 1000 + 3} per hour")
    server = redis.Redis.from_url(url)
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]

    statuses = [client.get(f"/p/{token}", environ_base=SCHOOL).status_code for _ in range(3)]
    keys = [k.decode() for k in server.scan_iter(f"*{digest}*")]

    assert statuses == [200, 200, 429]
    assert keys and all(token not in k for k in keys)
    server.delete(*keys)


def test_storage_defaults_to_redis_url_then_memory(tmp_path):
    with_redis = load_config(env={"INSTANCE_PATH": str(tmp_path), "REDIS_URL": "redis://cache:6379/0"})
    without = load_config(env={"INSTANCE_PATH": str(tmp_path)})
    explicit = load_config(env={"INSTANCE_PATH": str(tmp_path), "REDIS_URL": "redis://cache:6379/0",
                                "RATELIMIT_STORAGE_URI": "redis://other:6379/2"})

    assert (with_redis["RATELIMIT_STORAGE_URI"], without["RATELIMIT_STORAGE_URI"],
            explicit["RATELIMIT_STORAGE_URI"]) == ("redis://cache:6379/0", "memory://", "redis://other:6379/2")


@pytest.mark.parametrize("name", ["RATELIMIT_LOGIN", "RATELIMIT_LOGIN_ADDRESS_ACCOUNT", "RATELIMIT_PASSWORD_RESET",
                                  "RATELIMIT_PERSONAL_LINK", "RATELIMIT_FEED", "RATELIMIT_LINK_MISSES"])
def test_limits_are_configurable_and_validated(name):
    assert validate(read_settings({name: "100 per minute;1000 per day"})) is None

    with pytest.raises(ConfigError) as info:
        validate(read_settings({name: "lots"}))

    assert info.value.setting == name


@pytest.mark.parametrize("name", ["RATELIMIT_LOGIN_SLOWDOWN_AFTER", "RATELIMIT_LOGIN_SLOWDOWN_MAX_S"])
def test_login_slowdown_settings_are_positive_whole_numbers(name):
    assert validate(read_settings({name: "10"})) is None

    refused = []
    for value in ("0", "lots"):
        with pytest.raises(ConfigError) as info:
            validate(read_settings({name: value}))
        refused.append(info.value.setting)

    assert refused == [name, name]


def test_behind_trusted_proxies_the_client_address_comes_from_x_forwarded_for(app, tmp_path):
    def build(hops: int):
        instance = tmp_path / f"proxy-{hops}"
        instance.mkdir()
        built = create_app({**app_overrides(instance, f"sqlite:///{instance / 'db.sqlite'}"), "PROXY_COUNT": hops})
        built.add_url_rule("/_who", "who", lambda: f"{limit_key()} {request.scheme}")
        return built.test_client()

    try:
        direct, proxied = build(0), build(1)
        headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        answers = [c.get("/_who", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.2"}).get_data(as_text=True)
                   for c in (direct, proxied)]
    finally:
        queue.bind_app(app)  # create_app bound the task queue to the new app

    assert answers == ["addr:10.0.0.2 http", "addr:203.0.113.9 https"]


def test_a_refused_parent_gets_a_plain_page_in_their_language_with_retry_after(client, linked_parent, rate_limits):
    _parent, token = linked_parent()
    rate_limits(RATELIMIT_PERSONAL_LINK="1 per minute")
    client.get(f"/p/{token}")

    refused = client.get(f"/p/{token}", headers={"Accept-Language": "ar"})

    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    assert 'dir="rtl"' in refused.get_data(as_text=True)


def test_login_slowdown_counts_in_memory_while_redis_is_down(client, trainer, rate_limits, clock):
    rate_limits(storage_uri="redis://127.0.0.1:9/0", RATELIMIT_LOGIN_SLOWDOWN_AFTER=1)  # nothing listens on port 9

    failed = _post_login(client, trainer.email)
    too_early = _post_login(client, trainer.email, environ=ELSEWHERE)

    assert failed.status_code == 400
    assert _wait_asked(too_early) == 1
