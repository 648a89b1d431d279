"""ffmpeg reads local files only (ASVS 12.6.1, 5.2.6): a hostile upload cannot make it fetch a URL; media URLs
handed to players are short-lived (ASVS 8.3.1 for recordings).

The argv side is covered in tests/core/test_media.py::test_build_argvs_give_every_input_the_file_protocol_whitelist;
the TTL end to end in tests/recordings/test_playback.py (presigned and signed URLs expire and are refused).
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from core import media
from core.config import load_config
from core.storage import settings_from_config
from recordings import playback
from tests.fixtures.services import need_program

pytestmark = pytest.mark.adapter


@pytest.fixture
def bait_server():
    """A TCP listener on loopback that counts every connection made to it (it must stay at zero)."""
    connections = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _addr = server.accept()
            except TimeoutError:
                continue
            connections.append(conn)
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], connections
    stop.set()
    thread.join(timeout=5)
    server.close()


def test_probing_hostile_uploads_connects_nowhere(tmp_path, bait_server, monkeypatch):
    need_program("ffprobe")
    port, connections = bait_server
    monkeypatch.chdir(tmp_path)
    playlist = tmp_path / "upload"  # uploads are saved under a fixed name; the attacker controls the content
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:{port}/a.ts\n"
                        "#EXT-X-ENDLIST\n")
    concat = tmp_path / "concat"
    concat.write_text(f"ffconcat version 1.0\nfile 'http://127.0.0.1:{port}/b.mp4'\n")
    # A name that reads as a protocol when handed over relative: ffmpeg would open a TCP connection to it.
    as_protocol = Path(f"tcp:127.0.0.1:{port}")
    (tmp_path / as_protocol).write_bytes(b"\x00" * 512)

    kinds = []
    for path in (playlist, concat, as_protocol):
        with pytest.raises(media.MediaError):
            media.probe(path)
        kinds.append(media.media_kind(path))

    assert kinds == [None, None, None]
    assert connections == []


def test_playback_urls_live_for_the_configured_ttl(app, monkeypatch):
    monkeypatch.setitem(app.config, "PLAYBACK_URL_TTL_SECONDS", 120)
    storage = settings_from_config({"S3_BUCKET": "media", "S3_ENDPOINT_URL": "https://s3.example.nl",
                                    "S3_REGION": "eu-west-1", "S3_ACCESS_KEY_ID": "AKIAEXAMPLE",
                                    "S3_SECRET_ACCESS_KEY": "secret", "S3_ADDRESSING_STYLE": "path"})

    with app.test_request_context():
        url = playback._signer(storage)("recordings/x/hls/v_360p/seg_00001.m4s")

    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["120"]


def test_default_playback_url_ttl_is_five_minutes(tmp_path):
    assert load_config(env={"INSTANCE_PATH": str(tmp_path)})["PLAYBACK_URL_TTL_SECONDS"] == 300
