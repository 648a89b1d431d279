"""Static files: fingerprinted URLs with a year-long immutable cache, gzip with Vary, unfingerprinted URLs still
answered (revalidated), pre-compressed files used when up to date."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from flask import url_for

from core import static

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _versioned(app, filename: str) -> str:
    with app.test_request_context():
        return url_for("static", filename=filename)


def test_url_for_static_carries_the_content_hash(app):
    url = _versioned(app, "js/player.js")
    with app.app_context():
        expected = static.fingerprint("js/player.js")

    assert re.fullmatch(r"/static/js/player\.js\?v=[0-9a-f]{12}", url)
    assert url.endswith(f"?v={expected}")


def test_a_fingerprinted_file_is_gzipped_and_cached_for_a_year(app, client):
    url = _versioned(app, "js/player.js")

    response = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    assert gzip.decompress(response.get_data()) == (ROOT / "static/js/player.js").read_bytes()


def test_an_unfingerprinted_or_old_url_still_gets_the_file_revalidated(client):
    plain = client.get("/static/js/player.js")
    old = client.get("/static/js/player.js?v=000000000000", headers={"Accept-Encoding": "gzip"})
    again = client.get("/static/js/player.js", headers={"If-None-Match": plain.headers["ETag"]})

    assert (plain.status_code, plain.headers["Cache-Control"]) == (200, "no-cache")
    assert "Content-Encoding" not in plain.headers
    assert plain.get_data() == (ROOT / "static/js/player.js").read_bytes()
    assert (old.status_code, old.headers["Cache-Control"], old.headers["Content-Encoding"]) == (200, "no-cache", "gzip")
    assert again.status_code == 304


def test_a_precompressed_file_is_served_when_up_to_date(app, client, tmp_path, monkeypatch):
    folder = tmp_path / "static"
    (folder / "js").mkdir(parents=True)
    (folder / "js" / "big.js").write_text("var a = 1;\n" * 200)
    monkeypatch.setattr(app, "static_folder", str(folder))

    written = static.precompress(folder)
    (folder / "js" / "big.js.gz").write_bytes(gzip.compress(b"made at install"))  # marks the file it serves
    response = client.get("/static/js/big.js", headers={"Accept-Encoding": "gzip"})

    assert written == [folder / "js" / "big.js.gz"]
    assert gzip.decompress(response.get_data()) == b"made at install"


def test_missing_files_and_paths_outside_the_folder_are_404(client):
    missing = client.get("/static/js/nothing-here.js")
    escape = client.get("/static/../core/app.py")

    assert missing.status_code == 404
    assert escape.status_code == 404
