"""The first playable version: the source's own H.264 video and AAC audio, stream-copied (no re-encoding) into
fMP4 HLS segments cut at the source's keyframes, with its own media playlist and a master playlist naming only it.

The segments are byte ranges of one fMP4 file (`EXT-X-BYTERANGE`, the init section an `EXT-X-MAP` byte range), so
a 90-minute recording is three objects to publish, not hundreds. It remuxes in seconds, so it plays long before
the full ladder (ladder.py) is done.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from core.media.ladder import HLS_TIME_S, REMUX_PROFILES
from core.media.playlist import CONTENT_TYPES, _avc1_codec, byte_ranges, range_rates
from core.media.probe import ProbeResult
from core.media.run import SOURCE_FORMATS, MediaError, compile_argv, input_path, run_ffmpeg

#: Longest keyframe interval (s) of a source that gets a first version: each segment is at least one GOP long.
FIRST_MAX_GOP_S = 12.0
#: What a segment may exceed the bound by: ffmpeg rounds its EXTINF to the microsecond.
SEGMENT_SLACK_S = 0.001
#: The folder of the first version's one rendition, next to its master.m3u8.
FIRST_FOLDER = "v_source"
#: The one fMP4 file holding the init section and every segment, as byte ranges.
FIRST_MEDIA = "media.mp4"
#: Pixel formats every H.264 decoder in a browser plays (no 10-bit, no 4:2:2).
PIX_FMTS = {"yuv420p", "yuvj420p"}
#: Audio every MSE and native HLS player takes in fMP4 (AAC-LC, what Jibri and phones record).
AUDIO_PROFILES = {"LC"}


@dataclass(frozen=True)
class RemuxResult:
    """What the remux left in `out_dir`: every file to publish (relative path -> content type)."""

    out_dir: Path
    files: dict[str, str]
    master: str
    segments: int
    #: The longest segment (s): a GOP over the bound makes one longer than the bound, and then no first version.
    longest_segment_s: float


def qualifies(info: ProbeResult, *, max_gop_s: float = FIRST_MAX_GOP_S) -> bool:
    """True when the source can be played as it is: H.264 4:2:0 8-bit, AAC-LC or no audio, keyframes close enough.

    VP8/VP9, HEVC (not every browser plays it), 10-bit or 4:2:2 video, a rotated picture (a phone's portrait clip:
    players do not all turn a copied stream), other audio and sources with a keyframe gap over `max_gop_s` (a
    segment could not be shorter) go the normal way; so does everything when `max_gop_s` is 0.
    """
    audio_ok = not info.has_audio or (info.audio_codec == "aac" and info.audio_profile in AUDIO_PROFILES)
    return (
        max_gop_s > 0
        and info.video_codec == "h264"
        and info.video_profile in REMUX_PROFILES
        and info.pix_fmt in PIX_FMTS
        and info.rotation == 0
        and audio_ok
        and 0 < info.max_keyframe_interval_s <= max_gop_s
    )


def build_remux_argv(info: ProbeResult, src: str | os.PathLike, out_dir: str | os.PathLike) -> list[str]:
    """Compile the stream copy into HLS: the first video and audio stream, cut only at the source's keyframes."""
    out = Path(out_dir)
    source = ffmpeg.input(input_path(src), protocol_whitelist="file", format_whitelist=SOURCE_FORMATS)
    streams = [source["v:0"], *([source["a:0"]] if info.has_audio else [])]
    # single_file: one fMP4 file, its init section and segments listed as byte ranges (ffmpeg 5.1 writes the
    # EXT-X-MAP with a BYTERANGE too), so publishing is three objects whatever the length.
    hls = ffmpeg.output(
        *streams, f"{out}/{FIRST_FOLDER}/index.m3u8", c="copy", f="hls", hls_time=HLS_TIME_S,
        hls_playlist_type="vod", hls_segment_type="fmp4", hls_flags="independent_segments+single_file",
        hls_segment_filename=f"{out}/{FIRST_FOLDER}/{FIRST_MEDIA}",
    )
    return compile_argv(hls)


def remux(src: str | os.PathLike, out_dir: str | os.PathLike, *, info: ProbeResult, timeout_s: float | None = None,
          on_progress=None) -> RemuxResult:
    """Write the first version (its media playlist, the one fMP4 file it ranges over, and master.m3u8) into `out_dir`."""
    out = Path(out_dir)
    (out / FIRST_FOLDER).mkdir(parents=True, exist_ok=True)
    log = out / ".ffmpeg-stderr.log"
    try:
        # A stream copy reads and writes the file once: 60 s plus a tenth of the duration is far more than it needs.
        run_ffmpeg(build_remux_argv(info, src, out), duration_s=info.duration_s,
                   timeout_s=timeout_s or 60 + info.duration_s / 10, on_progress=on_progress, stderr_path=log)
    finally:
        log.unlink(missing_ok=True)
    init, segments = byte_ranges(out / FIRST_FOLDER / "index.m3u8")
    uris = {init.uri, *(segment.uri for segment in segments)}
    if uris != {FIRST_MEDIA}:
        raise MediaError(f"the remux wrote {sorted(uris)}, not one {FIRST_MEDIA}")
    write_first_master(out, info)
    names = ["master.m3u8", f"{FIRST_FOLDER}/index.m3u8", f"{FIRST_FOLDER}/{FIRST_MEDIA}"]
    return RemuxResult(out_dir=out, files={name: CONTENT_TYPES[Path(name).suffix] for name in sorted(names)},
                       master="master.m3u8", segments=len(segments),
                       longest_segment_s=max(segment.seconds for segment in segments))


def write_first_master(out_dir: str | os.PathLike, info: ProbeResult) -> Path:
    """Write master.m3u8 naming only the first version's rendition, with measured rates and its CODECS."""
    out = Path(out_dir)
    playlist = out / FIRST_FOLDER / "index.m3u8"
    init, segments = byte_ranges(playlist)
    peak, mean = range_rates(segments)
    codecs = _avc1_codec(playlist.parent / init.uri, offset=init.offset, length=init.length)
    codecs += ",mp4a.40.2" if info.has_audio else ""
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f"#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={mean},RESOLUTION={info.width}x{info.height},"
        f'CODECS="{codecs}"',
        f"{FIRST_FOLDER}/index.m3u8",
    ]
    target = out / "master.m3u8"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target
