"""Scale (issue 10): the recording pipeline with 1 and then 2 worker processes on the Redis queue.

    .venv/bin/python bench/scale.py [--recordings 6] [--seconds 60] [--cache DIR]

On a private PostgreSQL database, the shared Redis (127.0.0.1:6379) under a queue name of its own, and media in a
private instance folder: `--recordings` copies of a Jibri-like source (bench/transcode.py makes it, cached) are
stored as `received`; then N worker processes are started (N = 1, then 2; each is the app's Huey consumer with
one thread, what `flask worker -w 1 --no-periodic` runs), every recording is enqueued at once, and the clock runs
until all are `published` (probe, transcode, publish to storage). Throughput = recordings per minute;
speedup_2_workers = 2-process throughput / 1-process throughput. cores_busy_* = CPU seconds of the workers and
their ffmpeg runs per wall second: when one worker already keeps most cores busy (ffmpeg is multi-threaded),
speedup_bound = cores / cores_busy_1_worker is all a second worker can add. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import harness

POLL_S = 0.25


def use_queue(name: str):
    """Point the app's Huey instance at a queue of our own on the same Redis, so nobody else's consumer sees it."""
    from core import queue

    queue.huey.name = name
    queue.huey.storage = queue.huey.create_storage()
    return queue.huey


def worker(name: str) -> None:
    """Child process: the app's consumer (as `flask worker -w 1 --no-periodic`), on our queue."""
    sys.path.insert(0, str(harness.ROOT))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from wsgi import app  # noqa: F401  (builds the app and binds the queue to it)

    use_queue(name).create_consumer(workers=1, worker_type="thread", periodic=False).run()


def store_received(app, src: Path, count: int) -> list[int]:
    """`count` recordings in state `received`, each with its own stored original; nothing enqueued yet."""
    from accounts import services as accounts
    from core.db import utcnow
    from core.extensions import db
    from core.storage import file_sha256, get_storage
    from courses import services as courses
    from recordings import services
    from recordings.models import RecordingSource
    from sessions import scheduling as sessions

    digest = file_sha256(src)
    ids = []
    with app.app_context():
        user = accounts.create_user(f"bench-{uuid.uuid4().hex[:8]}@example.org", name="Bench", password="bench " * 3)
        course = courses.create_course(title="Bench", trainers=[user], publish_automatically=True)
        for i in range(count):
            workshop = sessions.schedule_session(course, title=f"Bench {i}", starts_local=utcnow(), timezone="UTC",
                                                 allow_past=True)
            recording = services.create_recording(workshop, source=RecordingSource.upload)
            local = services.local_original(recording)
            local.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, local)
            stored = get_storage().put_file(services.original_key(recording, src.name), local,
                                            content_type="video/mp4")
            recording.original_key, recording.original_size = stored.key, stored.size
            recording.original_sha256 = digest
            ids.append(recording.id)
        db.session.commit()
    return ids


def enqueue(app, ids: list[int]) -> None:
    from core.extensions import db
    from recordings import services
    from recordings.models import Recording

    with app.app_context():
        for recording_id in ids:
            services.advance_recording(db.session.get(Recording, recording_id))
        db.session.commit()  # the probe tasks go to Redis here


def states(app, ids: list[int]) -> dict[str, int]:
    from sqlalchemy import func, select

    from core.extensions import db
    from recordings.models import Recording

    with app.app_context():
        rows = db.session.execute(select(Recording.state, func.count()).where(Recording.id.in_(ids))
                                  .group_by(Recording.state))
        return {state.value: n for state, n in rows}


def wait_for_consumers(logs: list[Path], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(log.exists() and "consumer started" in log.read_text() for log in logs):
            return
        time.sleep(0.1)
    raise SystemExit(f"the workers did not start: {[log.read_text()[-500:] for log in logs if log.exists()]}")


def round_with(app, env: dict, src: Path, count: int, processes: int, logs: Path) -> tuple[float, float]:
    """Seconds from enqueueing `count` recordings to all of them published with `processes` workers, and the
    CPU seconds the workers and their ffmpeg runs used meanwhile."""
    ids = store_received(app, src, count)
    log_files = [logs / f"scale_{processes}w_{i}.log" for i in range(processes)]
    with contextlib.ExitStack() as stack:
        workers = [stack.enter_context(harness.started([sys.executable, __file__, "--worker", env["BENCH_QUEUE"]],
                                                       env=env, log=log)).pid for log in log_files]
        wait_for_consumers(log_files)
        cpu = harness.cpu_seconds(workers, with_children=True)
        start = time.perf_counter()
        enqueue(app, ids)
        while True:
            seen = states(app, ids)
            if seen.get("failed"):
                raise SystemExit(f"a recording failed; see {logs}")
            if seen.get("published", 0) == count:
                return time.perf_counter() - start, harness.cpu_seconds(workers, with_children=True) - cpu
            time.sleep(POLL_S)


def source(cache: Path, seconds: int) -> Path:
    import transcode

    cache.mkdir(parents=True, exist_ok=True)
    src = cache / f"src_g60_{seconds}s.mp4"
    if not src.exists():
        transcode.make_source(src, seconds)
    return src


def run(count: int, seconds: int, cache: Path, log_dir: Path | None) -> dict:
    src = source(cache, seconds)
    name = f"ouderkamer-bench-{uuid.uuid4().hex[:10]}"
    with harness.temp_dir("scale") as instance, harness.postgres_database("scale") as database_url:
        logs = log_dir or instance
        env = harness.isolate(instance, REDIS_URL=harness.SHARED_REDIS_URL)
        huey = use_queue(name)
        try:
            app = harness.migrated_app(database_url)
            env = {**env, **harness.production_env(instance, database_url, "http://127.0.0.1:5000"),
                   "REDIS_URL": harness.SHARED_REDIS_URL, "BENCH_QUEUE": name}
            load_before = harness.load_average()
            one, one_cpu = round_with(app, env, src, count, 1, logs)
            two, two_cpu = round_with(app, env, src, count, 2, logs)
            with app.app_context():
                from core.extensions import db

                db.engine.dispose()
        finally:
            huey.storage.flush_all()  # our queue's keys, nobody else's
    cores = os.cpu_count() or 1
    # ffmpeg is multi-threaded: the cores one worker already keeps busy bound what a second can add.
    busy = one_cpu / one
    return {"speedup_2_workers": round(one / two, 3), "cores_busy_1_worker": round(busy, 2),
            "cores_busy_2_workers": round(two_cpu / two, 2), "speedup_bound": round(min(2.0, cores / busy), 2),
            "per_min_1_worker": round(count * 60 / one, 2), "per_min_2_workers": round(count * 60 / two, 2),
            "wall_s_1_worker": round(one, 1), "wall_s_2_workers": round(two, 1), "recordings": count,
            "source_s": seconds, "cores": cores, "load_avg": load_before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=60, help="length of each generated recording")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ouderkamer-bench")
    parser.add_argument("--log-dir", type=Path, help="keep the worker logs here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    print(json.dumps(run(args.recordings, args.seconds, args.cache, args.log_dir)))


if __name__ == "__main__":
    main()
