"""LocalStorage: objects as files in a folder, written atomically, served through HMAC-signed URLs."""

from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode

from core.storage.base import DEFAULT_CONTENT_TYPE, ObjectInfo, Storage, StoredObject
from core.storage.errors import ObjectNotFoundError, StorageError
from core.storage.hashing import CHUNK_SIZE, HashingReader
from core.storage.keys import check_key, check_prefix, check_ttl


class LocalStorage(Storage):
    """Objects as files under `root/objects/`, their metadata as JSON under `root/meta/`, URLs signed with HMAC."""

    def __init__(self, root: str | os.PathLike, *, secret: str | bytes, url_prefix: str = "/media"):
        if not secret:
            raise StorageError("LocalStorage needs a non-empty secret to sign URLs")
        secret = secret.encode() if isinstance(secret, str) else secret
        self.root = Path(root)
        self.url_prefix = url_prefix.rstrip("/")
        # A derived key, so a media URL signature can never double as any other use of the app secret.
        self._url_key = hmac.new(secret, b"ouderkamer.storage.url", hashlib.sha256).digest()

    def path(self, key: str) -> Path:
        """The file that holds the object (it may not exist); for the view that serves signed URLs."""
        return self.root / "objects" / check_key(key)

    def _meta_path(self, key: str) -> Path:
        return self.root / "meta" / key

    def put_stream(
        self, key: str, fileobj: BinaryIO, *, content_type: str, cache_control: str | None = None
    ) -> StoredObject:
        """Copy `fileobj` into a temp file, then rename it into place (atomic); writes a metadata file."""
        reader = HashingReader(fileobj)
        target = self.path(key)
        with _local_errors(key):
            self._write_atomic(target, lambda out: _copy(reader, out))
            self._write_meta(key, content_type, cache_control, reader.sha256)
        stored = StoredObject(key, reader.size, reader.sha256)
        self.verify(key, size=stored.size)
        return stored

    def adopt_file(
        self, key: str, path: str | os.PathLike, *, content_type: str, cache_control: str | None = None
    ) -> StoredObject:
        """Move the local file at `path` into place under `key` (hashed once, fsync'd once, renamed: no copy);
        copies when it is on another filesystem. The file is gone afterwards; verifies the size after."""
        target = self.path(key)
        with _local_errors(key):
            with open(path, "rb", buffering=0) as fh:
                sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
                os.fsync(fh.fileno())  # the writer (e.g. ffmpeg) did not: a crash must not leave half of it
                size = os.fstat(fh.fileno()).st_size
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(path, target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                return super().adopt_file(key, path, content_type=content_type, cache_control=cache_control)
            self._write_meta(key, content_type, cache_control, sha256)
        self.verify(key, size=size)
        return StoredObject(key, size, sha256)

    def _write_meta(self, key: str, content_type: str, cache_control: str | None, sha256: str) -> None:
        # Atomic but not fsync'd: after a crash a lost or empty metadata file reads as defaults (head), which the
        # publish step's check sees as "not stored" and uploads again; the object itself was fsync'd.
        meta = {"content_type": content_type, "cache_control": cache_control, "sha256": sha256}
        self._write_atomic(self._meta_path(key), lambda out: out.write(json.dumps(meta).encode()), durable=False)

    def _write_atomic(self, target: Path, write, *, durable: bool = True) -> None:
        # The temp file lives in `root/tmp`, on the same filesystem as the target, so os.replace is an atomic
        # rename: a crash leaves the old object or the new one, never half of one, and list() never sees it.
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                if durable:
                    os.fsync(out.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def open(self, key: str) -> BinaryIO:
        """Open the object's file for reading."""
        try:
            return open(self.path(key), "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFoundError(key) from None

    def head(self, key: str) -> ObjectInfo | None:
        """Stat the file and read its metadata file (missing metadata gives defaults)."""
        try:
            st = self.path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        try:
            meta = json.loads(self._meta_path(key).read_bytes())
        except (OSError, ValueError):
            meta = {}
        return ObjectInfo(
            size=st.st_size,
            content_type=meta.get("content_type") or DEFAULT_CONTENT_TYPE,
            etag=f"{st.st_mtime_ns:x}-{st.st_size:x}",
            cache_control=meta.get("cache_control"),
            sha256=meta.get("sha256"),
        )

    def delete(self, key: str) -> None:
        """Remove the file and its metadata, then any folders left empty."""
        with _local_errors(key):
            for base, path in (("objects", self.path(key)), ("meta", self._meta_path(key))):
                try:
                    path.unlink()
                except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                    continue  # like S3: deleting a key that holds no object is not an error
                self._prune(path.parent, self.root / base)

    @staticmethod
    def _prune(folder: Path, stop: Path) -> None:
        while folder != stop:
            try:
                folder.rmdir()
            except OSError:
                return  # not empty (or a concurrent put just filled it): leave it
            folder = folder.parent

    def list(self, prefix: str = "") -> list[str]:
        """Walk the folder the prefix points into and return the matching keys, sorted."""
        objects = self.root / "objects"
        start = objects / check_prefix(prefix).rpartition("/")[0]
        keys = []
        for folder, _dirs, files in os.walk(start):
            for name in files:
                key = (Path(folder) / name).relative_to(objects).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def url(self, key: str, *, expires_in: int, filename: str | None = None, now: float | None = None) -> str:
        """A `/media/<key>?expires=…&sig=…` path that `verify_signature` accepts until it expires."""
        expires = int(now if now is not None else time.time()) + check_ttl(expires_in)
        params = {"expires": expires, "sig": self._signature(check_key(key), expires, filename)}
        if filename is not None:
            params["filename"] = filename
        return f"{self.url_prefix}/{quote(key, safe='/')}?{urlencode(params)}"

    def verify_signature(
        self, key: str, expires: int | str, sig: str, now: float | None = None, *, filename: str | None = None
    ) -> bool:
        """True when `sig` was made by `url()` for this key, expiry and filename, and it has not expired."""
        try:
            expires = int(expires)
            check_key(key)
        except (TypeError, ValueError, StorageError):
            return False
        if expires < (now if now is not None else time.time()):
            return False
        return hmac.compare_digest(self._signature(key, expires, filename).encode(), str(sig).encode())

    def _signature(self, key: str, expires: int, filename: str | None) -> str:
        message = json.dumps([key, expires, filename]).encode()
        digest = hmac.new(self._url_key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _copy(reader: HashingReader, out: BinaryIO) -> None:
    while chunk := reader.read(CHUNK_SIZE):
        out.write(chunk)


@contextmanager
def _local_errors(key: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise StorageError(f"cannot write {key!r}: {exc}", key=key) from exc
