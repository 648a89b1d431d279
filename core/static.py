"""Static files for phones on slow connections: fingerprinted URLs, a year-long immutable cache, gzip.

`url_for("static", filename=...)` gets `?v=<content hash>` through one URL-defaults hook, so a changed file has a
new URL and every fingerprinted answer may be cached for a year. A request without `v` (an old page, a hand-typed
URL) or with an old `v` is still answered with the current file, revalidated on every use. Text files are sent
gzipped to browsers that accept it: from `<file>.gz` next to the file when the build made one and it is up to date
(`make static`), else compressed once per process and kept in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
from functools import lru_cache
from pathlib import Path

from flask import Flask, abort, current_app, request
from werkzeug.security import safe_join
from werkzeug.wrappers import Response

#: File types worth compressing (images, fonts and media are compressed already).
COMPRESSIBLE = {".js", ".css", ".svg", ".json", ".txt", ".map", ".html", ".ico", ".webmanifest"}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
#: Files smaller than this are sent as they are: gzip's header would eat the gain.
MIN_COMPRESS_BYTES = 512


def _path(filename: str) -> Path | None:
    joined = safe_join(current_app.static_folder, filename)
    return Path(joined) if joined and os.path.isfile(joined) else None


@lru_cache(maxsize=512)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def fingerprint(filename: str) -> str | None:
    """The content hash that versions a static file's URL, or None when there is no such file."""
    path = _path(filename)
    if path is None:
        return None
    stat = path.stat()
    return _digest(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=128)
def _gzipped(path: str, mtime_ns: int, size: int) -> bytes:
    ready = Path(path + ".gz")
    if ready.is_file() and ready.stat().st_mtime_ns >= mtime_ns:
        return ready.read_bytes()  # compressed at install (make static)
    return gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0)


def _wants_gzip() -> bool:
    return request.accept_encodings["gzip"] > 0


def serve_static(filename: str):
    """The static view: the current file, gzipped when accepted, cached for a year when the URL is fingerprinted."""
    path = _path(filename)
    if path is None:
        abort(404)
    stat = path.stat()
    digest = _digest(str(path), stat.st_mtime_ns, stat.st_size)
    mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    compressible = path.suffix in COMPRESSIBLE
    if compressible and stat.st_size >= MIN_COMPRESS_BYTES and _wants_gzip():
        body, etag = _gzipped(str(path), stat.st_mtime_ns, stat.st_size), f"{digest}-gz"
        response = Response(body, mimetype=mimetype)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(path.read_bytes(), mimetype=mimetype)
        etag = digest
    if compressible:
        response.vary.add("Accept-Encoding")
    response.set_etag(etag)
    response.headers["Cache-Control"] = IMMUTABLE if request.args.get("v") == digest else REVALIDATE
    return response.make_conditional(request)


def _add_fingerprint(endpoint: str, values: dict) -> None:
    if endpoint == "static" and "filename" in values and "v" not in values:
        version = fingerprint(values["filename"])
        if version:
            values["v"] = version


def init_static(app: Flask) -> None:
    """Serve the app's static folder through serve_static and fingerprint every url_for('static', ...)."""
    app.view_functions["static"] = serve_static
    app.url_defaults(_add_fingerprint)


def precompress(folder: Path) -> list[Path]:
    """Write `<file>.gz` next to every compressible file under `folder` (run at install); returns what it wrote."""
    written = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in COMPRESSIBLE and path.stat().st_size >= MIN_COMPRESS_BYTES:
            target = path.with_name(path.name + ".gz")
            target.write_bytes(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))
            written.append(target)
    return written


if __name__ == "__main__":  # make static: python -m core.static static
    import sys

    for written in precompress(Path(sys.argv[1] if len(sys.argv) > 1 else "static")):
        print(written)
