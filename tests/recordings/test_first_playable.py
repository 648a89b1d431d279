"""Issue 18: a first playable version by remux right after the probe, replaced by the full ladder (real ffmpeg).

A Jibri-like clip (H.264 Constrained Baseline, 8.33-s GOPs, AAC-LC) is stream-copied into fMP4 HLS cut at its
keyframes and plays on the trainer's status page before the ladder runs; the ladder's publish replaces it and its
objects go once no player can hold a URL for them; VP8 and too-long GOPs skip it; a worker killed in the ladder
after `playable` is re-queued by the reaper and finishes once.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core import queue
from core.db import utcnow
from core.storage import get_storage
from courses.links import issue_personal_link
from recordings import api, pipeline, playback, publish_tasks, services, tasks
from recordings.files import output_dir
from recordings.models import Recording, RecordingSource, RecordingState
from tests.fixtures.media import AAC, JIBRI_BASELINE_X264, SLIDE, TONE, make_clip

pytestmark = pytest.mark.adapter

S = RecordingState
ROOT = Path(__file__).resolve().parents[2]
probe_module = importlib.import_module("core.media.probe")
remux_module = importlib.import_module("core.media.remux")  # `core.media.probe` the attribute is the function


@pytest.fixture
def halted(monkeypatch):
    """The transcode and publish steps are recorded as (task name, recording id) instead of run."""
    calls = []
    for name in ("recordings.transcode", "recordings.publish"):
        monkeypatch.setitem(queue.TASKS, name, lambda recording_id, name=name: calls.append((name, recording_id)))
    return calls


@pytest.fixture
def workshop_session(create_workshop_session):
    return create_workshop_session(title="Grenzen stellen")


def _fresh(db, recording_id: int) -> Recording:
    db.session.expire_all()
    return db.session.get(Recording, recording_id)


def _receive(db, workshop_session, source: Path, tmp_path: Path) -> Recording:
    copy = tmp_path / f"incoming-{source.name}"
    shutil.copyfile(source, copy)
    recording = services.receive_file(workshop_session, copy, source.name, source=RecordingSource.jibri)
    db.session.commit()  # immediate mode: the probe, and the remux with it, run here
    return _fresh(db, recording.id)


def _download(recording: Recording, target: Path) -> Path:
    storage = get_storage()
    for name in recording.first_renditions:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        with storage.open(recording.first_prefix + name) as src:
            (target / name).write_bytes(src.read())
    return target


def _streams(path: Path) -> list[dict]:
    entries = "stream=codec_type,codec_name,profile,level,width,height,pix_fmt,sample_rate,channels,extradata_hash"
    done = subprocess.run(["ffprobe", "-v", "error", "-show_data_hash", "MD5", "-show_entries", entries, "-of", "json",
                           str(path)], capture_output=True, text=True, check=True)
    streams = json.loads(done.stdout)["streams"]
    for stream in streams:
        stream.pop("profile", None) if stream["codec_type"] == "audio" else None  # the HLS demuxer leaves it out
    return sorted(streams, key=lambda s: s["codec_type"])


def _packets(path: Path, stream: str) -> list[tuple[str, str]]:
    """(size, MD5) of every packet of `stream` ("v:0", "a:0"), stream-copied: equal lists mean equal bytes."""
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", f"0:{stream}", "-c", "copy", "-f",
                           "framemd5", "-"], capture_output=True, text=True, check=True)
    rows = [line.split(",") for line in done.stdout.splitlines() if line and not line.startswith("#")]
    return [(row[4].strip(), row[5].strip()) for row in rows]


def _status(client, url: str) -> int:
    with client.get(url) as response:  # a media file is streamed: close it
        return response.status_code


def _byte_ranges(playlist: str) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """(offset, length) of the EXT-X-MAP init section and of each EXT-X-BYTERANGE segment, all explicit."""
    init = re.search(r'#EXT-X-MAP:URI="media\.mp4",BYTERANGE="(\d+)@(\d+)"', playlist)
    ranges = re.findall(r"#EXT-X-BYTERANGE:(\d+)@(\d+)\nmedia\.mp4", playlist)
    return (int(init[2]), int(init[1])), [(int(offset), int(length)) for length, offset in ranges]


def _first_packet_is_keyframe(data: bytes, init: tuple[int, int], segment: tuple[int, int], scratch: Path) -> bool:
    """ffprobe on the init section followed by the one byte-range segment cut out of the file: its first video
    packet carries the keyframe flag."""
    scratch.write_bytes(data[init[0]:sum(init)] + data[segment[0]:sum(segment)])
    done = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=flags",
                           "-read_intervals", "%+#1", "-of", "csv=p=0", str(scratch)],
                          capture_output=True, text=True, check=True)
    return done.stdout.splitlines()[0].startswith("K")


def test_a_jibri_clip_plays_by_remux_before_the_ladder_runs(
        db, client, auth, trainer, workshop_session, clip_jibri, tmp_path, halted):
    recording = _receive(db, workshop_session, clip_jibri, tmp_path)

    assert recording.state is S.playable
    assert halted == [("recordings.transcode", recording.id)]  # the ladder is only queued
    assert recording.playable_at is not None and recording.renditions is None
    assert api.recording_json(recording)["playable_at"] == recording.playable_at.isoformat()
    prefix = f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/first/"
    assert recording.first_prefix == prefix
    # Three objects whatever the length: the segments are byte ranges of one fMP4 file.
    assert set(recording.first_renditions) == {"master.m3u8", "v_source/index.m3u8", "v_source/media.mp4"}
    assert sorted(get_storage().list(prefix)) == [prefix + name for name in sorted(recording.first_renditions)]
    # Stream-copied: the same codec parameters and the same bytes in every packet as the source.
    first = _download(recording, tmp_path / "first")
    media = first / "v_source" / "index.m3u8"
    assert _streams(media) == _streams(clip_jibri)
    assert _packets(media, "v:0") == _packets(clip_jibri, "v:0")
    assert _packets(media, "a:0") == _packets(clip_jibri, "a:0")
    # Cut only at the source's keyframes: 22 s with a keyframe every 8.33 s is three segments, each opening on one.
    playlist = media.read_text()
    durations = [float(d) for d in re.findall(r"#EXTINF:([0-9.]+),", playlist)]
    assert [round(d, 2) for d in durations] == [8.33, 8.33, 5.33]
    data = (first / "v_source/media.mp4").read_bytes()
    init, ranges = _byte_ranges(playlist)
    assert len(ranges) == 3 and init[0] == 0
    # The ranges tile the file: the init section, then each segment right after the one before.
    assert [offset for offset, _length in ranges] == [sum(init), *(sum(r) for r in ranges[:-1])]
    assert sum(ranges[-1]) == len(data)
    assert all(_first_packet_is_keyframe(data, init, segment, tmp_path / "probe.mp4") for segment in ranges)
    # A valid VOD playlist, and a master naming only it, with the source's codecs.
    target = int(re.search(r"#EXT-X-TARGETDURATION:(\d+)", playlist)[1])
    assert all(round(d) <= target for d in durations)
    assert "#EXT-X-VERSION:7" in playlist and playlist.rstrip().endswith("#EXT-X-ENDLIST")
    master = (first / "master.m3u8").read_text().splitlines()
    assert [line for line in master if not line.startswith("#")] == ["v_source/index.m3u8"]
    assert 'RESOLUTION=640x360,CODECS="avc1.42c01e,mp4a.40.2"' in master[-2]
    # The trainer's status page plays it now (without refreshing itself away), parents do not: the course reviews.
    auth.login(trainer.email)
    page = client.get(f"/recordings/{recording.id}")
    served = client.get(f"/watch/{recording.uuid}/v_source/index.m3u8").get_data(as_text=True)
    assert f'data-hls-src="/watch/{recording.uuid}/master.m3u8"' in page.get_data(as_text=True)
    assert 'id="first-version-note"' in page.get_data(as_text=True) and "Refresh" not in page.headers
    assert 'data-reload-idle="5"' in page.get_data(as_text=True)  # reloaded by recording-status.js, not while watched
    # One signed URL for the file, every byte range kept: the init section's and each segment's.
    signed = re.findall(r"^/media/\S+$", served, re.M)
    assert len(signed) == 3 and len(set(signed)) == 1 and signed[0].startswith(f"/media/{prefix}v_source/media.mp4?")
    assert f'#EXT-X-MAP:URI="{signed[0]}",BYTERANGE="{init[1]}@0"' in served
    assert re.findall(r"#EXT-X-BYTERANGE:(\d+)@(\d+)", served) == [(str(n), str(at)) for at, n in ranges]
    # The local media route answers the player's Range request for one segment with just those bytes.
    at, length = ranges[1]
    with client.get(signed[0], headers={"Range": f"bytes={at}-{at + length - 1}"}) as part:
        assert (part.status_code, part.headers["Content-Range"]) == (206, f"bytes {at}-{at + length - 1}/{len(data)}")
        assert part.get_data() == data[at:at + length]
    assert (playback.playable_by_trainers(recording), playback.playable(recording)) == (True, False)
    recording.course.publish_automatically = True
    assert playback.playable(recording)  # parents watch it at once where the course publishes automatically


def test_the_ladder_replaces_the_first_version_which_goes_once_its_urls_expired(
        app, db, client, auth, trainer, workshop_session, clip_jibri, tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        m.setitem(queue.TASKS, "recordings.transcode", lambda recording_id: None)
        recording = _receive(db, workshop_session, clip_jibri, tmp_path)
    auth.login(trainer.email)
    old_segment = re.search(r"^/media/\S+media\.mp4\S*$", client.get(
        f"/watch/{recording.uuid}/v_source/index.m3u8").get_data(as_text=True), re.M)[0]  # a player on the first version
    with monkeypatch.context() as m:
        m.setitem(queue.TASKS, "recordings.publish", lambda recording_id: None)
        tasks.transcode_recording.call_local(recording.id)  # the full ladder
    assert _fresh(db, recording.id).state is S.transcoded
    assert client.get(f"/watch/{recording.uuid}/master.m3u8").get_data(as_text=True).count("#EXT-X-STREAM-INF") == 1
    # From here on a short URL lifetime, so the test can wait it out.
    monkeypatch.setitem(app.config, "PLAYBACK_URL_TTL_SECONDS", 1)
    monkeypatch.setattr(pipeline, "FIRST_VERSION_GRACE_S", 0)
    queue.huey.flush()

    publish_tasks.publish_recording.call_local(recording.id)  # the ladder's publish replaces the first version

    recording = _fresh(db, recording.id)
    prefix, first = recording.first_prefix, sorted(recording.first_renditions)
    assert recording.state is S.ready_for_review
    assert "v_audio/index.m3u8" in client.get(f"/watch/{recording.uuid}/master.m3u8").get_data(as_text=True)
    assert _status(client, old_segment) == 200  # a player that started on it keeps playing
    assert sorted(get_storage().list(prefix)) == [prefix + name for name in first]
    (scheduled,) = queue.huey.scheduled()  # in immediate mode a delayed task waits in the schedule
    assert (scheduled.name, scheduled.args) == (pipeline.REMOVE_FIRST_VERSION, (recording.id,))
    assert queue.huey.read_schedule(utcnow().replace(tzinfo=None)) == []  # not before the URL lifetime

    time.sleep(1.1)
    due = queue.huey.read_schedule(utcnow().replace(tzinfo=None))
    for task in due:
        queue.huey.execute(task)  # what the consumer does at the scheduled time
    tasks.remove_first_version.call_local(recording.id)  # twice is harmless

    recording = _fresh(db, recording.id)
    assert [task.id for task in due] == [scheduled.id]
    assert (recording.first_prefix, recording.first_renditions, get_storage().list(prefix)) == (None, None, [])
    assert _status(client, old_segment) == 404
    assert recording.playable_at is not None  # the status API still says when it first played
    assert client.get(f"/watch/{recording.uuid}/master.m3u8").status_code == 200  # the ladder plays on


def test_the_probe_steps_heartbeat_beats_while_the_first_version_is_made(
        db, workshop_session, clip_jibri, tmp_path, halted, monkeypatch):
    """The heartbeat thread writes on its own connection: the probe step must hold no lock on the row meanwhile
    (on PostgreSQL the thread would wait for the commit, and the step for the thread)."""
    monkeypatch.setattr(pipeline, "HEARTBEAT_EVERY_S", 0.05)
    real_remux, beats = remux_module.remux, []

    def slow_remux(*args, **kwargs):
        result = real_remux(*args, **kwargs)
        with db.engine.connect() as conn:  # what other connections see: a beat, then the thread's next one
            seen = [conn.execute(select(Recording.heartbeat_at)).scalar_one()]
            deadline = time.monotonic() + 8  # the beats come every 0.05 s; a locked row would hold them back
            while seen[-1] == seen[0] and time.monotonic() < deadline:
                time.sleep(0.05)
                conn.rollback()  # a fresh snapshot each time
                seen.append(conn.execute(select(Recording.heartbeat_at)).scalar_one())
            beats.append((seen[0], seen[-1]))
        return result

    monkeypatch.setattr(remux_module, "remux", slow_remux)

    recording = _receive(db, workshop_session, clip_jibri, tmp_path)

    assert recording.state is S.playable
    ((claimed, later),) = beats
    assert later > claimed


def test_hls_js_plays_the_first_versions_byte_ranges_in_chromium(
        db, live_server, page, hls_js, auto_publish, create_parent, workshop_session, clip_jibri, tmp_path, halted):
    """A parent of a course that publishes automatically plays the first version: hls.js asks the local media
    route for byte ranges of the one file (206), and a seek into the second segment plays on."""
    parent = create_parent(course=auto_publish)
    issue_personal_link(parent, token="first-version-token-" + "c" * 24)
    recording = _receive(db, workshop_session, clip_jibri, tmp_path)
    assert recording.state is S.playable
    media = []
    page.on("response", lambda r: media.append((r.status, r.request.headers.get("range")))
            if "/media/" in r.url else None)

    page.goto(f"{live_server}/p/first-version-token-{'c' * 24}/watch/{recording.uuid}")
    page.evaluate("document.querySelector('video').muted = true")
    page.get_by_role("button", name="Afspelen").click()
    deadline = time.monotonic() + 20
    while page.evaluate("document.querySelector('video').readyState") < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    page.evaluate("document.querySelector('video').currentTime = 9")
    # Polled from Python: wait_for_function evaluates a string, which the page's CSP (no unsafe-eval) refuses.
    while page.evaluate("document.querySelector('video').currentTime") <= 9.5 and time.monotonic() < deadline:
        page.wait_for_timeout(200)

    assert page.evaluate("document.querySelector('video').currentTime") > 9.5
    assert len(media) >= 3 and all(status == 206 and (ranged or "").startswith("bytes=") for status, ranged in media)


@pytest.mark.parametrize(("state", "age_s", "removed"), [
    (S.ready_for_review, 1, True),  # replaced long enough ago: its scheduled removal was lost
    (S.published, 1, True),
    (S.ready_for_review, -30, False),  # its URLs may still be out there
    (S.playable, 1, False),  # still what plays
    (S.transcoded, 1, False),
])
def test_the_reaper_removes_a_replaced_first_version_whose_removal_was_lost(db, course, state, age_s, removed):
    recording = Recording(course=course, source=RecordingSource.jibri, state=state, playable_at=utcnow())
    db.session.add(recording)
    db.session.flush()
    prefix = f"orgs/{course.organisation_id}/recordings/{recording.uuid}/first/"
    recording.first_prefix, recording.first_renditions = prefix, {"master.m3u8": "application/vnd.apple.mpegurl"}
    get_storage().put_bytes(prefix + "master.m3u8", b"#EXTM3U\n", content_type="application/vnd.apple.mpegurl")
    recording.updated_at = utcnow() - timedelta(seconds=pipeline.first_version_lifetime() + age_s)
    db.session.commit()

    tasks.reap_first_versions.call_local()

    recording = _fresh(db, recording.id)
    assert (recording.first_prefix is None, get_storage().list(prefix) == []) == (removed, removed)


@pytest.mark.parametrize("case", ["vp8", "long_gop", "switched_off"])
def test_a_source_that_does_not_qualify_skips_the_first_version(
        app, db, workshop_session, request, tmp_path, halted, monkeypatch, case):
    source = request.getfixturevalue("clip_vp8" if case == "vp8" else "clip_jibri")
    monkeypatch.setitem(app.config, "MEDIA_FIRST_PLAYABLE_MAX_GOP_S", {"long_gop": 5, "switched_off": 0}.get(case, 12))

    recording = _receive(db, workshop_session, source, tmp_path)

    assert (recording.state, recording.playable_at, recording.first_prefix) == (S.queued, None, None)
    assert get_storage().list(f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/first/") == []
    assert halted == [("recordings.transcode", recording.id)]
    assert not playback.playable_by_trainers(recording)


def test_a_long_gop_past_the_probed_minutes_shows_in_the_remux_and_skips_the_first_version(
        db, workshop_session, tmp_path, halted, monkeypatch):
    """The probe reads only the first and last seconds of a long MP4 (here shortened to 4 and 2): a 16-s keyframe
    gap in the middle passes it, the first version's 16-s segment does not; the ladder then probes in full."""
    clip = make_clip(tmp_path / "odd_gop.mp4", SLIDE.format(size="160x90", fps=30), TONE, seconds=30, options=[
        *JIBRI_BASELINE_X264[:-6], "-g", "900", "-keyint_min", "900", "-sc_threshold", "0",
        "-force_key_frames", "0,2,4,6,22,24,26,28", *AAC])
    monkeypatch.setattr(probe_module, "SAMPLE_HEAD_S", 4.0)
    monkeypatch.setattr(probe_module, "SAMPLE_TAIL_S", 2.0)

    recording = _receive(db, workshop_session, clip, tmp_path)

    assert recording.probe["keyframes_sampled"] and recording.probe["max_keyframe_interval_s"] == 2.0
    assert (recording.state, recording.playable_at, recording.first_prefix) == (S.queued, None, None)
    assert get_storage().list(f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/first/") == []
    monkeypatch.setitem(queue.TASKS, "recordings.transcode", tasks.transcode_recording)
    halted.clear()

    tasks.transcode_recording.call_local(recording.id)

    recording = _fresh(db, recording.id)
    assert (recording.state, halted) == (S.transcoded, [("recordings.publish", recording.id)])
    assert not recording.probe["keyframes_sampled"] and recording.probe["max_keyframe_interval_s"] == 16.0


CHILD = """
import json, os, sys
overrides = json.loads(sys.argv[1])
os.environ["INSTANCE_PATH"] = overrides["INSTANCE_PATH"]
from core.app import create_app
create_app(overrides)
from recordings import tasks
tasks.transcode_recording.call_local(int(sys.argv[2]))
"""


def test_a_worker_killed_in_the_ladder_after_playable_is_requeued_and_finishes_once(
        app, db, workshop_session, clip_jibri, tmp_path, halted, monkeypatch):
    """A real worker process (as tests/faults does, without its S3 and SMTP): killed with its ffmpeg mid-ladder."""
    recording = _receive(db, workshop_session, clip_jibri, tmp_path)
    keys = ("DATABASE_URL", "INSTANCE_PATH", "SECRET_KEY", "MEDIA_ROOT", "PUBLIC_BASE_URL", "MAIL_TRANSPORT",
            "SMS_TRANSPORT")
    overrides = {**{k: app.config[k] for k in keys}, "HUEY_IMMEDIATE": True, "TESTING": True}
    worker = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(overrides), str(recording.id)], cwd=ROOT,
                              start_new_session=True)
    out = output_dir(recording)
    deadline = time.monotonic() + 60
    while not list(out.glob("v_*/seg_*.m4s")) and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its ffmpeg die together, mid-ladder
    worker.wait()
    killed = _fresh(db, recording.id)
    assert (killed.state, killed.heartbeat_at is not None) == (S.playable, True)  # the ladder ran, in `playable`
    assert pipeline.is_running(killed) and not pipeline.claim(killed, pipeline.LADDER)  # no second run meanwhile
    assert playback.playable_by_trainers(killed)  # the first version plays on
    killed.heartbeat_at = utcnow() - timedelta(hours=1)  # the reaper runs long after the last heartbeat
    db.session.commit()
    halted.clear()
    monkeypatch.setitem(queue.TASKS, "recordings.transcode", tasks.transcode_recording)  # this worker runs it

    tasks.reap_stale_steps.call_local()  # re-queues the ladder, which (immediate mode) runs here
    tasks.reap_stale_steps.call_local()  # nothing left to do
    tasks.transcode_recording.call_local(recording.id)  # a duplicate message is a no-op

    recording = _fresh(db, recording.id)
    assert recording.state is S.transcoded
    assert halted == [("recordings.publish", recording.id)]  # finished once
    assert recording.attempts == 3  # the probe, the killed ladder, the re-run
    assert set(recording.renditions) == {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert playback.playable_by_trainers(recording)  # still the first version, until the ladder is published
