"""ffprobe facts about a source: duration, video size and codec, audio, keyframe spacing; no decoding."""

import json
import os
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise

from core.media.run import AUDIO_FORMATS, SOURCE_FORMATS, STDERR_TAIL_BYTES, MediaError, run_ffprobe

MAX_ENCODE_FPS = 30  # also the frame rate assumed for a stream that states none
TRUNCATION_SLACK_S = 1.0
#: A sampled probe reads the packets of the first and the last this many seconds of an MP4 only.
SAMPLE_HEAD_S, SAMPLE_TAIL_S = 120.0, 30.0
#: Containers whose sample index lets ffprobe seek to the tail without reading what comes before it.
INDEXED_FORMATS = ("mov", "mp4")


@dataclass(frozen=True)
class ProbeResult:
    """What ffprobe says about a source."""

    duration_s: float
    width: int
    height: int
    video_codec: str
    video_profile: str
    pix_fmt: str
    fps: float
    has_audio: bool
    audio_codec: str
    audio_profile: str
    max_keyframe_interval_s: float
    #: Degrees a player turns the picture (a phone's display matrix); 0 for most recordings.
    rotation: int = 0
    #: True when `max_keyframe_interval_s` comes from the first and last minutes only (`probe(sample=True)`).
    keyframes_sampled: bool = False


def probe(path: str | os.PathLike, *, min_side: int = 16, max_side: int = 4096, sample: bool = False) -> ProbeResult:
    """Describe a source with two ffprobe runs (no decoding); raise MediaError when it is unusable.

    With `sample`, a long MP4's packets are read only in its first SAMPLE_HEAD_S and last SAMPLE_TAIL_S seconds
    (a fraction of a second instead of seconds for 90 minutes): the truncation check still sees the end, but the
    keyframe interval is that of the first minutes (`keyframes_sampled`); a full probe gives the exact one.
    """
    facts = _probe_streams(path)
    duration = float(facts.get("format", {}).get("duration") or 0)
    if duration <= 0:
        raise MediaError("the file has zero duration")
    video = first_stream(facts, "video")
    if video is None:
        raise MediaError("the file has no video stream")
    width, height = video.get("width", 0), video.get("height", 0)
    if not (min_side <= width <= max_side and min_side <= height <= max_side):
        raise MediaError(f"the video is {width}x{height}; each side must be {min_side} to {max_side} pixels")
    container = set(facts.get("format", {}).get("format_name", "").split(","))
    sampled = sample and bool(container & set(INDEXED_FORMATS)) and duration > 2 * (SAMPLE_HEAD_S + SAMPLE_TAIL_S)
    windows = (f"%+{SAMPLE_HEAD_S:g},{duration - SAMPLE_TAIL_S:.3f}%",) if sampled else ()
    keyframes, video_end, warnings = _probe_packets(path, video["index"], *windows)
    if "partial file" in warnings or video_end < duration - TRUNCATION_SLACK_S:
        raise MediaError("the file is truncated")
    audio = first_stream(facts, "audio") or {}
    return ProbeResult(
        duration_s=duration,
        width=width,
        height=height,
        video_codec=video.get("codec_name", ""),
        video_profile=video.get("profile", ""),
        pix_fmt=video.get("pix_fmt", ""),
        fps=_frame_rate(video),
        has_audio=bool(audio),
        audio_codec=audio.get("codec_name", ""),
        audio_profile=audio.get("profile", ""),
        max_keyframe_interval_s=(_sampled_interval(keyframes, video_end, duration - SAMPLE_TAIL_S) if sampled
                                 else _max_interval(keyframes, video_end)),
        rotation=_rotation(video),
        keyframes_sampled=sampled,
    )


def _probe_streams(path) -> dict:
    entries = (
        "stream=index,codec_type,codec_name,profile,pix_fmt,width,height,avg_frame_rate,r_frame_rate"
        ":stream_disposition=attached_pic:stream_side_data=rotation:format=duration,format_name"
    )
    done = run_ffprobe(path, "-show_entries", entries, "-of", "json")
    if done.returncode == 0:
        return json.loads(done.stdout)
    # The mov demuxer says this both for text named .mp4 and for a recording cut off before its moov.
    truncated = "moov atom not found" in done.stderr and _looks_like_mp4(path)
    raise MediaError("the file is truncated" if truncated else "not a media file", done.stderr[-STDERR_TAIL_BYTES:])


def _probe_packets(path, index: int, *intervals: str) -> tuple[list[float], float, str]:
    entries = "packet=pts_time,duration_time,flags"
    window = ("-read_intervals", ",".join(intervals)) if intervals else ()
    done = run_ffprobe(path, "-select_streams", str(index), *window, "-show_entries", entries, "-of", "csv=p=0")
    keyframes, end = [], 0.0
    for row in done.stdout.splitlines():
        pts, _, rest = row.partition(",")
        duration, _, flags = rest.partition(",")
        if pts in ("", "N/A"):
            continue
        end = max(end, float(pts) + (float(duration) if duration not in ("", "N/A") else 0.0))
        if "K" in flags:
            keyframes.append(float(pts))
    return sorted(keyframes), end, done.stderr


def _looks_like_mp4(path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(8)[4:8] in (b"ftyp", b"free", b"mdat", b"wide", b"skip")


def first_stream(facts: dict, kind: str) -> dict | None:
    """The first `kind` ("video" or "audio") stream in ffprobe's JSON, skipping a cover image."""
    streams = (s for s in facts.get("streams", []) if s.get("codec_type") == kind)
    # A cover image in an audio file is a "video" stream too.
    return next((s for s in streams if not s.get("disposition", {}).get("attached_pic")), None)


def _frame_rate(stream: dict) -> float:
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = stream.get(key, "0/0").partition("/")
        if num.isdigit() and den.isdigit() and int(den) and int(num):
            return round(float(Fraction(int(num), int(den))), 3)
    return float(MAX_ENCODE_FPS)


def _rotation(stream: dict) -> int:
    turns = [side.get("rotation") for side in stream.get("side_data_list", []) if "rotation" in side]
    return int(float(turns[0])) % 360 if turns else 0


def _max_interval(keyframes: list[float], end: float) -> float:
    # The last keyframe to the end is a segment too.
    return round(max(b - a for a, b in pairwise([*(keyframes or [0.0]), end])), 3)


def _sampled_interval(keyframes: list[float], end: float, tail_from: float) -> float:
    # The two windows' own gaps: the head's between its keyframes (its last GOP runs on past the window), the
    # tail's from the keyframe ffprobe sought back to up to the end; never the unread middle.
    head = [k for k in keyframes if k < tail_from - SAMPLE_TAIL_S]
    tail = [k for k in keyframes if k >= tail_from - SAMPLE_TAIL_S]
    gaps = [b - a for a, b in (*pairwise(head), *pairwise([*tail, end]))]
    return round(max(gaps), 3) if gaps else _max_interval(keyframes, end)


def media_kind(path: str | os.PathLike) -> str | None:
    """"video" or "audio" for a file in SOURCE_FORMATS or AUDIO_FORMATS (a cover image is not video), else None."""
    entries = "stream=index,codec_type:stream_disposition=attached_pic"
    done = run_ffprobe(path, "-show_entries", entries, "-of", "json", formats=f"{SOURCE_FORMATS},{AUDIO_FORMATS}")
    if done.returncode != 0:
        return None
    facts = json.loads(done.stdout or "{}")
    if first_stream(facts, "video") is not None:
        return "video"
    return "audio" if first_stream(facts, "audio") is not None else None
