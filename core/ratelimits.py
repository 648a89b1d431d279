"""Rate-limit keys and configured limits (Flask-Limiter; Redis storage when REDIS_URL is set).

Personal links and calendar feeds are counted per token, not per address: a school or a mosque behind one
NAT address can bring thirty parents to the same lobby at once, each polling their own link. Guessing is
counted per address instead, by the misses limit: only requests on a token route that end in a 404.
"""

from __future__ import annotations

import functools
import hashlib
import time

from flask import Flask, current_app, jsonify, request
from flask_limiter import ApplicationLimit, Limiter
from limits import parse_many
from limits.storage import MemoryStorage, RedisStorage, Storage
from werkzeug.exceptions import NotFound

#: Failed logins of an account are forgotten this long after the first one (or at a successful login).
LOGIN_FAILURES_KEPT_S = 24 * 3600
#: How long an address that was told to wait keeps its turn (see LoginSlowdown).
LOGIN_TURN_KEPT_S = 15 * 60
#: With the storage unreachable, the login slow-down counts in memory and tries the storage again after this.
LOGIN_STORAGE_RETRY_S = 30


def client_address() -> str:
    """The client's address (the proxy's X-Forwarded-For when PROXY_COUNT trusts it)."""
    return request.remote_addr or "unknown"


def link_token() -> str | None:
    """The personal-link, calendar, reset token or RSVP code in the URL of this request, if any."""
    args = request.view_args or {}
    return args.get("token") or args.get("code")


def limit_key() -> str:
    """The default key: a hash of the token on token routes (keys reach the logs, tokens must not), else the address."""
    token = link_token()
    if token:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return "addr:" + client_address()


def _account(email: str | None) -> str:
    return "account:" + hashlib.sha256((email or "").strip().lower().encode()).hexdigest()[:32]


def login_account_key() -> str:
    """The e-mail address a login names (hashed), so one account is not tried from many addresses."""
    return _account(request.form.get("email"))


def login_address_account_key() -> str:
    """The client address together with the (hashed) e-mail address a login names."""
    return f"{client_address()}/{login_account_key()}"


def now() -> float:
    """The time the login slow-down counts with; tests replace it rather than sleep."""
    return time.time()


class LoginSlowdown:
    """Failed logins per account from any address: past RATELIMIT_LOGIN_SLOWDOWN_AFTER of them, each further
    attempt waits 1, 2, 4 … seconds after the last failure, at most RATELIMIT_LOGIN_SLOWDOWN_MAX_S.

    A slow-down rather than a lock, so a stranger cannot lock the owner out. An address that is told to wait keeps
    its turn: when its wait is over its attempt is checked, even if others failed again in the meantime, so nobody
    waits longer than the cap. Counted in the limiter's storage (Redis or memory), which holds only counters: a
    time is written by clearing a counter and adding the value, and read clamped, as two writers could add up.
    """

    def __init__(self, limiter: Limiter):
        self.limiter = limiter
        self._fallback = MemoryStorage()
        self._skip: tuple[Storage | None, float] = (None, 0.0)  # a storage found unreachable, and until when

    def wait(self, email: str) -> int:
        """Seconds this client must still wait before a login as `email` is checked; 0 = check it now."""
        return self._use(lambda storage: self._wait(storage, _account(email), client_address())) or 0

    def failed(self, email: str) -> None:
        """Count a wrong password for `email`."""
        self._use(lambda storage: self._failed(storage, _account(email)))

    def succeeded(self, email: str) -> None:
        """Forget the failures of `email`: the owner got in."""
        self._use(lambda storage: self._forget(storage, _account(email)))

    def _use(self, action):
        if not self.limiter.enabled:
            return None
        storage = self.limiter.storage
        unreachable, until = self._skip
        if storage is not unreachable or time.monotonic() >= until:
            try:
                return action(storage)
            except storage.base_exceptions:  # Redis down: count in this process for a while, like the limiter
                current_app.logger.warning("Rate-limit storage unreachable; login slow-down counted in memory")
                self._skip = (storage, time.monotonic() + LOGIN_STORAGE_RETRY_S)
        return action(self._fallback)

    def _wait(self, storage: Storage, account: str, address: str) -> int:
        t, cap = int(now()), current_app.config["RATELIMIT_LOGIN_SLOWDOWN_MAX_S"]
        failures = storage.get(f"login-slowdown/{account}/failures")
        excess = failures - current_app.config["RATELIMIT_LOGIN_SLOWDOWN_AFTER"]
        if excess < 0:
            return 0
        delay = min(cap, 2 ** min(excess, 16))
        remaining = min(delay, max(0, storage.get(f"login-slowdown/{account}/last") + delay - t))
        turn_key = f"login-slowdown/{account}/turn/{address}"
        turn = storage.get(turn_key)
        if not remaining or t >= turn > 0:
            storage.clear(turn_key)
            return 0
        if t < turn <= t + cap:
            return turn - t
        _put(storage, turn_key, t + remaining, remaining + LOGIN_TURN_KEPT_S)
        return remaining

    def _failed(self, storage: Storage, account: str) -> None:
        failures = storage.incr(f"login-slowdown/{account}/failures", LOGIN_FAILURES_KEPT_S)
        if failures >= current_app.config["RATELIMIT_LOGIN_SLOWDOWN_AFTER"]:
            cap = current_app.config["RATELIMIT_LOGIN_SLOWDOWN_MAX_S"]
            _put(storage, f"login-slowdown/{account}/last", int(now()), cap + 1)

    def _forget(self, storage: Storage, account: str) -> None:
        storage.clear(f"login-slowdown/{account}/failures")
        storage.clear(f"login-slowdown/{account}/last")


def _put(storage: Storage, key: str, value: int, expiry: int) -> None:
    storage.clear(key)
    storage.incr(key, expiry, amount=value)


def configured(name: str):
    """A limit read from the app config when a request is checked, so settings and tests can change it."""
    return lambda: current_app.config[name]


def _is_miss(response) -> bool:
    return response.status_code == 404


def _known_link() -> bool:
    # The composition root registers the parent portal's cheap token check (one indexed read) under this name:
    # a valid link is never refused for the guesses of others behind the same address (school Wi-Fi, carrier NAT).
    known = current_app.extensions.get("known_link")
    return bool(known and known())


#: Wrong personal, calendar, reset or RSVP links per client address, whatever the token; only misses are counted
#: and only they are refused, since the token is checked first.
LINK_MISSES = ApplicationLimit(limit_provider=configured("RATELIMIT_LINK_MISSES"), key_function=client_address,
                               scope="link-misses", exempt_when=lambda: link_token() is None or _known_link(),
                               deduct_when=_is_miss)


# --- The lobby poll's limit: one storage round trip, headers only on a refusal -----------------------------------


def one_trip_limit(limiter: Limiter, limit_provider, *, scope: str):
    """Count a polled view's per-link limit and read the address's LINK_MISSES in one storage round trip.

    Use instead of `@limiter.limit` on a view that is also `@limiter.exempt` (Flask-Limiter would spend three or four
    round trips). The same counters as Flask-Limiter's: a miss (404) counts towards LINK_MISSES afterwards, and
    past that limit only an unknown link is refused, so a parent's valid link is never turned away for others'
    guesses (a second round trip only on misses and refusals).
    """

    def decorate(view):
        @functools.wraps(view)
        def limited(*args, **kwargs):
            if not limiter.enabled:
                return view(*args, **kwargs)
            prefix = [p for p in (current_app.config.get("RATELIMIT_KEY_PREFIX"),) if p]
            hits = [(item, item.key_for(*prefix, limit_key(), scope)) for item in _items(limit_provider)]
            tests = [(item, item.key_for(*prefix, LINK_MISSES.key_function(), LINK_MISSES.scope))
                     for item in _items(LINK_MISSES.limit_provider)]
            storage, counts = _ONE_TRIP.counts(limiter, hits, tests)
            for (item, key), count in zip(hits, counts):
                if count > item.amount:
                    return _refused(storage, item, key)
            guessing = [(item, key) for (item, key), count in zip(tests, counts[len(hits):]) if count >= item.amount]
            try:
                response = current_app.make_response(view(*args, **kwargs))
            except NotFound:
                response = None
            if response is not None and response.status_code != 404:
                return response
            for item, key in tests:
                storage.incr(key, item.get_expiry())
            if guessing:
                return _refused(storage, *guessing[0])
            if response is None:
                raise NotFound()
            return response

        return limited

    return decorate


def _items(provider) -> list:
    return parse_many(provider() if callable(provider) else provider)


class _OneTrip:
    """The pipelined counting, with the login slow-down's fallback: Redis down -> memory for a while."""

    def __init__(self):
        self._fallback = MemoryStorage()
        self._skip_until = 0.0

    def counts(self, limiter: Limiter, hits: list, tests: list) -> tuple[Storage, list[int]]:
        storage = limiter.storage
        if time.monotonic() >= self._skip_until:
            try:
                return storage, _counts(storage, hits, tests)
            except storage.base_exceptions:
                current_app.logger.warning("Rate-limit storage unreachable; the lobby poll counted in memory")
                self._skip_until = time.monotonic() + LOGIN_STORAGE_RETRY_S
        return self._fallback, _counts(self._fallback, hits, tests)


_ONE_TRIP = _OneTrip()


def _counts(storage: Storage, hits: list, tests: list) -> list[int]:
    """Increment each `hits` counter (expiring like limits' fixed window) and read each `tests` counter."""
    if not isinstance(storage, RedisStorage):
        return [storage.incr(key, item.get_expiry()) for item, key in hits] + [storage.get(key) for _i, key in tests]
    pipe = storage.get_connection().pipeline(transaction=True)  # MULTI ... EXEC: one round trip, atomic
    for item, key in hits:
        pipe.set(storage.prefixed_key(key), 0, ex=item.get_expiry(), nx=True)
        pipe.incrby(storage.prefixed_key(key), 1)
    for _item, key in tests:
        pipe.get(storage.prefixed_key(key))
    answers = pipe.execute()
    return [int(a) for a in answers[1:2 * len(hits):2]] + [int(a or 0) for a in answers[2 * len(hits):]]


def _refused(storage: Storage, item, key: str):
    reset = int(storage.get_expiry(key))
    response = jsonify(error="too many requests")
    response.status_code = 429
    response.headers.update({"X-RateLimit-Limit": str(item.amount), "X-RateLimit-Remaining": "0",
                             "X-RateLimit-Reset": str(reset), "Retry-After": str(max(1, reset - int(time.time())))})
    return response


def headers_on_refusals_only(app: Flask, limiter: Limiter) -> None:
    """Flask-Limiter's X-RateLimit-* headers on 429 answers only: writing them reads the storage again on every
    answer. Register after `limiter.init_app`, so this hook runs before the limiter's."""

    @app.after_request
    def _no_headers_unless_refused(response):
        if response.status_code != 429 and limiter.enabled:
            limiter.context.view_rate_limit = None
        return response
