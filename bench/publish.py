"""Publish (issue 10): ~500 MB of renditions to the S3 server, our publish step against plain boto3 upload_file.

    .venv/bin/python bench/publish.py [--mb 500] [--rounds 2]

Makes an HLS ladder of random bytes shaped like a transcoded workshop (720p, 360p and audio segments of 6 s,
init segments, playlists, poster, fallback MP4) in a temp folder, starts moto's S3 server on a free port, and
then, in each round, in separate processes so each has its own peak RSS:

- **boto3**: a plain boto3 client calls `upload_file` for every file (its default transfer settings);
- **ours**: the real app (private PostgreSQL database) publishes a `transcoded` recording whose work folder is
  that ladder: `recordings.publish.publish_recording`, through `core.storage.S3Storage`, then commits.

vs_boto3 = our throughput / boto3's (the best round of each); peak_rss_mb = the publishing process's VmHWM
(ru_maxrss would include the parent's pages at fork time).
moto keeps objects in memory, so it is reset between rounds. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import harness

BUCKET = "ouderkamer-bench"
REGION = "eu-central-1"
KEYS = {"S3_ACCESS_KEY_ID": "bench-key-id", "S3_SECRET_ACCESS_KEY": "bench-secret-key"}
#: Bytes per 6-s segment of each rendition (about 2.9 Mb/s, 600 kb/s and 128 kb/s).
SEGMENT_BYTES = {"v_720p": 2_200_000, "v_360p": 450_000, "v_audio": 96_000}
CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".m4s": "video/iso.segment", ".mp4": "video/mp4",
                 ".jpg": "image/jpeg"}


def make_ladder(out: Path, total_mb: int) -> dict[str, str]:
    """Write the ladder (random bytes, real names) and return it as `renditions` (name -> content type)."""
    per_segment = sum(SEGMENT_BYTES.values()) + SEGMENT_BYTES["v_360p"] + SEGMENT_BYTES["v_audio"]  # + the MP4
    segments = max(1, total_mb * harness.MiB // per_segment)
    names = {}

    def write(name: str, size: int) -> None:
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        names[name] = CONTENT_TYPES[path.suffix]

    for folder, size in SEGMENT_BYTES.items():
        write(f"{folder}/init.mp4", 900)
        for i in range(segments):
            write(f"{folder}/seg_{i:05d}.m4s", size + (i * 7919) % 4096)
        write(f"{folder}/index.m3u8", 60 + 40 * segments)
    write("master.m3u8", 600)
    write("poster.jpg", 120_000)
    write("fallback_360p.mp4", segments * (SEGMENT_BYTES["v_360p"] + SEGMENT_BYTES["v_audio"]))
    return names


def ladder_bytes(ladder: Path) -> int:
    return sum(p.stat().st_size for p in ladder.rglob("*") if p.is_file())


def run_boto3(endpoint: str, ladder: Path, prefix: str) -> dict:
    """Child process: plain boto3 `upload_file` of every file, one after the other."""
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=KEYS["S3_ACCESS_KEY_ID"],
        aws_secret_access_key=KEYS["S3_SECRET_ACCESS_KEY"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    files = sorted(p for p in ladder.rglob("*") if p.is_file())
    rss_before = harness.peak_rss_mb(os.getpid())
    start = time.perf_counter()
    for path in files:
        name = path.relative_to(ladder).as_posix()
        client.upload_file(str(path), BUCKET, prefix + name, ExtraArgs={"ContentType": CONTENT_TYPES[path.suffix]})
    return {"wall_s": time.perf_counter() - start, "files": len(files), "rss_before_mb": rss_before}


def transcoded_recording(app, ladder: Path, renditions: dict[str, str], instance: Path) -> int:
    """In the parent: a `transcoded` recording whose work folder's `out` is the ladder; returns its id."""
    from accounts import services as accounts
    from core.db import utcnow
    from core.extensions import db
    from courses import services as courses
    from recordings import services
    from recordings.models import RecordingSource, RecordingState
    from sessions import scheduling as sessions

    with app.app_context():
        app.config["INSTANCE_PATH"] = str(instance)
        user = accounts.create_user(f"bench-{instance.name}@example.org", name="Bench", password="bench " * 3)
        course = courses.create_course(title="Bench", trainers=[user], publish_automatically=True)
        workshop = sessions.schedule_session(course, title="Bench", starts_local=utcnow(), timezone="UTC",
                                             allow_past=True)
        recording = services.create_recording(workshop, source=RecordingSource.upload)
        recording.state, recording.renditions = RecordingState.transcoded, renditions
        db.session.commit()
        out = services.output_dir(recording)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.symlink_to(ladder, target_is_directory=True)
        return recording.id


def run_ours(endpoint: str, recording_id: int, database_url: str, instance: Path) -> dict:
    """Child process: the app, as a worker has it, publishes the recording (the publish task's service call)."""
    harness.isolate(instance)
    from core.app import create_app
    from core.extensions import db
    from core.storage import get_storage
    from recordings import publish
    from recordings.models import Recording

    # Like a worker: the app without migrating it (the parent did), so the RSS is what a worker has.
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": harness.SECRET_KEY, "S3_BUCKET": BUCKET,
                      "S3_ENDPOINT_URL": endpoint, "S3_REGION": REGION, "S3_ADDRESSING_STYLE": "path",
                      "INSTANCE_PATH": str(instance), "MAIL_TRANSPORT": "log", "SMS_TRANSPORT": "log", **KEYS})
    with app.app_context():
        get_storage()  # the S3 client, built once per worker
        recording = db.session.get(Recording, recording_id)
        rss_before = harness.peak_rss_mb(os.getpid())
        start = time.perf_counter()
        uploaded = publish.publish_recording(recording)
        db.session.commit()
        wall = time.perf_counter() - start
        state = recording.state.value
        db.engine.dispose()
    if state != "published":
        raise SystemExit(f"recording ended {state}")
    return {"wall_s": wall, "files": uploaded, "rss_before_mb": rss_before}


def child(side: str, *args: str) -> dict:
    """Run one side in a fresh process; its JSON result gains the process's peak RSS."""
    done = subprocess.run([sys.executable, __file__, "--child", side, *args], capture_output=True, text=True,
                          cwd=harness.ROOT)
    if done.returncode != 0:
        raise SystemExit(f"the {side} process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def reset(endpoint: str) -> None:
    import boto3
    import requests

    requests.post(f"{endpoint}/moto-api/reset", timeout=30).raise_for_status()
    boto3.session.Session().client("s3", endpoint_url=endpoint, region_name=REGION,
                                   aws_access_key_id=KEYS["S3_ACCESS_KEY_ID"],
                                   aws_secret_access_key=KEYS["S3_SECRET_ACCESS_KEY"]).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})


def run(total_mb: int, rounds: int) -> dict:
    with harness.temp_dir("publish") as work, harness.postgres_database("publish") as database_url, \
            harness.moto_server() as endpoint:
        ladder = work / "ladder"
        (work / "renditions.json").write_text(json.dumps(make_ladder(ladder, total_mb)))
        size = ladder_bytes(ladder)
        harness.isolate(work / "instance")
        app = harness.migrated_app(database_url)
        renditions = json.loads((work / "renditions.json").read_text())
        recordings = [transcoded_recording(app, ladder, renditions, work / f"instance-{i}") for i in range(rounds)]
        with app.app_context():
            from core.extensions import db

            db.engine.dispose()
        load_before = harness.load_average()
        ours, plain = [], []
        for i in range(rounds):
            reset(endpoint)
            plain.append(child("boto3", endpoint, str(ladder), f"plain-{i}/"))
            reset(endpoint)
            ours.append(child("ours", endpoint, str(recordings[i]), database_url, str(work / f"instance-{i}")))
        reset(endpoint)
    best_ours, best_plain = min(r["wall_s"] for r in ours), min(r["wall_s"] for r in plain)
    return {
        "vs_boto3": round(best_plain / best_ours, 3), "peak_rss_mb": round(max(r["peak_rss_mb"] for r in ours), 1),
        "mb": round(size / harness.MiB, 1), "files": ours[0]["files"],
        "ours_mb_s": round(size / harness.MiB / best_ours, 1), "boto3_mb_s": round(size / harness.MiB / best_plain, 1),
        "rss_before_publish_mb": round(max(r["rss_before_mb"] for r in ours), 1),
        "boto3_peak_rss_mb": round(max(r["peak_rss_mb"] for r in plain), 1),
        "rounds": rounds, "load_avg": load_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=500, help="size of the ladder (moto keeps it in memory)")
    parser.add_argument("--rounds", type=int, default=2, help="boto3 and ours alternate this many times")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, *rest = args.child
        result = run_boto3(rest[0], Path(rest[1]), rest[2]) if side == "boto3" else \
            run_ours(rest[0], int(rest[1]), rest[2], Path(rest[3]))
        result["peak_rss_mb"] = harness.peak_rss_mb(os.getpid())
        print(json.dumps(result))
        return
    print(json.dumps(run(args.mb, args.rounds)))


if __name__ == "__main__":
    main()
