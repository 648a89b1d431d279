"""Calendar feed (issue 10): one parent's subscription feed with 100 sessions, with and without If-None-Match.

    .venv/bin/python bench/feed.py [--sessions 100] [--requests 400]

On a private PostgreSQL database and gunicorn with 2 workers (the real `wsgi:app`, production settings), a parent
in two courses: 70 single sessions (past and coming; some moved, some cancelled) and a weekly series of 30 dates
(one moved, one cancelled). Then, from 2 clients (one per worker; each request from its own address) that send as fast as answers come, `--requests` full fetches of
`/c/<token>.ics` (200) and `--requests` revalidations with the feed's ETag in If-None-Match (304).

It also counts the SQL statements of a 304, a 200 that builds the feed and a 200 served from the per-process
cache, in-process (a SQLAlchemy event on the same database).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import harness

CONCURRENCY = 2  # one per gunicorn worker: latencies without queueing, throughput at saturation
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def seed(app, sessions_total: int) -> str:
    """The parent and their 100 sessions; returns the parent's calendar token."""
    from accounts import services as accounts
    from core.db import utcnow
    from core.extensions import db
    from courses import services as courses
    from courses.links import parent_feed_token
    from sessions import scheduling as sessions

    series_count = min(30, sessions_total // 3)
    singles = sessions_total - series_count
    start = (utcnow() - timedelta(weeks=singles // 2)).replace(minute=0, second=0, microsecond=0)
    with app.app_context():
        trainer = accounts.create_user("bench-trainer@example.org", name="Bench Trainer", password="bench " * 3)
        first = courses.create_course(title="Voorlezen", trainers=[trainer])
        second = courses.create_course(title="Samen spelen", trainers=[trainer])
        parent = courses.add_parent(name="Sanne de Vries", email="sanne@example.org", language="nl")
        for course in (first, second):
            courses.enrol(course, parent)
        for i in range(singles):
            when = (start + timedelta(days=7 * i, hours=i % 3)).astimezone(AMSTERDAM)
            s = sessions.schedule_session(first, title=f"Bijeenkomst {i + 1}", starts_local=when,
                                          timezone="Europe/Amsterdam", description="Samen lezen en praten. " * 3,
                                          allow_past=True)
            if i % 10 == 3:
                sessions.cancel_session(s)
        if series_count:
            series = sessions.schedule_series(second, title="Speelochtend", first_local=start.astimezone(AMSTERDAM),
                                              timezone="Europe/Amsterdam", count=series_count, allow_past=True)
            dates = sorted(series.sessions, key=lambda s: s.starts_at)
            sessions.cancel_session(dates[len(dates) // 2])
            dates[-2].starts_at += timedelta(hours=1)
            dates[-2].sequence += 1
        token = parent_feed_token(parent)
        db.session.commit()
    return token


def count_statements(app, token: str, etag: str) -> dict:
    """SQL statements of one 304, one 200 (built) and one more 200 (from memory), in-process, same database."""
    from sqlalchemy import event

    from core.extensions import db

    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)

    counts = {}
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", note)
        try:
            client = app.test_client()
            for label, headers in (("statements_304", {"If-None-Match": etag}), ("statements_200", {}),
                                   ("statements_200_again", {})):
                seen.clear()
                response = client.get(f"/c/{token}.ics", headers=headers)
                counts[label] = len(seen)
                counts[label.replace("statements", "status")] = response.status_code
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
    return counts


async def fetch_all(port: int, token: str, total: int, etag: str | None):
    headers = {"If-None-Match": etag} if etag else {}

    async def one(i: int):
        # Each request from its own address, as calendar apps are: the feed's per-address rate limit stays on.
        return await harness.request(port, f"/c/{token}.ics", headers=headers, source_ip=harness.source_address(i))

    return await harness.closed_loop(one, concurrency=CONCURRENCY, total=total)


def run(sessions_total: int, total: int, log_dir: Path | None) -> dict:
    with harness.temp_dir("feed") as instance, harness.postgres_database("feed") as database_url:
        port = harness.free_port()
        base = f"http://127.0.0.1:{port}"
        env = harness.isolate(instance)
        app = harness.migrated_app(database_url, PUBLIC_BASE_URL=base, RATELIMIT_ENABLED=False)
        token = seed(app, sessions_total)
        # One token fetched 800 times stands for many parents' feeds (a calendar app refreshes hourly), so the
        # per-token limit is lifted; each request still comes from its own address.
        web_env = {**env, **harness.production_env(instance, database_url, base, RATELIMIT_FEED="1000000 per minute")}
        load_before = harness.load_average()
        with harness.gunicorn("wsgi:app", web_env, port=port, log=log_dir and log_dir / "feed_web.log"):
            first = asyncio.run(harness.request(port, f"/c/{token}.ics"))
            if first.status != 200:
                raise SystemExit(f"feed answered {first.status}: {first.body[:300]!r}")
            etag = first.headers["etag"]
            asyncio.run(fetch_all(port, token, 20, None))  # warm both workers
            full, full_rps = asyncio.run(fetch_all(port, token, total, None))
            cached, cached_rps = asyncio.run(fetch_all(port, token, total, etag))
        statements = count_statements(app, token, etag)
        with app.app_context():
            from core.extensions import db

            db.engine.dispose()
    f, c = full.summary(), cached.summary()
    return {"p50_ms": f["p50_ms"], "p99_ms": f["p99_ms"], "rps": round(full_rps, 1),
            "p50_ms_304": c["p50_ms"], "p99_ms_304": c["p99_ms"], "rps_304": round(cached_rps, 1),
            "errors": sum(n for s, n in f["statuses"].items() if s != "200") + len(full.failures)
            + sum(n for s, n in c["statuses"].items() if s != "304") + len(cached.failures),
            "body_kb": round(len(first.body) / 1024, 1), "sessions": sessions_total, **statements,
            "load_avg": load_before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--log-dir", type=Path, help="keep the gunicorn log here")
    args = parser.parse_args()
    print(json.dumps(run(args.sessions, args.requests, args.log_dir)))


if __name__ == "__main__":
    main()
