"""master.m3u8 with measured rates and CODECS, and the list of files a transcode left to publish."""

import math
import os
from pathlib import Path
from typing import NamedTuple

from core.media.ladder import mp4_name
from core.media.run import MediaError

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
}


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


class ByteRange(NamedTuple):
    """One part of a byte-range playlist (`EXT-X-BYTERANGE`): `length` bytes of `uri` from `offset`."""

    uri: str
    offset: int
    length: int
    seconds: float = 0.0


def byte_ranges(path: Path) -> tuple[ByteRange, list[ByteRange]]:
    """The init section and the media segments of a byte-range media playlist (ffmpeg's `single_file`); raise
    MediaError when a part has no byte range (RFC 8216 §4.3.2.2: an offset left out follows the previous range)."""
    init, segments, seconds, pending, end = None, [], 0.0, None, 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#EXT-X-MAP:"):
            uri = line.split('URI="', 1)[1].split('"', 1)[0] if 'URI="' in line else ""
            spec = line.split('BYTERANGE="', 1)[1].split('"', 1)[0] if 'BYTERANGE="' in line else ""
            if not uri or not spec:
                raise MediaError(f"{path.name}: the EXT-X-MAP has no URI or no BYTERANGE")
            length, _, offset = spec.partition("@")
            init = ByteRange(uri, int(offset or 0), int(length))
        elif line.startswith("#EXTINF:"):
            seconds = float(line[len("#EXTINF:") :].split(",")[0])
        elif line.startswith("#EXT-X-BYTERANGE:"):
            length, _, offset = line[len("#EXT-X-BYTERANGE:") :].partition("@")
            pending = (int(offset) if offset else end, int(length))
        elif line and not line.startswith("#"):
            if pending is None:
                raise MediaError(f"{path.name}: segment {line} has no EXT-X-BYTERANGE")
            segments.append(ByteRange(line, pending[0], pending[1], seconds))
            end, pending = pending[0] + pending[1], None
    if init is None or not segments:
        raise MediaError(f"{path.parent.name}/{path.name} lists no init section or no media segments")
    return init, segments


def range_rates(segments: list[ByteRange]) -> tuple[int, int]:
    """Peak segment rate and overall mean rate in bit/s of byte-range segments (RFC 8216 §4.3.4.2)."""
    peak = max(segment.length * 8 / segment.seconds for segment in segments)
    mean = sum(segment.length for segment in segments) * 8 / sum(segment.seconds for segment in segments)
    return math.ceil(peak), math.ceil(mean)


def _rates(playlist: Path) -> tuple[int, int]:
    """Peak segment rate and overall mean rate in bit/s (RFC 8216 §4.3.4.2)."""
    _, segments = _read_playlist(playlist)
    sizes = [(playlist.parent / uri).stat().st_size * 8 for uri, _ in segments]
    peak = max(bits / seconds for bits, (_, seconds) in zip(sizes, segments, strict=True))
    mean = sum(sizes) / sum(seconds for _, seconds in segments)
    return math.ceil(peak), math.ceil(mean)


def _avc1_codec(init: Path, *, offset: int = 0, length: int | None = None) -> str:
    # The init section only: in a single-file rendition it is the first `length` bytes of the whole recording.
    with open(init, "rb") as fh:
        fh.seek(offset)
        data = fh.read(-1 if length is None else length)
    # avcC: size, type, then configurationVersion followed by profile, compatibility and level bytes.
    at = data.find(b"avcC")
    if at < 0:
        raise MediaError(f"{init.parent.name}/{init.name} has no avcC box")
    return "avc1." + data[at + 5 : at + 8].hex()


def published_files(out: Path, rungs) -> dict[str, str]:
    """Every file to publish (relative path -> content type); raise MediaError if one is missing."""
    # Thumbnails are not checked: a very short source may give fewer than THUMBNAILS.
    names = ["master.m3u8", "poster.jpg", mp4_name(rungs[-1]), *(p.name for p in out.glob("thumb_*.jpg"))]
    for folder in [f"v_{rung.name}" for rung in rungs] + ["v_audio"]:
        init, segments = _read_playlist(out / folder / "index.m3u8")
        names += [f"{folder}/index.m3u8", f"{folder}/{init}"] + [f"{folder}/{uri}" for uri, _ in segments]
    missing = [name for name in names if not (out / name).is_file()]
    if missing:
        raise MediaError(f"ffmpeg did not write {', '.join(missing)}")
    return {name: CONTENT_TYPES[Path(name).suffix] for name in sorted(names)}
