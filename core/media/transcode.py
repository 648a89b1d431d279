"""The whole jobs: a recording or clip into the HLS ladder, a voice message into mono AAC."""

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from core.media.ladder import build_ladder_argv, build_mp4_argv, mp4_name, plan_ladder
from core.media.playlist import published_files, write_master_playlist
from core.media.probe import ProbeResult, probe
from core.media.run import (
    AUDIO_FORMATS,
    SOURCE_FORMATS,
    STDERR_TAIL_BYTES,
    MediaError,
    compile_argv,
    input_path,
    run_ffmpeg,
    run_ffprobe,
)

VOICE_BITRATE = "64k"
LADDER_SHARE = 0.95  # of the progress bar; the MP4 copy and the master playlist take the rest


@dataclass(frozen=True)
class TranscodeResult:
    """What a transcode left in `out_dir`: every file to publish (relative path -> content type)."""

    out_dir: Path
    files: dict[str, str]
    master: str
    mp4: str
    poster: str
    duration_s: float
    remux: bool
    thumbnails: tuple[str, ...] = ()


def transcode(
    src: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    info: ProbeResult | None = None,
    small: bool = False,
    max_gop_s: float = 10.0,
    timeout_s: float | None = None,
    on_progress=None,
) -> TranscodeResult:
    """Write the HLS ladder, poster, faststart MP4 and master.m3u8 into `out_dir` (created if needed)."""
    out = Path(out_dir)
    info = info or probe(src)
    plan = plan_ladder(info, max_gop_s=max_gop_s, small=small)
    # ffmpeg on 2 cores runs the ladder at 5x realtime or better; 1x means it is stuck.
    deadline = time.monotonic() + (timeout_s if timeout_s is not None else 120 + info.duration_s)
    ladder_progress = (lambda f: on_progress(f * LADDER_SHARE)) if on_progress else None
    out.mkdir(parents=True, exist_ok=True)
    log = out / ".ffmpeg-stderr.log"
    try:
        for argv, report in (
            (build_ladder_argv(plan, src, out), ladder_progress),
            (build_mp4_argv(out, plan.rungs[-1]), None),
        ):
            remaining = max(deadline - time.monotonic(), 1.0)
            run_ffmpeg(argv, duration_s=info.duration_s, timeout_s=remaining, on_progress=report, stderr_path=log)
    finally:
        log.unlink(missing_ok=True)
    write_master_playlist(out, plan.rungs)
    if on_progress is not None:
        on_progress(1.0)
    return TranscodeResult(
        out_dir=out,
        files=published_files(out, plan.rungs),
        master="master.m3u8",
        mp4=mp4_name(plan.rungs[-1]),
        poster="poster.jpg",
        duration_s=info.duration_s,
        remux=plan.remux,
        thumbnails=tuple(sorted(path.name for path in out.glob("thumb_*.jpg"))),
    )


def transcode_voice(src: str | os.PathLike, dst: str | os.PathLike, *, max_seconds: float,
                    timeout_s: float = 120) -> float:
    """Encode the first audio stream of `src` as mono AAC in a faststart MP4 audio file; return its duration.

    At most `max_seconds` + 1 s is written, so the caller can tell a too-long message from one that fits.
    """
    source = ffmpeg.input(input_path(src), protocol_whitelist="file",
                          format_whitelist=f"{SOURCE_FORMATS},{AUDIO_FORMATS}")
    out = ffmpeg.output(source["a:0"], input_path(dst), t=max_seconds + 1, f="mp4", movflags="+faststart",
                        ac=1, **{"c:a": "aac", "b:a": VOICE_BITRATE})
    log = Path(dst).with_name(Path(dst).name + ".stderr.log")
    try:
        run_ffmpeg(compile_argv(out), duration_s=max_seconds, timeout_s=timeout_s, stderr_path=log)
    finally:
        log.unlink(missing_ok=True)
    done = run_ffprobe(dst, "-show_entries", "format=duration", "-of", "json", formats="mov")
    duration = float(json.loads(done.stdout or "{}").get("format", {}).get("duration") or 0)
    if done.returncode != 0 or duration <= 0:
        raise MediaError("the file has zero duration", done.stderr[-STDERR_TAIL_BYTES:])
    return duration
