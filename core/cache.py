"""A small cache of short-lived strings shared by the web processes: Redis when REDIS_URL is set, else a bounded
dict in this process (one machine: each worker keeps its own). Plain strings in and out; a cache that cannot be
reached answers "not there" and forgets writes, so callers fall back to doing the work."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from flask import current_app

#: Keys are namespaced in Redis, so one shared with the queue and the rate limits keeps them apart.
PREFIX = "ouderkamer:cache:"
#: Entries kept in memory at most (per process); the oldest go first.
MEMORY_MAX_ENTRIES = 20_000
#: With Redis unreachable, the cache answers "not there" and tries again after this many seconds.
RETRY_AFTER_S = 30


class MemoryCache:
    """A thread-safe dict with expiry times and a size bound (least recently used out first)."""

    def __init__(self, max_entries: int = MEMORY_MAX_ENTRIES):
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: list[str]) -> list[str | None]:
        """The value of each key, or None where it is missing or expired."""
        now, found = time.monotonic(), []
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is not None and entry[0] > now:
                    self._entries.move_to_end(key)
                    found.append(entry[1])
                else:
                    self._entries.pop(key, None)
                    found.append(None)
        return found

    def set(self, key: str, value: str, ttl_s: float) -> None:
        """Keep `value` under `key` for `ttl_s` seconds."""
        with self._lock:
            self._entries[key] = (time.monotonic() + ttl_s, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def incr(self, key: str, ttl_s: float) -> int:
        """Add one to the counter under `key` (kept `ttl_s` seconds from now) and return it."""
        with self._lock:
            expires, value = self._entries.get(key, (0.0, "0"))
            count = (int(value) if expires > time.monotonic() else 0) + 1
            self._entries[key] = (time.monotonic() + ttl_s, str(count))
            return count

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._entries.clear()


class RedisCache:
    """The same calls on Redis, each one round trip; errors count as misses for RETRY_AFTER_S seconds."""

    def __init__(self, url: str):
        import redis  # only with REDIS_URL; redis-py comes with Huey

        self._errors = (redis.RedisError, OSError)
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5,
                                           decode_responses=True)
        self._down_until = 0.0

    def _call(self, action, default):
        if time.monotonic() < self._down_until:
            return default
        try:
            return action()
        except self._errors as exc:
            current_app.logger.warning("Cache unreachable (%s); working without it for %d s", exc, RETRY_AFTER_S)
            self._down_until = time.monotonic() + RETRY_AFTER_S
            return default

    def get_many(self, keys: list[str]) -> list[str | None]:
        """MGET: the value of each key, or None."""
        return self._call(lambda: self.client.mget([PREFIX + k for k in keys]), [None] * len(keys))

    def set(self, key: str, value: str, ttl_s: float) -> None:
        """SET with an expiry in milliseconds."""
        self._call(lambda: self.client.set(PREFIX + key, value, px=max(1, int(ttl_s * 1000))), None)

    def incr(self, key: str, ttl_s: float) -> int:
        """INCR and EXPIRE in one transaction; 0 when Redis cannot be reached."""
        def run():
            pipe = self.client.pipeline(transaction=True)
            pipe.incr(PREFIX + key)
            pipe.expire(PREFIX + key, max(1, int(ttl_s)))
            return pipe.execute()[0]

        return self._call(run, 0)

    def clear(self) -> None:
        """Delete this cache's keys (tests)."""
        self._call(lambda: [self.client.delete(k) for k in self.client.scan_iter(PREFIX + "*")], None)


def get_cache() -> MemoryCache | RedisCache:
    """The app's cache, made on first use: Redis at REDIS_URL, else memory."""
    cache = current_app.extensions.get("ouderkamer_cache")
    if cache is None:
        url = current_app.config.get("REDIS_URL")
        cache = current_app.extensions["ouderkamer_cache"] = RedisCache(url) if url else MemoryCache()
    return cache

