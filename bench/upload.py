"""Upload (issue 10): stream a 2 GB recording through the app; the web worker's peak RSS; throughput vs the disk.

    .venv/bin/python bench/upload.py [--mb 2048]

On a private PostgreSQL database and gunicorn with 2 workers (the real `wsgi:app`, production settings, media in
the instance folder), a script with a bearer API token sends `--mb` MB as the raw body of
`POST /api/v1/sessions/<id>/recordings` (what a Jibri finalize script or a trainer's script does). The response
comes once the recording is `received`: the body is on disk, checksummed and stored. Then the same bytes are
written to a file in the same folder with one fsync, as the reference.

vs_disk = upload throughput / disk write throughput; peak_rss_mb = the largest VmHWM of the web workers.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time
from pathlib import Path

import harness

BLOCK = os.urandom(4 * harness.MiB)  # repeated: enough entropy that no layer can compress it away


def seed(app) -> tuple[int, str]:
    """A trainer with an API token and one session of their course; returns (session id, token)."""
    from accounts import services as accounts
    from core.db import utcnow
    from core.extensions import db
    from courses import services as courses
    from sessions import scheduling as sessions

    with app.app_context():
        user = accounts.create_user("bench-trainer@example.org", name="Bench Trainer", password="bench " * 3)
        course = courses.create_course(title="Bench", trainers=[user])
        workshop = sessions.schedule_session(course, title="Bench", starts_local=utcnow(), timezone="UTC",
                                             allow_past=True)
        _row, token = accounts.create_api_token(user, name="bench")
        db.session.commit()
        return workshop.id, token


def blocks(total: int):
    sent = 0
    while sent < total:
        chunk = BLOCK[: min(len(BLOCK), total - sent)]
        sent += len(chunk)
        yield chunk


def upload(port: int, session_id: int, token: str, total: int) -> tuple[int, bytes, float]:
    """Send the raw body over one connection as fast as the server reads it; returns status, body, seconds."""
    head = (f"POST /api/v1/sessions/{session_id}/recordings HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n"
            f"X-Filename: workshop.mp4\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n").encode()
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=600) as sock:
        sock.sendall(head)
        for chunk in blocks(total):
            sock.sendall(chunk)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    seconds = time.perf_counter() - start
    status_line, _, rest = answer.partition(b"\r\n")
    status = int(status_line.split()[1]) if status_line.startswith(b"HTTP/") else 0
    return status, rest.partition(b"\r\n\r\n")[2], seconds


def disk_write(path: Path, total: int) -> float:
    start = time.perf_counter()
    with open(path, "wb") as out:
        for chunk in blocks(total):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    seconds = time.perf_counter() - start
    path.unlink()
    return seconds


def run(total_mb: int, log_dir: Path | None) -> dict:
    total = total_mb * harness.MiB
    with harness.temp_dir("upload") as instance, harness.postgres_database("upload") as database_url:
        port = harness.free_port()
        base = f"http://127.0.0.1:{port}"
        env = harness.isolate(instance)
        app = harness.migrated_app(database_url)
        session_id, token = seed(app)
        with app.app_context():
            from core.extensions import db

            db.engine.dispose()
        web_env = {**env, **harness.production_env(instance, database_url, base)}
        load_before = harness.load_average()
        with harness.gunicorn("wsgi:app", web_env, port=port, log=log_dir and log_dir / "upload_web.log") as master:
            workers = harness.children(master.pid)
            rss_idle = max(harness.peak_rss_mb(pid) for pid in workers)
            status, body, upload_s = upload(port, session_id, token, total)
            rss_peak = max(harness.peak_rss_mb(pid) for pid in workers if Path(f"/proc/{pid}").exists())
            alive = all(Path(f"/proc/{pid}").exists() for pid in workers)
        disk_s = disk_write(instance / "reference.bin", total)
    if status != 201:
        raise SystemExit(f"upload answered {status}: {body[:500]!r}")
    stored = json.loads(body)
    return {"peak_rss_mb": round(rss_peak, 1), "vs_disk": round(disk_s / upload_s, 3),
            "upload_mb_s": round(total_mb / upload_s, 1), "disk_mb_s": round(total_mb / disk_s, 1),
            "upload_s": round(upload_s, 1), "idle_rss_mb": round(rss_idle, 1), "mb": total_mb,
            "stored_size_ok": stored.get("original_size") == total, "workers_survived": alive,
            "load_avg": load_before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=2048)
    parser.add_argument("--log-dir", type=Path, help="keep the gunicorn log here")
    args = parser.parse_args()
    print(json.dumps(run(args.mb, args.log_dir)))


if __name__ == "__main__":
    main()
