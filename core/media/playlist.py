"""master.m3u8 with measured rates and CODECS, and the list of files a transcode left to publish."""

import math
import os
from pathlib import Path

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
