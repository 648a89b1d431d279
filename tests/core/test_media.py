"""core.media against real ffprobe/ffmpeg on tiny generated clips (fixtures: tests/fixtures/media.py)."""

import dataclasses
import json
import re
import struct
import subprocess
import time
from pathlib import Path

import ffmpeg
import pytest

from core import media
from core.media import LadderPlan, MediaError, ProbeResult, Rung
from tests.fixtures.services import need_program

pytestmark = pytest.mark.adapter

RUNG_720P = Rung("720p", 1280, 720, 23, 2000, "3.1")
RUNG_360P = Rung("360p", 640, 360, 26, 600, "3.0")
JIBRI_720P = ProbeResult(
    duration_s=7.0,
    width=1280,
    height=720,
    video_codec="h264",
    video_profile="Main",
    pix_fmt="yuv420p",
    fps=30.0,
    has_audio=True,
    audio_codec="aac",
    audio_profile="LC",
    max_keyframe_interval_s=2.0,
)


@pytest.fixture(autouse=True)
def _programs():
    need_program("ffmpeg")
    need_program("ffprobe")


@pytest.fixture(scope="module")
def remux_output(clip_720p, tmp_path_factory):
    """One transcode of the 720p clip, shared by the tests that inspect its outputs."""
    progress = []
    result = media.transcode(clip_720p, tmp_path_factory.mktemp("remux"), on_progress=progress.append)
    return result, progress


# probe


def test_probe_720p_clip_reports_exact_facts(clip_720p):
    info = media.probe(clip_720p)

    assert info == JIBRI_720P


def test_probe_silent_clip_reports_no_audio_and_one_keyframe(clip_silent_240p):
    info = media.probe(clip_silent_240p)

    assert info == ProbeResult(3.0, 320, 240, "h264", "High", "yuv420p", 25.0, False, "", "", 3.0)


@pytest.mark.parametrize(
    ("clip", "message"),
    [
        ("clip_not_media", "not a media file"),
        ("clip_audio_only", "the file has no video stream"),
        ("clip_zero_duration", "the file has zero duration"),
        ("clip_truncated", "the file is truncated"),
        ("clip_truncated_before_moov", "the file is truncated"),
        ("clip_absurd", "the video is 4200x64; each side must be 16 to 4096 pixels"),
    ],
)
def test_probe_bad_input_raises_its_own_message(request, clip, message):
    path = request.getfixturevalue(clip)

    with pytest.raises(MediaError) as error:
        media.probe(path)

    assert error.value.message == message


def test_probe_size_limits_are_configurable(clip_360p):
    with pytest.raises(MediaError) as error:
        media.probe(clip_360p, max_side=600)

    assert error.value.message == "the video is 640x360; each side must be 16 to 600 pixels"


def test_probe_playlist_renamed_to_mp4_is_refused(tmp_path):
    playlist = tmp_path / "clip.mp4"
    playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n/etc/passwd\n#EXT-X-ENDLIST\n")

    with pytest.raises(MediaError) as error:
        media.probe(playlist)

    assert (error.value.message, "not on whitelist" in error.value.detail) == ("not a media file", True)


# plan_ladder


def test_plan_ladder_720p_with_2s_gop_remuxes(clip_720p):
    plan = media.plan_ladder(media.probe(clip_720p))

    assert plan == LadderPlan(
        remux=True,
        rungs=(RUNG_720P, RUNG_360P),
        audio="encode",
        duration_s=7.0,
        fps_cap=None,
        gop_frames=60,
        poster_at_s=3.5,
    )


def test_plan_ladder_360p_source_runs_full_ladder_without_720p(clip_360p):
    plan = media.plan_ladder(media.probe(clip_360p))

    assert plan == LadderPlan(
        remux=False,
        rungs=(RUNG_360P,),
        audio="encode",
        duration_s=4.0,
        fps_cap=None,
        gop_frames=60,
        poster_at_s=2.0,
    )


@pytest.mark.parametrize(
    ("changes", "remux"),
    [
        ({"max_keyframe_interval_s": 10.0}, True),
        ({"max_keyframe_interval_s": 20.0}, False),
        ({"video_profile": "High 10"}, False),
        ({"pix_fmt": "yuv444p"}, False),
        ({"video_codec": "hevc"}, False),
        ({"width": 1920, "height": 1080}, False),
        ({"fps": 60.0}, False),
    ],
)
def test_plan_ladder_remuxes_only_when_every_condition_holds(changes, remux):
    info = dataclasses.replace(JIBRI_720P, **changes)

    assert media.plan_ladder(info).remux is remux


def test_plan_ladder_1080p_60fps_caps_rate_and_gets_no_1080p_rung():
    info = dataclasses.replace(JIBRI_720P, width=1920, height=1080, fps=60.0)

    plan = media.plan_ladder(info)

    assert (plan.rungs, plan.fps_cap, plan.gop_frames) == ((RUNG_720P, RUNG_360P), 30, 60)


def test_plan_ladder_portrait_phone_clip_keeps_its_orientation():
    info = dataclasses.replace(JIBRI_720P, width=1080, height=1920, fps=29.97)

    plan = media.plan_ladder(info)

    assert plan.rungs == (Rung("720p", 720, 1280, 23, 2000, "3.1"), Rung("360p", 360, 640, 26, 600, "3.0"))


def test_plan_ladder_small_gives_one_360p_rung_and_no_remux():
    plan = media.plan_ladder(JIBRI_720P, small=True)

    assert (plan.remux, plan.rungs, plan.audio) == (False, (RUNG_360P,), "encode")


def test_plan_ladder_source_below_360p_keeps_its_own_size():
    info = dataclasses.replace(JIBRI_720P, width=320, height=240, has_audio=False)

    plan = media.plan_ladder(info)

    assert (plan.rungs, plan.audio) == ((Rung("240p", 320, 240, 26, 600, "3.0"),), "silence")


# argv


def test_build_ladder_argv_remux_is_the_compiled_section_4_2_command():
    plan = media.plan_ladder(JIBRI_720P)

    argv = media.build_ladder_argv(plan, "/media/in/720p.mp4", "/media/out")

    assert argv == [
        "ffmpeg",
        *("-format_whitelist", "mov,matroska,avi,mpegts", "-protocol_whitelist", "file"),
        *("-i", "/media/in/720p.mp4"),
        "-filter_complex",
        "[0:v:0]split=3[s0][s1][s2];[s0]scale=h=360:w=640[s3];[s3]setsar=1[s4];"
        "[0:a:0]dynaudnorm=f=200:g=15:m=8:p=0.9[s5];"
        "[s1]select=gte(t\\,3.5)[s6];[s6]trim=end_frame=1[s7];[s7]scale=h=720:w=1280[s8];"
        "[s2]select=gte(t\\,0.875)*(isnan(prev_selected_t)+gte(t-prev_selected_t\\,1.750))[s9];"
        "[s9]scale=h=180:w=320[s10]",
        *("-map", "0:v:0", "-map", "[s4]", "-map", "[s5]", "-f", "hls", "-ac", "2", "-b:a", "96k"),
        *("-bufsize:v:1", "1200k", "-c:a", "aac", "-c:v:0", "copy", "-c:v:1", "libx264", "-crf:v:1", "26"),
        *("-force_key_frames:v:1", "source", "-g:v:1", "100000", "-hls_flags", "independent_segments"),
        *("-hls_fmp4_init_filename", "init.mp4", "-hls_playlist_type", "vod"),
        *("-hls_segment_filename", "/media/out/v_%v/seg_%05d.m4s", "-hls_segment_type", "fmp4"),
        *("-hls_time", "6", "-level:v:1", "3.0", "-master_pl_name", "master.m3u8", "-maxrate:v:1", "600k"),
        *("-pix_fmt:v:1", "yuv420p", "-preset", "veryfast", "-profile:v:1", "main", "-sc_threshold:v:1", "0"),
        "-var_stream_map",
        "v:0,agroup:aud,name:720p v:1,agroup:aud,name:360p a:0,agroup:aud,name:audio",
        "/media/out/v_%v/index.m3u8",
        *("-map", "[s8]", "-frames:v", "1", "-q:v", "3", "-update", "1", "/media/out/poster.jpg"),
        *("-map", "[s10]", "-fps_mode", "vfr", "-frames:v", "4", "-q:v", "5", "/media/out/thumb_%02d.jpg"),
        *("-nostdin", "-nostats", "-loglevel", "warning", "-progress", "pipe:1", "-y"),
    ]


def test_build_argvs_give_every_input_the_file_protocol_whitelist():
    silent_60fps = dataclasses.replace(JIBRI_720P, has_audio=False, fps=60.0)
    ladder = media.build_ladder_argv(media.plan_ladder(silent_60fps), "/media/in/a.mp4", "/media/out")
    mp4 = media.build_mp4_argv("/media/out", RUNG_360P)

    assert (_input_options(ladder), _input_options(mp4)) == (
        [
            ["-format_whitelist", "mov,matroska,avi,mpegts", "-protocol_whitelist", "file"],
            ["-f", "lavfi", "-protocol_whitelist", "file", "-t", "7.0"],
        ],
        [["-protocol_whitelist", "file"], ["-protocol_whitelist", "file"]],
    )


# transcode


def test_transcode_720p_takes_remux_path_and_lists_every_file(remux_output):
    result, _ = remux_output

    assert (result.remux, result.duration_s, result.master, result.mp4, result.poster) == (
        True,
        7.0,
        "master.m3u8",
        "fallback_360p.mp4",
        "poster.jpg",
    )
    assert result.files == {
        "fallback_360p.mp4": "video/mp4",
        "master.m3u8": "application/vnd.apple.mpegurl",
        "poster.jpg": "image/jpeg",
        **{f"thumb_0{i}.jpg": "image/jpeg" for i in range(1, 5)},
        **_rendition_files("v_360p", "init_1.mp4", 2),
        **_rendition_files("v_720p", "init_0.mp4", 2),
        **_rendition_files("v_audio", "init_2.mp4", 2),
    }


def test_transcode_master_lists_360p_first_with_codecs_and_measured_rates(remux_output):
    result, _ = remux_output

    variants = _variants(result.out_dir / "master.m3u8")

    assert [(v.get("RESOLUTION"), v["CODECS"], v["AUDIO"], uri) for v, uri in variants] == [
        ("640x360", '"avc1.4d401e,mp4a.40.2"', '"aud"', "v_360p/index.m3u8"),
        ("1280x720", '"avc1.4d401f,mp4a.40.2"', '"aud"', "v_720p/index.m3u8"),
        (None, '"mp4a.40.2"', '"aud"', "v_audio/index.m3u8"),
    ]
    rates = [(int(v["BANDWIDTH"]), int(v["AVERAGE-BANDWIDTH"])) for v, _ in variants]
    assert [peak >= mean > 0 for peak, mean in rates] == [True, True, True]


def test_transcode_remux_segments_exist_and_share_boundaries(remux_output):
    result, _ = remux_output

    playlists = {name: _segments(result.out_dir / name / "index.m3u8") for name in ("v_720p", "v_360p", "v_audio")}

    assert playlists["v_720p"] == playlists["v_360p"] == [("seg_00000.m4s", 6.0), ("seg_00001.m4s", 1.0)]
    listed = [result.out_dir / name / uri for name, segments in playlists.items() for uri, _ in segments]
    assert [path.is_file() for path in listed] == [True] * 6


def test_transcode_fallback_mp4_is_faststart(remux_output):
    result, _ = remux_output

    assert _top_level_boxes(result.out_dir / result.mp4) == ["ftyp", "moov", "free", "mdat"]


def test_transcode_poster_is_a_jpeg_of_the_top_rung_size(remux_output):
    result, _ = remux_output

    assert _video_facts(result.out_dir / result.poster) == ("mjpeg", 1280, 720)


def test_transcode_writes_four_distinct_thumbnails(quiet_output):
    result = quiet_output

    facts = [_video_facts(result.out_dir / name) for name in result.thumbnails]
    stills = {(result.out_dir / name).read_bytes() for name in result.thumbnails}

    assert (result.thumbnails, facts) == (tuple(THUMBS), [("mjpeg", 320, 180)] * 4)
    assert len(stills) == 4  # testsrc2's picture changes every frame: four different moments


def test_transcode_normalises_quiet_speech(quiet_clip, quiet_output):
    before = _mean_volume_db(quiet_clip)
    after = _mean_volume_db(quiet_output.out_dir / quiet_output.mp4)
    assert after - before >= 8.0, (before, after)


def test_transcode_progress_rises_to_one(remux_output):
    _, progress = remux_output

    assert (progress == sorted(set(progress)), progress[-1], len(progress) >= 2) == (True, 1.0, True)


def test_transcode_full_ladder_encodes_aligned_720p_and_360p(clip_720p, tmp_path):
    result = media.transcode(clip_720p, tmp_path, max_gop_s=1.0)

    codecs = [(v["CODECS"], uri) for v, uri in _variants(tmp_path / "master.m3u8")]
    assert (result.remux, codecs) == (
        False,
        [
            ('"avc1.4d401e,mp4a.40.2"', "v_360p/index.m3u8"),
            ('"avc1.4d401f,mp4a.40.2"', "v_720p/index.m3u8"),
            ('"mp4a.40.2"', "v_audio/index.m3u8"),
        ],
    )
    assert (
        _segments(tmp_path / "v_720p/index.m3u8")
        == _segments(tmp_path / "v_360p/index.m3u8")
        == [
            ("seg_00000.m4s", 6.0),
            ("seg_00001.m4s", 1.0),
        ]
    )


def test_transcode_360p_source_has_no_720p_rendition(clip_360p, tmp_path):
    result = media.transcode(clip_360p, tmp_path)

    variants = _variants(tmp_path / "master.m3u8")
    assert (result.remux, [uri for _, uri in variants]) == (
        False,
        ["v_360p/index.m3u8", "v_audio/index.m3u8"],
    )
    assert _video_facts(tmp_path / "poster.jpg") == ("mjpeg", 640, 360)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["fallback_360p.mp4", "master.m3u8", "poster.jpg", "v_360p", "v_audio", *THUMBS]
    )


def test_transcode_small_silent_clip_gets_a_silent_audio_track(clip_silent_240p, tmp_path):
    result = media.transcode(clip_silent_240p, tmp_path, small=True)

    assert (result.mp4, _codecs(tmp_path / result.mp4)) == ("fallback_240p.mp4", ["h264", "aac"])


# run_ffmpeg


def test_run_ffmpeg_reports_progress_monotonically_up_to_one(tmp_path):
    argv = _lavfi_argv(tmp_path / "out.mkv", seconds=2, realtime=True)
    progress = []

    media.run_ffmpeg(argv, duration_s=2, timeout_s=30, on_progress=progress.append, stderr_path=tmp_path / "e")

    assert (progress == sorted(set(progress)), progress[-1], len(progress) >= 3) == (True, 1.0, True)


def test_run_ffmpeg_kills_ffmpeg_at_the_timeout(tmp_path):
    output = tmp_path / "never-finished.mkv"
    argv = _lavfi_argv(output, seconds=60, realtime=True)
    started = time.monotonic()

    with pytest.raises(MediaError) as error:
        media.run_ffmpeg(argv, duration_s=60, timeout_s=0.5, stderr_path=tmp_path / "stderr.log")

    assert error.value.message == "ffmpeg took longer than 0.5 s and was stopped"
    assert (time.monotonic() - started < 10, _running_with(str(output))) == (True, [])


def test_run_ffmpeg_failure_raises_with_stderr_tail(tmp_path):
    missing = tmp_path / "missing.mp4"
    argv = ffmpeg.input(str(missing), protocol_whitelist="file").output(str(tmp_path / "x.mp4")).compile()

    with pytest.raises(MediaError) as error:
        media.run_ffmpeg(argv, duration_s=1, timeout_s=30, stderr_path=tmp_path / "stderr.log")

    assert error.value.message == f"ffmpeg exited with status 1: {missing}: No such file or directory"
    assert error.value.detail == (tmp_path / "stderr.log").read_text()


# write_master_playlist


def test_write_master_playlist_takes_rates_from_segment_sizes_and_codecs_from_avcc(tmp_path):
    _fake_rendition(tmp_path / "v_720p", [(30000, 6.0), (3000, 3.0)], b"\x01\x4d\x40\x1f")
    _fake_rendition(tmp_path / "v_360p", [(6000, 6.0), (1500, 3.0)], b"\x01\x4d\x40\x1e")
    _fake_rendition(tmp_path / "v_audio", [(750, 6.0)], None)

    path = media.write_master_playlist(tmp_path, (RUNG_720P, RUNG_360P))

    assert path.read_text() == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:7\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,URI="v_audio/index.m3u8"\n'
        "#EXT-X-STREAM-INF:BANDWIDTH=9000,AVERAGE-BANDWIDTH=7667,RESOLUTION=640x360,"
        'CODECS="avc1.4d401e,mp4a.40.2",AUDIO="aud"\n'
        "v_360p/index.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=41000,AVERAGE-BANDWIDTH=30334,RESOLUTION=1280x720,"
        'CODECS="avc1.4d401f,mp4a.40.2",AUDIO="aud"\n'
        "v_720p/index.m3u8\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=1000,AVERAGE-BANDWIDTH=1000,CODECS="mp4a.40.2",AUDIO="aud"\n'
        "v_audio/index.m3u8\n"
    )


# helpers


THUMBS = [f"thumb_0{i}.jpg" for i in range(1, 5)]


@pytest.fixture(scope="module")
def quiet_clip(tmp_path_factory) -> Path:
    """8 s of a moving 720p test picture whose "speech" (a tone with a syllable-like tremolo) is at -45 dB."""
    path = tmp_path_factory.mktemp("quiet") / "quiet.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=8",
         "-f", "lavfi", "-i", "sine=f=220:sample_rate=44100:d=8,volume=0.1,tremolo=f=4:d=0.9",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
         str(path)],
        check=True,
    )
    return path


@pytest.fixture(scope="module")
def quiet_output(quiet_clip, tmp_path_factory) -> media.TranscodeResult:
    return media.transcode(quiet_clip, tmp_path_factory.mktemp("quiet-out"))


def _mean_volume_db(path: Path) -> float:
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-i", str(path), "-map", "0:a", "-af", "volumedetect", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )
    return float(re.search(r"mean_volume: (-?[0-9.]+) dB", done.stderr).group(1))


def _input_options(argv: list[str]) -> list[list[str]]:
    groups, start = [], 1
    for at, arg in enumerate(argv):
        if arg == "-i":
            groups.append(argv[start:at])
            start = at + 2
    return groups


def _rendition_files(folder: str, init: str, segments: int) -> dict[str, str]:
    files = {f"{folder}/index.m3u8": "application/vnd.apple.mpegurl", f"{folder}/{init}": "video/mp4"}
    files.update({f"{folder}/seg_{n:05d}.m4s": "video/iso.segment" for n in range(segments)})
    return files


def _variants(master: Path) -> list[tuple[dict[str, str], str]]:
    lines = master.read_text().splitlines()
    return [
        (dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line.partition(":")[2])), lines[at + 1])
        for at, line in enumerate(lines)
        if line.startswith("#EXT-X-STREAM-INF:")
    ]


def _segments(playlist: Path) -> list[tuple[str, float]]:
    lines = playlist.read_text().splitlines()
    return [
        (lines[at + 1], float(line[8:].rstrip(","))) for at, line in enumerate(lines) if line.startswith("#EXTINF:")
    ]


def _top_level_boxes(path: Path) -> list[str]:
    data, at, names = path.read_bytes(), 0, []
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        names.append(kind.decode())
        at += size
    return names


def _probe_streams(path: Path) -> list[dict]:
    argv = [
        "ffprobe",
        "-v",
        "error",
        "-show_entries",
        "stream=codec_name,width,height",
        "-of",
        "json",
        str(path),
    ]
    return json.loads(subprocess.run(argv, capture_output=True, check=True, timeout=30).stdout)["streams"]


def _video_facts(path: Path) -> tuple[str, int, int]:
    stream = _probe_streams(path)[0]
    return stream["codec_name"], stream["width"], stream["height"]


def _codecs(path: Path) -> list[str]:
    return [stream["codec_name"] for stream in _probe_streams(path)]


def _lavfi_argv(output: Path, *, seconds: int, realtime: bool) -> list[str]:
    source = ffmpeg.input("color=s=160x120:r=10", f="lavfi", t=seconds, protocol_whitelist="file", re=None)
    stream = source.output(str(output), f="matroska", vcodec="libx264", preset="ultrafast")
    return stream.global_args(*media.GLOBAL_ARGS).compile(overwrite_output=True)


def _running_with(marker: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def _fake_rendition(folder: Path, segments: list[tuple[int, float]], avcc: bytes | None) -> None:
    folder.mkdir()
    init = b"\x00\x00\x00\x18ftypiso6" + (b"\x00\x00\x00\x0davcC" + avcc + b"\xff" if avcc else b"")
    (folder / "init.mp4").write_bytes(init)
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", '#EXT-X-MAP:URI="init.mp4"']
    for n, (size, seconds) in enumerate(segments):
        (folder / f"seg_{n:05d}.m4s").write_bytes(b"\0" * size)
        lines += [f"#EXTINF:{seconds:.6f},", f"seg_{n:05d}.m4s"]
    (folder / "index.m3u8").write_text("\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n")
