"""HLS ladder plans (remux or full encode, which rungs) and the ffmpeg commands that make them."""

import os
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from core.media.probe import MAX_ENCODE_FPS, ProbeResult
from core.media.run import SOURCE_FORMATS, compile_argv, input_path

HLS_TIME_S = 6
POSTER_AT_S = 5.0
THUMBNAILS = 4  # small stills spread over the recording, for the trainer's overview and chapter previews
THUMB_WIDTH = 320
# Speech loudness: the Dynamic Audio Normalizer (0.2-s frames smoothed over 15 = 3 s, so short clips are
# normalised too; gain at most 8x = +18 dB; peaks at 0.9). Not EBU R128 `loudnorm`, which resamples to 192 kHz
# and costs half again the whole remux run; not `speechnorm`, which gives NaN samples on a steady tone in
# ffmpeg 5.1 and so kills the AAC encoder.
DYNAUDNORM = {"f": 200, "g": 15, "p": 0.9, "m": 8}
REMUX_PROFILES = {"Constrained Baseline", "Baseline", "Main", "High"}


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


# (short side, crf, maxrate in kbit/s, level), largest first (§4.1)
LADDER = ((720, 23, 2000, "3.1"), (360, 26, 600, "3.0"))


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
    return compile_argv(ffmpeg.merge_outputs(hls, jpg, thumbs))


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
    mp4 = ffmpeg.output(video.video, audio.audio, f"{out}/{mp4_name(rung)}", c="copy", movflags="+faststart")
    return compile_argv(mp4)


def _source_input(src):
    return ffmpeg.input(input_path(src), protocol_whitelist="file", format_whitelist=SOURCE_FORMATS)


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


def mp4_name(rung: Rung) -> str:
    """The file name of the faststart MP4 copied from `rung`."""
    return f"fallback_{rung.name}.mp4"
