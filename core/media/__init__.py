"""ffprobe facts, HLS ladder plans and ffmpeg runs with progress, on plain values (docs: video.md).

ffmpeg-python only builds the graph and compiles it to an argv; `run_ffmpeg` runs it under our own timeout.
`run` starts the tools, `probe` describes a source, `ladder` plans and compiles the HLS ladder, `playlist`
writes master.m3u8 and lists the output, `transcode` runs the whole jobs.
"""

from core.media.ladder import (
    DYNAUDNORM,
    HLS_TIME_S,
    LADDER,
    POSTER_AT_S,
    REMUX_PROFILES,
    THUMB_WIDTH,
    THUMBNAILS,
    LadderPlan,
    Rung,
    build_ladder_argv,
    build_mp4_argv,
    plan_ladder,
)
from core.media.playlist import CONTENT_TYPES, write_master_playlist
from core.media.probe import MAX_ENCODE_FPS, TRUNCATION_SLACK_S, ProbeResult, media_kind, probe
from core.media.run import (
    AUDIO_FORMATS,
    FFMPEG,
    FFPROBE,
    GLOBAL_ARGS,
    PROBE_TIMEOUT_S,
    SOURCE_FORMATS,
    STDERR_TAIL_BYTES,
    MediaError,
    run_ffmpeg,
)
from core.media.transcode import LADDER_SHARE, VOICE_BITRATE, TranscodeResult, transcode, transcode_voice

__all__ = [
    "AUDIO_FORMATS",
    "CONTENT_TYPES",
    "DYNAUDNORM",
    "FFMPEG",
    "FFPROBE",
    "GLOBAL_ARGS",
    "HLS_TIME_S",
    "LADDER",
    "LADDER_SHARE",
    "MAX_ENCODE_FPS",
    "POSTER_AT_S",
    "PROBE_TIMEOUT_S",
    "REMUX_PROFILES",
    "SOURCE_FORMATS",
    "STDERR_TAIL_BYTES",
    "THUMBNAILS",
    "THUMB_WIDTH",
    "TRUNCATION_SLACK_S",
    "VOICE_BITRATE",
    "LadderPlan",
    "MediaError",
    "ProbeResult",
    "Rung",
    "TranscodeResult",
    "build_ladder_argv",
    "build_mp4_argv",
    "media_kind",
    "plan_ladder",
    "probe",
    "run_ffmpeg",
    "transcode",
    "transcode_voice",
    "write_master_playlist",
]
