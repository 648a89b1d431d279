"""Join storm (issue 10): a whole school's parents open their link, the lobby, and poll it, within 10 seconds.

    .venv/bin/python bench/join_storm.py [--parents 500] [--window 10] [--flows 600]

On a private PostgreSQL database and gunicorn with 2 workers (the real `wsgi:app`, production settings, rate
limits on, counted in a private Redis that is also its REDIS_URL, as at scale), in one run:

1. **storm**: `--parents` parents arrive evenly over `--window` seconds, each from their own address; each opens
   the route map (`/p/<token>`), the lobby of the session about to start (`/p/<token>/s/<id>`, which mints the
   Jitsi token and logs the join click) and polls the lobby status (`join.json`). p50/p99 over every request;
   an error is any answer other than 200, or no answer;
2. **throughput**: the same three requests, `--flows` times, from 8 clients that send as fast as answers come;
3. the same storm and throughput against a bare Flask endpoint doing one indexed read on the same database,
   served by gunicorn the same way (bench/bare_app.py): vs_bare = our requests/s / bare requests/s;
4. **one address**: the storm once more with every parent behind one address (a school's NAT, or a proxy
   without X-Forwarded-For handling), counting the requests the rate limits refuse.

Worker CPU per request is reported for the throughput run (`cpu_ms_per_request`, the three routes mixed) and, right
after it, per route (`cpu_ms_route_map`, `cpu_ms_lobby`, `cpu_ms_poll`: `--flows` requests of that route alone).

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import harness

PARENTS_PER_COURSE = 20
CONCURRENCY = 8
WARM_UP = 16
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def seed(app, parents: int) -> list[dict]:
    """Courses of 20 parents, each with 4 past sessions, one starting in 5 minutes (lobby open) and 5 to come."""
    from accounts import services as accounts
    from core.db import utcnow
    from core.extensions import db
    from core.tokens import hash_token
    from courses import services as courses
    from courses.links import parent_feed_token
    from sessions import scheduling as sessions

    now = utcnow().replace(second=0, microsecond=0)
    visits = []
    with app.app_context():
        trainer = accounts.create_user("bench-trainer@example.org", name="Bench Trainer", password="bench " * 3)
        for c in range((parents + PARENTS_PER_COURSE - 1) // PARENTS_PER_COURSE):
            course = courses.create_course(title=f"Voorlezen {c:03d}", trainers=[trainer])
            members = []
            for p in range(min(PARENTS_PER_COURSE, parents - c * PARENTS_PER_COURSE)):
                parent = courses.add_parent(name=f"Ouder {c:03d}-{p:02d}", email=f"ouder{c}-{p}@example.org",
                                            language=("nl", "ar", "tr", "en")[p % 4])
                courses.enrol(course, parent)
                token = secrets.token_urlsafe(32)
                parent.link_token_hash = hash_token(token)
                members.append((parent, token))
            live = None
            for week in range(-4, 6):
                starts = (now + timedelta(minutes=5, weeks=week)).astimezone(AMSTERDAM)
                s = sessions.schedule_session(course, title=f"Bijeenkomst {week + 5}", timezone="Europe/Amsterdam",
                                              starts_local=starts, recorded=week % 2 == 0, allow_past=week < 0)
                live = s if week == 0 else live
            for parent, token in members:
                parent_feed_token(parent)  # the invites sent at scheduling made it in production
                visits.append({"token": token, "session_id": live.id})
            db.session.commit()
    return visits


async def parent_flow(port: int, visit: dict, source_ip: str | None) -> list[harness.Reply]:
    token, session_id = visit["token"], visit["session_id"]
    replies = []
    for path in (f"/p/{token}", f"/p/{token}/s/{session_id}", f"/p/{token}/s/{session_id}/join.json"):
        replies.append(await harness.request(port, path, source_ip=source_ip))
    return replies


#: The three requests of a visit, by route: their worker CPU is also measured one route at a time.
ROUTES = {"route_map": "/p/{token}", "lobby": "/p/{token}/s/{session_id}",
          "poll": "/p/{token}/s/{session_id}/join.json"}


def route_flow(route: str):
    """A flow of one request to one route of the visit (for the per-route CPU figures)."""
    async def flow(port: int, visit: dict, source_ip: str | None) -> list[harness.Reply]:
        return [await harness.request(port, ROUTES[route].format(**visit), source_ip=source_ip)]

    return flow


async def bare_flow(port: int, visit: dict, source_ip: str | None) -> list[harness.Reply]:
    return [await harness.request(port, f"/bare/{visit['token']}", source_ip=source_ip) for _ in range(3)]


async def storm(flow, port: int, visits: list[dict], window: float, *, one_address: bool = False):
    """Every visit starts at its own moment, evenly spread over `window` seconds (an open-loop arrival)."""
    tally = harness.Tally()
    start = time.perf_counter()

    async def visit_at(i: int, visit: dict):
        await asyncio.sleep(max(0.0, start + i * window / len(visits) - time.perf_counter()))
        try:
            for reply in await flow(port, visit, None if one_address else harness.source_address(i)):
                tally.add(reply)
        except (TimeoutError, OSError, ValueError, IndexError) as exc:
            tally.failures.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(visit_at(i, v) for i, v in enumerate(visits)))
    return tally, time.perf_counter() - start


async def throughput(flow, port: int, visits: list[dict], flows: int):
    async def one(i: int):
        return await flow(port, visits[i % len(visits)], harness.source_address(i))

    return await harness.closed_loop(one, concurrency=CONCURRENCY, total=flows)


def errors(tally: harness.Tally) -> int:
    return sum(n for status, n in tally.statuses.items() if status != 200) + len(tally.failures)


def run(parents: int, window: float, flows: int, log_dir: Path | None, profile: Path | None = None) -> dict:
    with harness.temp_dir("join") as instance, harness.postgres_database("join") as database_url, \
            harness.private_redis() as limits_url:
        port, bare_port = harness.free_port(), harness.free_port()
        base = f"http://127.0.0.1:{port}"
        env = harness.isolate(instance)
        app = harness.migrated_app(database_url)
        visits = seed(app, parents)
        with app.app_context():
            from core.extensions import db

            db.engine.dispose()
        # REDIS_URL as at scale: the workers share the rate-limit counters, Jitsi tokens and lobby passes (core.cache).
        web_env = {**env, **harness.production_env(instance, database_url, base, RATELIMIT_STORAGE_URI=limits_url,
                                                   REDIS_URL=limits_url)}
        load_before = harness.load_average()
        with harness.gunicorn("wsgi:app", web_env, port=port, log=log_dir and log_dir / "join_web.log") as web:
            asyncio.run(throughput(parent_flow, port, visits, WARM_UP))  # both workers warm, as in production
            workers = harness.children(web.pid)
            with harness.profiled(web.pid, profile):
                ours, storm_s = asyncio.run(storm(parent_flow, port, visits, window))
                cpu = harness.cpu_seconds(workers)
                ours_tp, ours_rps = asyncio.run(throughput(parent_flow, port, visits, flows))
                cpu = harness.cpu_seconds(workers) - cpu
                by_route, route_errors = {}, 0
                for route in ROUTES:  # after the throughput run: every lobby was opened once, as in a storm
                    used = harness.cpu_seconds(workers)
                    tally, _ = asyncio.run(throughput(route_flow(route), port, visits, flows))
                    used = harness.cpu_seconds(workers) - used
                    by_route[route] = round(1000 * used / max(1, len(tally.latencies)), 2)
                    route_errors += errors(tally)
            nat, _ = asyncio.run(storm(parent_flow, port, visits, window, one_address=True))
        with harness.gunicorn("bare_app:app", web_env, port=bare_port, extra=("--pythonpath", "bench"),
                              log=log_dir and log_dir / "join_bare.log") as bare_web:
            asyncio.run(throughput(bare_flow, bare_port, visits, WARM_UP))
            bare, bare_storm_s = asyncio.run(storm(bare_flow, bare_port, visits, window))
            bare_cpu = harness.cpu_seconds(harness.children(bare_web.pid))
            bare_tp, bare_rps = asyncio.run(throughput(bare_flow, bare_port, visits, flows))
            bare_cpu = harness.cpu_seconds(harness.children(bare_web.pid)) - bare_cpu
    storm_summary = ours.summary()
    return {
        "p50_ms": storm_summary["p50_ms"], "p99_ms": storm_summary["p99_ms"], "errors": errors(ours),
        "vs_bare": round(ours_rps / bare_rps, 3) if bare_rps else None,
        "rps": round(ours_rps, 1), "bare_rps": round(bare_rps, 1),
        "throughput_p50_ms": ours_tp.summary()["p50_ms"], "throughput_errors": errors(ours_tp),
        "storm_s": round(storm_s, 2), "requests": storm_summary["requests"],
        # CPU of the web workers per request in the throughput run: what the machine's other load barely changes.
        "cpu_ms_per_request": round(1000 * cpu / max(1, len(ours_tp.latencies)), 2),
        **{f"cpu_ms_{route}": ms for route, ms in by_route.items()}, "route_errors": route_errors,
        "bare_cpu_ms_per_request": round(1000 * bare_cpu / max(1, len(bare_tp.latencies)), 2),
        "bare_p50_ms": bare.summary()["p50_ms"], "bare_p99_ms": bare.summary()["p99_ms"],
        "bare_errors": errors(bare) + errors(bare_tp), "bare_storm_s": round(bare_storm_s, 2),
        "one_address_refused": nat.statuses.get(429, 0), "one_address_requests": nat.summary()["requests"],
        "parents": parents, "window_s": window, "flows": flows, "load_avg": load_before,
        "failures": (ours.failures + ours_tp.failures)[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parents", type=int, default=500)
    parser.add_argument("--window", type=float, default=10.0, help="seconds over which the parents arrive")
    parser.add_argument("--flows", type=int, default=600, help="parent visits (3 requests each) in the throughput run")
    parser.add_argument("--log-dir", type=Path, help="keep the gunicorn logs here")
    parser.add_argument("--profile", type=Path, help="py-spy the web workers during the storm (collapsed stacks)")
    args = parser.parse_args()
    result = run(args.parents, args.window, args.flows, args.log_dir, args.profile)
    if args.profile:
        for share, frame in harness.top_of_profile(args.profile, within="wsgi_app"):
            print(f"{share:5.1f}% {frame}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
