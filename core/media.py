"""ffprobe facts, HLS ladder plans and ffmpeg runs with progress, on plain values (docs: video.md).

ffmpeg-python only builds the graph and compiles it to an argv; `run_ffmpeg` runs it under our own timeout.
"""

import json
import math
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import ffmpeg

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"
# Demuxers a recording or phone clip can arrive in; anything else (an HLS or concat playlist renamed to
# .mp4, an image, text) is refused before it can make ffmpeg read other files.
SOURCE_FORMATS = "mov,matroska,avi,mpegts"
# Voice messages: a phone's recorder app (m4a/3gp, amr, mp3, wav) or the browser's MediaRecorder (webm, ogg, mp4).
AUDIO_FORMATS = "mov,matroska,ogg,mp3,wav,aac,amr"
VOICE_BITRATE = "64k"
GLOBAL_ARGS = ("-nostdin", "-nostats", "-loglevel", "warning", "-progress", "pipe:1")
HLS_TIME_S = 6
POSTER_AT_S = 5.0
THUMBNAILS = 4  # small stills spread over the recording, for the trainer's overview and chapter previews
THUMB_WIDTH = 320
# Speech loudness: the Dynamic Audio Normalizer (0.2-s frames smoothed over 15 = 3 s, so short clips are
# normalised too; gain at most 8x = +18 dB; peaks at 0.9). Not EBU R128 `loudnorm`, which resamples to 192 kHz and costs half again the whole remux run;
# not `speechnorm`, which gives NaN samples on a steady tone in ffmpeg 5.1 and so kills the AAC encoder.
DYNAUDNORM = {"f": 200, "g": 15, "p": 0.9, "m": 8}
MAX_ENCODE_FPS = 30
REMUX_PROFILES = {"Constrained Baseline", "Baseline", "Main", "High"}
PROBE_TIMEOUT_S = 120
TRUNCATION_SLACK_S = 1.0
STDERR_TAIL_BYTES = 2000
LADDER_SHARE = 0.95  # of the progress bar; the MP4 copy and the master playlist take the rest
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
}


class MediaError(Exception):
    """A source we cannot use, or a failed ffprobe/ffmpeg run; `detail` holds the tail of its stderr."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail


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


@dataclass(frozen=True)
class Rung:
    """One video rendition: its name (also its folder, `v_<name>`), size and x264 limits."""

    name: str
    width: int
    height: int
    crf: int
    maxrate_k: int
    level: str


@dataclass(frozen=True)
class LadderPlan:
    """How to turn one source into the HLS ladder; `rungs` run largest first, `rungs[0]` is copied on remux."""

    remux: bool
    rungs: tuple[Rung, ...]
    audio: str  # "encode" (speech-normalised AAC) or "silence" (a source without sound gets a silent track)
    duration_s: float
    fps_cap: int | None
    gop_frames: int
    poster_at_s: float


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


# (short side, crf, maxrate in kbit/s, level), largest first (§4.1)
LADDER = ((720, 23, 2000, "3.1"), (360, 26, 600, "3.0"))


def probe(path: str | os.PathLike, *, min_side: int = 16, max_side: int = 4096) -> ProbeResult:
    """Describe a source with two ffprobe runs (no decoding); raise MediaError when it is unusable."""
    facts = _probe_streams(path)
    duration = float(facts.get("format", {}).get("duration") or 0)
    if duration <= 0:
        raise MediaError("the file has zero duration")
    video = _first_stream(facts, "video")
    if video is None:
        raise MediaError("the file has no video stream")
    width, height = video.get("width", 0), video.get("height", 0)
    if not (min_side <= width <= max_side and min_side <= height <= max_side):
        raise MediaError(f"the video is {width}x{height}; each side must be {min_side} to {max_side} pixels")
    keyframes, video_end, warnings = _probe_packets(path, video["index"])
    if "partial file" in warnings or video_end < duration - TRUNCATION_SLACK_S:
        raise MediaError("the file is truncated")
    audio = _first_stream(facts, "audio") or {}
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
        max_keyframe_interval_s=_max_interval(keyframes, video_end),
    )


def _probe_streams(path) -> dict:
    entries = (
        "stream=index,codec_type,codec_name,profile,pix_fmt,width,height,avg_frame_rate,r_frame_rate"
        ":stream_disposition=attached_pic:format=duration"
    )
    done = _ffprobe(path, "-show_entries", entries, "-of", "json")
    if done.returncode == 0:
        return json.loads(done.stdout)
    # The mov demuxer says this both for text named .mp4 and for a recording cut off before its moov.
    truncated = "moov atom not found" in done.stderr and _looks_like_mp4(path)
    raise MediaError("the file is truncated" if truncated else "not a media file", done.stderr[-STDERR_TAIL_BYTES:])


def _probe_packets(path, index: int) -> tuple[list[float], float, str]:
    entries = "packet=pts_time,duration_time,flags"
    done = _ffprobe(path, "-select_streams", str(index), "-show_entries", entries, "-of", "csv=p=0")
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


def _ffprobe(path, *args: str, formats: str = SOURCE_FORMATS) -> subprocess.CompletedProcess:
    argv = [FFPROBE, "-v", "error", "-protocol_whitelist", "file", "-format_whitelist", formats, *args]
    try:
        return subprocess.run(
            [*argv, _input_path(path)], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"ffprobe took longer than {PROBE_TIMEOUT_S} s") from exc


def _looks_like_mp4(path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(8)[4:8] in (b"ftyp", b"free", b"mdat", b"wide", b"skip")


def _first_stream(facts: dict, kind: str) -> dict | None:
    streams = (s for s in facts.get("streams", []) if s.get("codec_type") == kind)
    # A cover image in an audio file is a "video" stream too.
    return next((s for s in streams if not s.get("disposition", {}).get("attached_pic")), None)


def _frame_rate(stream: dict) -> float:
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = stream.get(key, "0/0").partition("/")
        if num.isdigit() and den.isdigit() and int(den) and int(num):
            return round(float(Fraction(int(num), int(den))), 3)
    return float(MAX_ENCODE_FPS)


def _max_interval(keyframes: list[float], end: float) -> float:
    # The last keyframe to the end is a segment too.
    return round(max(b - a for a, b in pairwise([*(keyframes or [0.0]), end])), 3)


def plan_ladder(info: ProbeResult, *, max_gop_s: float = 10.0, small: bool = False) -> LadderPlan:
    """Choose remux or full ladder (§5) and the rungs, never upscaling; `small` gives one 360p rung."""
    rungs = _rungs(info.width, info.height, small)
    remux = not small and _remuxable(info, max_gop_s)
    fps = min(info.fps, MAX_ENCODE_FPS)
    return LadderPlan(
        remux=remux,
        rungs=rungs,
        audio="encode" if info.has_audio else "silence",
        duration_s=info.duration_s,
        fps_cap=MAX_ENCODE_FPS if info.fps > MAX_ENCODE_FPS + 0.5 else None,
        gop_frames=max(1, round(2 * fps)),
        poster_at_s=round(min(POSTER_AT_S, info.duration_s / 2), 3),
    )


def _remuxable(info: ProbeResult, max_gop_s: float) -> bool:
    # fps <= 30 as well: the 360p rung keeps the source's frames to stay aligned, and level 3.0 caps it at 30.
    return (
        info.video_codec == "h264"
        and info.video_profile in REMUX_PROFILES
        and info.pix_fmt == "yuv420p"
        and (info.width, info.height) == (1280, 720)
        and info.fps <= MAX_ENCODE_FPS + 0.5
        and info.max_keyframe_interval_s <= max_gop_s
    )


def _rungs(width: int, height: int, small: bool) -> tuple[Rung, ...]:
    short = min(width, height)
    ladder = LADDER[-1:] if small else LADDER
    fitting = [(side, *rest) for side, *rest in ladder if side <= short]
    if not fitting:  # smaller than 360p: one rung at the source's own size
        fitting = [(short, *LADDER[-1][1:])]
    return tuple(
        Rung(f"{side}p", _even(width * side / short), _even(height * side / short), crf, maxrate, level)
        for side, crf, maxrate, level in fitting
    )


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def build_ladder_argv(plan: LadderPlan, src: str | os.PathLike, out_dir: str | os.PathLike) -> list[str]:
    """Compile the one-decode HLS ladder + poster command (§4.1, or §4.2 on remux) to an argv."""
    out = Path(out_dir)
    source = _source_input(src)
    # The first video and audio streams only: a second track would not match var_stream_map.
    first_video = source["v:0"]
    encoded = plan.rungs[1:] if plan.remux else plan.rungs
    video = first_video.filter("fps", plan.fps_cap) if plan.fps_cap else first_video
    branches = video.filter_multi_output("split", len(encoded) + 2)
    streams = [first_video] if plan.remux else []
    streams += [branches[i].filter("scale", w=r.width, h=r.height).filter("setsar", 1) for i, r in enumerate(encoded)]
    top = plan.rungs[0]
    poster = (
        branches[len(encoded)]
        .filter("select", f"gte(t,{plan.poster_at_s})")
        .filter("trim", end_frame=1)
        .filter("scale", w=top.width, h=top.height)
    )
    hls = ffmpeg.output(*streams, _audio_stream(plan, source), f"{out}/v_%v/index.m3u8", **_hls_options(plan, out))
    jpg = ffmpeg.output(poster, f"{out}/poster.jpg", **{"frames:v": 1, "update": 1, "q:v": 3})
    thumbs = ffmpeg.output(_thumbnail_branch(plan, branches[len(encoded) + 1]), f"{out}/thumb_%02d.jpg",
                           **{"frames:v": THUMBNAILS, "fps_mode": "vfr", "q:v": 5})
    return _compile(ffmpeg.merge_outputs(hls, jpg, thumbs))


def _thumbnail_branch(plan: LadderPlan, branch):
    # One frame in the middle of each of THUMBNAILS equal parts: the first at or after interval/2, then each
    # frame at least one interval after the previously selected one. Decoded frames are shared with the ladder.
    interval = plan.duration_s / THUMBNAILS
    top = plan.rungs[0]
    picked = f"gte(t,{interval / 2:.3f})*(isnan(prev_selected_t)+gte(t-prev_selected_t,{interval:.3f}))"
    return branch.filter("select", picked).filter("scale", w=THUMB_WIDTH, h=_even(THUMB_WIDTH * top.height / top.width))


def build_mp4_argv(out_dir: str | os.PathLike, rung: Rung) -> list[str]:
    """Compile the faststart MP4 as a stream copy of one rendition plus the audio rendition (§4.3)."""
    out = Path(out_dir)
    video = ffmpeg.input(f"{out}/v_{rung.name}/index.m3u8", protocol_whitelist="file")
    audio = ffmpeg.input(f"{out}/v_audio/index.m3u8", protocol_whitelist="file")
    mp4 = ffmpeg.output(video.video, audio.audio, f"{out}/{_mp4_name(rung)}", c="copy", movflags="+faststart")
    return _compile(mp4)


def _compile(stream) -> list[str]:
    return stream.global_args(*GLOBAL_ARGS).compile(cmd=FFMPEG, overwrite_output=True)


def _source_input(src):
    return ffmpeg.input(_input_path(src), protocol_whitelist="file", format_whitelist=SOURCE_FORMATS)


def _input_path(path) -> str:
    # Absolute, so that a name like "http:x.mp4" can never read as a protocol.
    return os.fspath(Path(path).absolute())


def _audio_stream(plan: LadderPlan, source):
    if plan.audio != "silence":
        return source["a:0"].filter("dynaudnorm", **DYNAUDNORM)
    silence = ffmpeg.input("anullsrc=r=48000:cl=stereo", f="lavfi", t=plan.duration_s, protocol_whitelist="file")
    return silence.audio


def _hls_options(plan: LadderPlan, out: Path) -> dict:
    stream_map = [f"v:{i},agroup:aud,name:{rung.name}" for i, rung in enumerate(plan.rungs)]
    options = {
        "f": "hls",
        "hls_time": HLS_TIME_S,
        "hls_playlist_type": "vod",
        "hls_segment_type": "fmp4",
        "hls_flags": "independent_segments",
        "hls_segment_filename": f"{out}/v_%v/seg_%05d.m4s",
        "hls_fmp4_init_filename": "init.mp4",
        "master_pl_name": "master.m3u8",  # overwritten by write_master_playlist
        "var_stream_map": " ".join([*stream_map, "a:0,agroup:aud,name:audio"]),
        "preset": "veryfast",
    }
    options.update(_remux_options(plan) if plan.remux else _encode_options(plan))
    for i, rung in enumerate(plan.rungs[1:] if plan.remux else plan.rungs, start=int(plan.remux)):
        options[f"crf:v:{i}"] = rung.crf
        options[f"maxrate:v:{i}"] = f"{rung.maxrate_k}k"
        options[f"bufsize:v:{i}"] = f"{2 * rung.maxrate_k}k"
        options[f"level:v:{i}"] = rung.level
    options.update({"c:a": "aac", "ac": 2, "b:a": "96k"})
    return options


def _encode_options(plan: LadderPlan) -> dict:
    gop = plan.gop_frames
    return {"c:v": "libx264", "profile:v": "main", "pix_fmt": "yuv420p", "g": gop, "keyint_min": gop, "sc_threshold": 0}


def _remux_options(plan: LadderPlan) -> dict:
    # 360p keyframes follow the copied rung's and nothing else, so both cut at the same points (§5).
    return {
        "c:v:0": "copy",
        "c:v:1": "libx264",
        "profile:v:1": "main",
        "pix_fmt:v:1": "yuv420p",
        "force_key_frames:v:1": "source",
        "g:v:1": 100000,
        "sc_threshold:v:1": 0,
    }


def run_ffmpeg(argv, *, duration_s: float, timeout_s: float, on_progress=None, stderr_path) -> None:
    """Run ffmpeg, report progress fractions to `on_progress`, kill it after `timeout_s`; stderr goes to a file."""
    try:
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
    except OSError as exc:
        raise MediaError(f"cannot start {argv[0]}: {exc}") from exc
    timed_out = threading.Event()
    timer = threading.Timer(timeout_s, lambda: (timed_out.set(), proc.kill()))
    timer.start()
    try:
        _follow_progress(proc.stdout, duration_s, on_progress)
        status = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    if timed_out.is_set():
        raise MediaError(f"ffmpeg took longer than {timeout_s:g} s and was stopped", _tail(stderr_path))
    if status != 0:
        tail = _tail(stderr_path)
        last_line = (tail.strip().splitlines() or [""])[-1]
        raise MediaError(f"ffmpeg exited with status {status}: {last_line}", tail)


def _follow_progress(lines, duration_s: float, on_progress) -> None:
    reported = 0.0
    for raw in lines:
        key, _, value = raw.decode(errors="replace").strip().partition("=")
        if key == "progress" and value == "end":
            fraction = 1.0
        elif key in ("out_time_us", "out_time_ms") and value.isdigit():
            fraction = min(int(value) / 1e6 / duration_s, 1.0)  # both keys are microseconds
        else:
            continue
        if fraction > reported:
            reported = fraction
            if on_progress is not None:
                on_progress(fraction)


def _tail(path) -> str:
    with open(path, "rb") as fh:
        fh.seek(max(0, os.fstat(fh.fileno()).st_size - STDERR_TAIL_BYTES))
        return fh.read().decode(errors="replace")


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
        files=_published_files(out, plan.rungs),
        master="master.m3u8",
        mp4=_mp4_name(plan.rungs[-1]),
        poster="poster.jpg",
        duration_s=info.duration_s,
        remux=plan.remux,
        thumbnails=tuple(sorted(path.name for path in out.glob("thumb_*.jpg"))),
    )


def _mp4_name(rung: Rung) -> str:
    return f"fallback_{rung.name}.mp4"


def write_master_playlist(out_dir: str | os.PathLike, rungs) -> Path:
    """Write master.m3u8 with rates measured from the segments and CODECS from each init.mp4 (§6)."""
    out = Path(out_dir)
    audio_peak, audio_mean = _rates(out / "v_audio" / "index.m3u8")
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,URI="v_audio/index.m3u8"',
    ]
    # Smallest first: hls.js starts on the first level listed (§8).
    for rung in sorted(rungs, key=lambda r: r.width * r.height):
        playlist = out / f"v_{rung.name}" / "index.m3u8"
        peak, mean = _rates(playlist)
        codecs = f"{_avc1_codec(playlist.parent / _read_playlist(playlist)[0])},mp4a.40.2"
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={peak + audio_peak},AVERAGE-BANDWIDTH={mean + audio_mean},"
            f'RESOLUTION={rung.width}x{rung.height},CODECS="{codecs}",AUDIO="aud"'
        )
        lines.append(f"v_{rung.name}/index.m3u8")
    lines.append(
        f'#EXT-X-STREAM-INF:BANDWIDTH={audio_peak},AVERAGE-BANDWIDTH={audio_mean},CODECS="mp4a.40.2",AUDIO="aud"'
    )
    lines.append("v_audio/index.m3u8")
    target = out / "master.m3u8"
    scratch = out / ".master.m3u8.tmp"
    scratch.write_text("\n".join(lines) + "\n", encoding="utf-8")
    scratch.replace(target)
    return target


def _read_playlist(path: Path) -> tuple[str, list[tuple[str, float]]]:
    """The init segment's URI and (URI, seconds) per media segment of one of our media playlists."""
    init, segments, seconds = "", [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith('#EXT-X-MAP:URI="'):
            init = line.split('"')[1]
        elif line.startswith("#EXTINF:"):
            seconds = float(line[len("#EXTINF:") :].split(",")[0])
        elif line and not line.startswith("#"):
            segments.append((line, seconds))
    if not init or not segments:
        raise MediaError(f"{path.parent.name}/{path.name} lists no init segment or no media segments")
    return init, segments


def _rates(playlist: Path) -> tuple[int, int]:
    """Peak segment rate and overall mean rate in bit/s (RFC 8216 §4.3.4.2)."""
    _, segments = _read_playlist(playlist)
    sizes = [(playlist.parent / uri).stat().st_size * 8 for uri, _ in segments]
    peak = max(bits / seconds for bits, (_, seconds) in zip(sizes, segments, strict=True))
    mean = sum(sizes) / sum(seconds for _, seconds in segments)
    return math.ceil(peak), math.ceil(mean)


def _avc1_codec(init: Path) -> str:
    data = init.read_bytes()
    # avcC: size, type, then configurationVersion followed by profile, compatibility and level bytes.
    at = data.find(b"avcC")
    if at < 0:
        raise MediaError(f"{init.parent.name}/{init.name} has no avcC box")
    return "avc1." + data[at + 5 : at + 8].hex()


def _published_files(out: Path, rungs) -> dict[str, str]:
    # Thumbnails are not checked: a very short source may give fewer than THUMBNAILS.
    names = ["master.m3u8", "poster.jpg", _mp4_name(rungs[-1]), *(p.name for p in out.glob("thumb_*.jpg"))]
    for folder in [f"v_{rung.name}" for rung in rungs] + ["v_audio"]:
        init, segments = _read_playlist(out / folder / "index.m3u8")
        names += [f"{folder}/index.m3u8", f"{folder}/{init}"] + [f"{folder}/{uri}" for uri, _ in segments]
    missing = [name for name in names if not (out / name).is_file()]
    if missing:
        raise MediaError(f"ffmpeg did not write {', '.join(missing)}")
    return {name: CONTENT_TYPES[Path(name).suffix] for name in sorted(names)}


# --- short clips and voice messages (home activities and parents' responses) ------------------------------------


def media_kind(path: str | os.PathLike) -> str | None:
    """"video" or "audio" for a file in SOURCE_FORMATS or AUDIO_FORMATS (a cover image is not video), else None."""
    entries = "stream=index,codec_type:stream_disposition=attached_pic"
    done = _ffprobe(path, "-show_entries", entries, "-of", "json", formats=f"{SOURCE_FORMATS},{AUDIO_FORMATS}")
    if done.returncode != 0:
        return None
    facts = json.loads(done.stdout or "{}")
    if _first_stream(facts, "video") is not None:
        return "video"
    return "audio" if _first_stream(facts, "audio") is not None else None


def transcode_voice(src: str | os.PathLike, dst: str | os.PathLike, *, max_seconds: float,
                    timeout_s: float = 120) -> float:
    """Encode the first audio stream of `src` as mono AAC in a faststart MP4 audio file; return its duration.

    At most `max_seconds` + 1 s is written, so the caller can tell a too-long message from one that fits.
    """
    source = ffmpeg.input(_input_path(src), protocol_whitelist="file",
                          format_whitelist=f"{SOURCE_FORMATS},{AUDIO_FORMATS}")
    out = ffmpeg.output(source["a:0"], _input_path(dst), t=max_seconds + 1, f="mp4", movflags="+faststart",
                        ac=1, **{"c:a": "aac", "b:a": VOICE_BITRATE})
    log = Path(dst).with_name(Path(dst).name + ".stderr.log")
    try:
        run_ffmpeg(_compile(out), duration_s=max_seconds, timeout_s=timeout_s, stderr_path=log)
    finally:
        log.unlink(missing_ok=True)
    done = _ffprobe(dst, "-show_entries", "format=duration", "-of", "json", formats="mov")
    duration = float(json.loads(done.stdout or "{}").get("format", {}).get("duration") or 0)
    if done.returncode != 0 or duration <= 0:
        raise MediaError("the file has zero duration", done.stderr[-STDERR_TAIL_BYTES:])
    return duration
