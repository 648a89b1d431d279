"""Transcode benchmark (issue 6): our pipeline vs the best single ffmpeg command vs one ffmpeg per rendition.

    .venv/bin/python bench/transcode.py [--source FILE] [--seconds 600] [--cache DIR] [--long] [--first-playable-only]

Makes (or takes) a 1280x720 30-fps H.264/AAC source encoded like Jibri before PR #562 (video.md §2), then in one
run times (b) the reference command (video.md §4.2 + §4.3), (a) the pipeline from `received` to `transcoded` in a
separate worker process, and (c) the naive way. Prints one JSON line. The pipeline's first playable version
(issue 18: a remux published right after the probe) is timed from the original stored to that version published
(`first_playable_s`). `--long` adds the same figures (but the naive way) for a 90-minute source under "long": nine
stream-copied rounds of the 10-minute one, so it costs seconds to make. `--first-playable-only` times only the
pipeline up to its first version (and, with `--long`, the 90-minute one's): no reference, ladder or naive run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAVFI_VIDEO = (
    "color=c=0x1e2a3a:s=1280x720:r=30,drawbox=x=40:y=40:w=760:h=540:c=0xf2f2f2:t=fill,"
    "drawtext=font=DejaVuSans:text='Parent workshop – slide %{eif\\:floor(t/45)+1\\:d}':x=70:y=70:fontsize=40:"
    "fontcolor=0x202020,drawtext=font=DejaVuSans:text='%{pts\\:hms}':x=1000:y=660:fontsize=24:fontcolor=white"
)
GRAPH = ("[0:v][1:v]overlay=x=840:y=60[t1];[t1][2:v]overlay=x=940:y=400,format=yuv420p[v];"
         "[3:a][4:a]amix=inputs=2,tremolo=f=4:d=0.8,aformat=channel_layouts=stereo[a]")
QUIET = ["-nostdin", "-y", "-loglevel", "error"]
HLS = ["-f", "hls", "-hls_time", "6", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
       "-hls_flags", "independent_segments", "-hls_fmp4_init_filename", "init.mp4"]
# Our audio rendition: loudness-normalised AAC (core.media.DYNAUDNORM), the same in all three variants.
AUDIO = ["-c:a", "aac", "-ac", "2", "-b:a", "96k"]
LOUDNESS = "dynaudnorm=f=200:g=15:m=8:p=0.9"
X264_360 = ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p",
            "-force_key_frames", "source", "-g", "100000", "-sc_threshold", "0", "-crf", "26", "-maxrate", "600k",
            "-bufsize", "1200k", "-level", "3.0"]


def make_source(path: Path, seconds: int) -> None:
    """The workshop-like lavfi source of video.md §2 (about 127 s for 10 minutes on 2 cores)."""
    inputs = [LAVFI_VIDEO, "testsrc2=s=400x300:r=30,noise=alls=9:allf=t+u",
              "testsrc2=s=200x150:r=30,hue=s=0,noise=alls=7:allf=t", "sine=f=180:sample_rate=44100",
              "anoisesrc=color=pink:amplitude=0.08:sample_rate=44100"]
    argv = ["ffmpeg", *QUIET]
    for source in inputs:
        argv += ["-f", "lavfi", "-i", source]
    argv += ["-filter_complex", GRAPH, "-map", "[v]", "-map", "[a]", "-t", str(seconds),
             "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-level", "3.1", "-pix_fmt", "yuv420p",
             "-r", "30", "-crf", "25", "-maxrate", "2976k", "-bufsize", "5952k", "-g", "60", "-tune", "zerolatency",
             "-c:a", "aac", "-ar", "44100", "-b:a", "128k", "-f", "mp4", str(path) + ".part"]
    subprocess.run(argv, check=True)
    os.replace(str(path) + ".part", path)


def thumbs_filter(seconds: float) -> str:
    """Four 320x180 stills, one in the middle of each quarter (as core.media does)."""
    step = seconds / 4
    return (f"select='gte(t,{step / 2:.3f})*(isnan(prev_selected_t)+gte(t-prev_selected_t,{step:.3f}))',"
            "scale=w=320:h=180")


def reference(src: Path, out: Path, seconds: float) -> list[list[str]]:
    """The best single command for our outputs: 720p copied, 360p + poster from one decode, then the MP4 copy."""
    ladder = ["ffmpeg", *QUIET, "-protocol_whitelist", "file", "-i", str(src),
              "-filter_complex", "[0:v]split=3[vb][vp][vt];[vb]scale=w=640:h=360,setsar=1[v360];"
                                 "[vp]select='gte(t,5)',trim=end_frame=1,scale=w=1280:h=720[poster];"
                                 f"[vt]{thumbs_filter(seconds)}[thumbs];[0:a]{LOUDNESS}[a]",
              "-map", "0:v", "-map", "[v360]", "-map", "[a]", "-c:v:0", "copy", "-c:v:1", "libx264",
              "-preset", "veryfast", "-profile:v:1", "main", "-pix_fmt:v:1", "yuv420p",
              "-force_key_frames:v:1", "source", "-g:v:1", "100000", "-sc_threshold:v:1", "0", "-crf:v:1", "26",
              "-maxrate:v:1", "600k", "-bufsize:v:1", "1200k", "-level:v:1", "3.0", *AUDIO, *HLS,
              "-hls_segment_filename", f"{out}/v_%v/seg_%05d.m4s", "-master_pl_name", "master.m3u8",
              "-var_stream_map", "v:0,agroup:aud,name:720p v:1,agroup:aud,name:360p a:0,agroup:aud,name:audio",
              f"{out}/v_%v/index.m3u8", "-map", "[poster]", "-frames:v", "1", "-update", "1", "-q:v", "3",
              f"{out}/poster.jpg", "-map", "[thumbs]", "-frames:v", "4", "-fps_mode", "vfr", "-q:v", "5",
              f"{out}/thumb_%02d.jpg"]
    mp4 = ["ffmpeg", *QUIET, "-protocol_whitelist", "file", "-i", f"{out}/v_360p/index.m3u8",
           "-protocol_whitelist", "file", "-i", f"{out}/v_audio/index.m3u8", "-map", "0:v", "-map", "1:a",
           "-c", "copy", "-movflags", "+faststart", f"{out}/fallback_360p.mp4"]
    return [ladder, mp4]


def naive(src: Path, out: Path, seconds: float) -> list[list[str]]:
    """One ffmpeg per rendition, each decoding the source on its own (what video.md §0 rules out)."""
    base = ["ffmpeg", *QUIET, "-protocol_whitelist", "file", "-i", str(src)]
    for name in ("v_720p", "v_360p", "v_audio"):
        (out / name).mkdir(parents=True, exist_ok=True)
    return [
        [*base, "-map", "0:v", "-c:v", "copy", *HLS, "-hls_segment_filename", f"{out}/v_720p/seg_%05d.m4s",
         f"{out}/v_720p/index.m3u8"],
        [*base, "-map", "0:v", "-vf", "scale=w=640:h=360,setsar=1", *X264_360, *HLS,
         "-hls_segment_filename", f"{out}/v_360p/seg_%05d.m4s", f"{out}/v_360p/index.m3u8"],
        [*base, "-map", "0:a", "-af", LOUDNESS, *AUDIO, *HLS, "-hls_segment_filename", f"{out}/v_audio/seg_%05d.m4s",
         f"{out}/v_audio/index.m3u8"],
        ["ffmpeg", *QUIET, "-ss", "5", "-i", str(src), "-frames:v", "1", "-q:v", "3", f"{out}/poster.jpg"],
        [*base, "-map", "0:v", "-vf", thumbs_filter(seconds), "-frames:v", "4", "-fps_mode", "vfr", "-q:v", "5",
         f"{out}/thumb_%02d.jpg"],
        [*base, "-map", "0:v", "-map", "0:a", "-vf", "scale=w=640:h=360,setsar=1", *X264_360, "-af", LOUDNESS, *AUDIO,
         "-movflags", "+faststart", f"{out}/fallback_360p.mp4"],
    ]


def source_seconds(src: Path) -> float:
    """The source's duration from ffprobe (the thumbnails' spacing depends on it)."""
    done = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(src)],
                          check=True, capture_output=True, text=True)
    return float(done.stdout.strip())


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(commands: list[list[str]]) -> float:
    start = time.perf_counter()
    for argv in commands:
        subprocess.run(argv, check=True)
    return time.perf_counter() - start


class ChildPeakRss:
    """Samples VmHWM of this process's direct children (ffmpeg, ffprobe): ru_maxrss of forked children is
    inflated by the parent's pages, so it cannot tell ffmpeg's own peak."""

    def __init__(self, every_s: float = 0.2):
        self.peak_kb, self._stop, self._every = 0, threading.Event(), every_s
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = str(os.getpid())
        while not self._stop.wait(self._every):
            for status in Path("/proc").glob("[0-9]*/status"):
                try:
                    fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
                except OSError:
                    continue
                if fields.get("PPid", "").strip() == me and "VmHWM" in fields:
                    self.peak_kb = max(self.peak_kb, int(fields["VmHWM"].split()[0]))


def run_pipeline_worker(src: Path, *, first_only: bool = False) -> dict:
    """In this (worker) process: a fresh app and database, the original stored, then received -> transcoded (or
    only -> playable, the first version published, with `first_only`)."""
    instance = Path(tempfile.mkdtemp(prefix="ouderkamer-bench-"))
    os.environ["INSTANCE_PATH"] = str(instance)
    sys.path.insert(0, str(ROOT))
    from datetime import timedelta

    from flask_migrate import upgrade

    from accounts import services as accounts
    from core import queue
    from core.app import create_app
    from core.db import utcnow
    from core.extensions import db
    from core.storage import file_sha256, get_storage
    from courses import services as courses
    from recordings import services
    from recordings.models import RecordingSource, RecordingState
    from sessions import scheduling as sessions

    queue.TASKS["recordings.publish"] = lambda _id: None  # stop at `transcoded`: the pipeline enqueues by name
    marks: dict[str, float] = {}
    ladder = queue.TASKS["recordings.transcode"]

    def transcode_after_first_version(recording_id: int) -> None:
        # Enqueued once the probe step committed `playable`: the first version is published and plays from now on.
        marks.setdefault("first_playable", time.perf_counter())
        if not first_only:
            ladder(recording_id)

    queue.TASKS["recordings.transcode"] = transcode_after_first_version
    app = create_app({"INSTANCE_PATH": str(instance), "DATABASE_URL": f"sqlite:///{instance / 'bench.sqlite'}",
                      "HUEY_IMMEDIATE": True, "SECRET_KEY": "bench-" + "x" * 40, "MAIL_TRANSPORT": "memory",
                      "SMS_TRANSPORT": "memory"})
    with app.app_context():
        upgrade(revision="heads")
        user = accounts.create_user("bench@example.org", name="Bench", password="bench bench bench")
        course = courses.create_course(title="Bench", trainers=[user], publish_automatically=True)
        when = (utcnow() + timedelta(days=1)).replace(microsecond=0)
        workshop = sessions.schedule_session(course, title="Bench", starts_local=when, timezone="UTC")
        recording = services.create_recording(workshop, source=RecordingSource.upload)
        local = services.local_original(recording)
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, local)
        stored = get_storage().put_file(services.original_key(recording, src.name), local,
                                        content_type="video/mp4")
        recording.original_key, recording.original_size = stored.key, stored.size
        recording.original_sha256 = file_sha256(local)
        db.session.commit()  # `received`, nothing enqueued yet

        with ChildPeakRss() as children:
            start = time.perf_counter()
            services.advance_recording(recording)
            db.session.commit()  # immediate mode: probe and transcode run here
            wall = time.perf_counter() - start

        db.session.expire_all()
        recording = db.session.get(type(recording), recording.id)
        if recording.state is not (RecordingState.playable if first_only else RecordingState.transcoded):
            raise SystemExit(f"pipeline ended {recording.state.value}: {recording.error_message}")
        first = (marks["first_playable"] - start) if recording.playable_at and "first_playable" in marks else None
        result = {"wall_s": wall, "duration_s": recording.duration_s, "first_playable_s": first,
                  "python_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "ffmpeg_rss_mb": children.peak_kb / 1024,
                  "files": len(recording.renditions or recording.first_renditions or {})}
    shutil.rmtree(instance, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="use this file instead of generating one")
    parser.add_argument("--seconds", type=int, default=600, help="length of the generated source")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ouderkamer-bench")
    parser.add_argument("--long", action="store_true", help="also time a 90-minute source (figures under \"long\")")
    parser.add_argument("--first-playable-only", action="store_true",
                        help="only the first playable version's figures: the pipeline stops at `playable`")
    parser.add_argument("--pipeline-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pipeline_worker:
        print(json.dumps(run_pipeline_worker(args.pipeline_worker, first_only=args.first_playable_only)))
        return
    src = args.source
    if src is None:
        args.cache.mkdir(parents=True, exist_ok=True)
        src = args.cache / f"src_g60_{args.seconds}s.mp4"
        if not src.exists():
            make_source(src, args.seconds)
    seconds = source_seconds(src)
    if args.first_playable_only:
        print(json.dumps(first_playable_only(src, args.cache, long=args.long)))
        return
    work = Path(tempfile.mkdtemp(prefix="ouderkamer-bench-out-"))
    try:
        (work / "ref").mkdir()
        cpu_before = _children_cpu_s()
        wall_ref = timed(reference(src, work / "ref", seconds))
        cpu_ref = _children_cpu_s() - cpu_before
        worker = subprocess.run([sys.executable, __file__, "--pipeline-worker", str(src)], check=True,
                                capture_output=True, text=True, cwd=ROOT)
        pipeline = json.loads(worker.stdout.strip().splitlines()[-1])
        wall_naive = timed(naive(src, work / "naive", seconds))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall = pipeline["wall_s"]
    print(json.dumps({
        "source_s": round(pipeline["duration_s"], 3),
        "pipeline_wall_s": round(wall, 2),
        "reference_wall_s": round(wall_ref, 2),
        "naive_wall_s": round(wall_naive, 2),
        "x_realtime": round(pipeline["duration_s"] / wall, 2),
        "vs_reference": round(wall / wall_ref, 3),
        "vs_naive": round(wall / wall_naive, 3),
        "peak_rss_mb": round(max(pipeline["python_rss_mb"], pipeline["ffmpeg_rss_mb"]), 1),
        "worker_python_rss_mb": round(pipeline["python_rss_mb"], 1),
        "ffmpeg_peak_rss_mb": round(pipeline["ffmpeg_rss_mb"], 1),
        "files": pipeline["files"],
        "cores": os.cpu_count(),
        # What the reference costs in CPU time, and the best realtime factor that allows on this many cores even
        # with every core busy all the time: the ceiling no pipeline built on that command can pass.
        "reference_cpu_s": round(cpu_ref, 1),
        "reference_cpu_bound_x_realtime": round(pipeline["duration_s"] / (cpu_ref / os.cpu_count()), 2),
        **first_playable_figures(pipeline, cpu_ref),
        **({"long": long_run(src, args.cache)} if args.long else {}),
    }))


def first_playable_figures(pipeline: dict, reference_cpu_s: float) -> dict:
    """Issue 18's figures of one pipeline run: the original stored -> the first version published, and the
    pipeline's realtime factor against the reference command's CPU-bound ceiling on this many cores."""
    source_s, first = pipeline["duration_s"], pipeline.get("first_playable_s")
    cpu_bound_x_realtime = source_s / (reference_cpu_s / os.cpu_count())
    return {
        "first_playable_s": round(first, 2) if first else None,
        "first_playable_x_realtime": round(source_s / first, 1) if first else None,
        "ladder_vs_cpu_bound": round(source_s / pipeline["wall_s"] / cpu_bound_x_realtime, 3),
    }


def long_source(src: Path, cache: Path, rounds: int = 9) -> Path:
    """A 90-minute source: `rounds` times the 10-minute one, stream-copied end to end (same encoding throughout)."""
    target = cache / f"{src.stem}_x{rounds}.mp4"
    if not target.exists():
        listing = cache / f"{src.stem}_x{rounds}.txt"
        listing.write_text(f"file '{src.resolve()}'\n" * rounds, encoding="utf-8")
        subprocess.run(["ffmpeg", *QUIET, "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
                        "-movflags", "+faststart", str(target) + ".part.mp4"], check=True)
        os.replace(str(target) + ".part.mp4", target)
    return target


def long_run(src: Path, cache: Path) -> dict:
    """The reference command and the pipeline on the 90-minute source, with the same figures (not the naive way)."""
    cache.mkdir(parents=True, exist_ok=True)
    long_src = long_source(src, cache)
    work = Path(tempfile.mkdtemp(prefix="ouderkamer-bench-long-"))
    try:
        (work / "ref").mkdir()
        cpu_before = _children_cpu_s()
        wall_ref = timed(reference(long_src, work / "ref", source_seconds(long_src)))
        cpu_ref = _children_cpu_s() - cpu_before
    finally:
        shutil.rmtree(work, ignore_errors=True)
    worker = subprocess.run([sys.executable, __file__, "--pipeline-worker", str(long_src)], check=True,
                            capture_output=True, text=True, cwd=ROOT)
    pipeline = json.loads(worker.stdout.strip().splitlines()[-1])
    return {
        "source_s": round(pipeline["duration_s"], 3),
        "pipeline_wall_s": round(pipeline["wall_s"], 2),
        "reference_wall_s": round(wall_ref, 2),
        "x_realtime": round(pipeline["duration_s"] / pipeline["wall_s"], 2),
        "vs_reference": round(pipeline["wall_s"] / wall_ref, 3),
        "reference_cpu_s": round(cpu_ref, 1),
        "reference_cpu_bound_x_realtime": round(pipeline["duration_s"] / (cpu_ref / os.cpu_count()), 2),
        **first_playable_figures(pipeline, cpu_ref),
    }



def first_playable_only(src: Path, cache: Path, *, long: bool) -> dict:
    """The first playable version's figures alone (seconds to run, also for 90 minutes): the pipeline stops there."""
    result: dict = {}
    for key, source in (("", src), *((("long", long_source(src, cache)),) if long else ())):
        worker = subprocess.run([sys.executable, __file__, "--pipeline-worker", str(source), "--first-playable-only"],
                                check=True, capture_output=True, text=True, cwd=ROOT)
        pipeline = json.loads(worker.stdout.strip().splitlines()[-1])
        first = pipeline["first_playable_s"]
        figures = {"source_s": round(pipeline["duration_s"], 3), "first_playable_s": round(first, 2),
                   "first_playable_x_realtime": round(pipeline["duration_s"] / first, 1), "files": pipeline["files"]}
        result.update({key: figures} if key else figures)
    return result


if __name__ == "__main__":
    main()
