"""core/media/remux.py: which sources get a first playable version by remux (issue 18)."""

import dataclasses
import subprocess

import pytest

from core import media
from core.media.probe import ProbeResult
from core.media.remux import qualifies

JIBRI = ProbeResult(duration_s=5400.0, width=1280, height=720, video_codec="h264",
                    video_profile="Constrained Baseline", pix_fmt="yuv420p", fps=30.0, has_audio=True,
                    audio_codec="aac", audio_profile="LC", max_keyframe_interval_s=8.333)


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, True),
    ({"video_profile": "High"}, True),
    ({"has_audio": False, "audio_codec": "", "audio_profile": ""}, True),  # a silent screen recording
    ({"max_keyframe_interval_s": 12.0}, True),
    ({"max_keyframe_interval_s": 12.5}, False),  # a segment could not be shorter than this GOP
    ({"video_codec": "vp8", "video_profile": ""}, False),
    ({"video_codec": "vp9", "video_profile": "Profile 0"}, False),
    ({"video_codec": "hevc", "video_profile": "Main"}, False),  # not every browser plays it
    ({"video_profile": "High 10", "pix_fmt": "yuv420p10le"}, False),
    ({"pix_fmt": "yuv422p"}, False),
    ({"audio_codec": "opus", "audio_profile": ""}, False),
    ({"audio_profile": "HE-AAC"}, False),
    ({"rotation": 90}, False),  # a phone's portrait clip
])
def test_which_sources_qualify_for_a_first_version(changes, expected):
    assert qualifies(dataclasses.replace(JIBRI, **changes)) is expected


def test_a_first_version_can_be_switched_off_or_bounded():
    assert (qualifies(JIBRI, max_gop_s=0), qualifies(JIBRI, max_gop_s=8)) == (False, False)


def test_probe_reports_the_rotation_of_a_phone_clip_which_then_does_not_qualify(clip_jibri, tmp_path):
    rotated = tmp_path / "portrait.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(clip_jibri), "-t", "1", "-c", "copy",
                    "-metadata:s:v:0", "rotate=90", str(rotated)], check=True, timeout=60)

    infos = [media.probe(clip_jibri), media.probe(rotated)]

    assert [info.rotation for info in infos] == [0, 90]
    assert [qualifies(info) for info in infos] == [True, False]
