"""The storage contract: the `Storage` interface and the values it returns."""

from __future__ import annotations

import hashlib
import io
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import BinaryIO

from core.storage.errors import ObjectNotFoundError, StorageError
from core.storage.hashing import CHUNK_SIZE
from core.storage.keys import check_prefix

DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class StoredObject:
    """What an upload stored: the key, its size in bytes and the hex SHA-256 of its content."""

    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ObjectInfo:
    """Metadata of a stored object; `sha256` is known only when it was recorded at upload time."""

    size: int
    content_type: str
    etag: str | None
    cache_control: str | None = None
    sha256: str | None = None

class Storage(ABC):
    """Keyed binary objects; keys are relative POSIX strings such as `recordings/12/hls/master.m3u8`."""

    @abstractmethod
    def put_stream(
        self, key: str, fileobj: BinaryIO, *, content_type: str, cache_control: str | None = None
    ) -> StoredObject:
        """Store everything read from `fileobj` under `key`, streaming; overwrites; verifies the size after."""

    def put_file(
        self, key: str, path: str | os.PathLike, *, content_type: str, cache_control: str | None = None,
        sha256: str | None = None,
    ) -> StoredObject:
        """Store the local file at `path` under `key`; overwrites; verifies the size after.

        :param sha256: the file's hex SHA-256 when the caller has it already (saves reading the file twice).
        """
        with open(path, "rb") as fh:
            stored = self.put_stream(key, fh, content_type=content_type, cache_control=cache_control)
        if sha256 is not None and stored.sha256 != sha256.lower():
            self.delete(key)  # not the content the caller meant: store nothing rather than the wrong bytes
            raise StorageError(f"{os.fspath(path)!r} changed before it was stored as {key!r}", key=key)
        return stored

    def adopt_file(
        self, key: str, path: str | os.PathLike, *, content_type: str, cache_control: str | None = None
    ) -> StoredObject:
        """Store the local file at `path` under `key` and take it: the file is gone afterwards (LocalStorage moves
        it into place instead of copying when it can); verifies the size after."""
        stored = self.put_file(key, path, content_type=content_type, cache_control=cache_control)
        os.unlink(path)
        return stored

    def put_bytes(self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None) -> StoredObject:
        """Store `data` under `key`; overwrites; verifies the size after."""
        return self.put_stream(key, io.BytesIO(data), content_type=content_type, cache_control=cache_control)

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """Open the object for reading as a binary stream; raises ObjectNotFoundError when it is missing."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """Return the object's metadata, or None when it does not exist."""

    def exists(self, key: str) -> bool:
        """True when an object is stored under `key`."""
        return self.head(key) is not None

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete the object; deleting a missing object is not an error."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """All keys starting with `prefix` (a plain string prefix, as in S3), sorted."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with `prefix` (which must not be empty); return how many."""
        if not check_prefix(prefix):
            raise StorageError("refusing to delete with an empty prefix")
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)

    @abstractmethod
    def url(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        """A URL that serves the object for `expires_in` seconds, as a download named `filename` if given."""

    def verify(self, key: str, *, size: int, sha256: str | None = None) -> ObjectInfo:
        """Check that the stored object has `size` bytes (and `sha256`); raise StorageError if not."""
        info = self.head(key)
        if info is None:
            raise ObjectNotFoundError(key)
        if info.size != size:
            raise StorageError(f"{key!r} has {info.size} bytes, expected {size}", key=key)
        if sha256 is not None and self._stored_sha256(key, info) != sha256.lower():
            raise StorageError(f"{key!r} does not have SHA-256 {sha256}", key=key)
        return info

    def _stored_sha256(self, key: str, info: ObjectInfo) -> str:
        # Fallback when no trustworthy checksum was recorded: read the object back and hash it.
        digest = hashlib.sha256()
        with self.open(key) as fh:
            while chunk := fh.read(CHUNK_SIZE):
                digest.update(chunk)
        return digest.hexdigest()
