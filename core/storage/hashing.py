"""Streaming SHA-256: a reader that hashes what it hands out, and the hash of a local file."""

from __future__ import annotations

import hashlib
import os
from typing import BinaryIO

MiB = 1024 * 1024
CHUNK_SIZE = 1 * MiB
PART_SIZE = 16 * MiB
#: What a body handed to botocore gives per read(): botocore asks for 1 MiB at a time (e.g. to sign the payload
#: over plain http), and 1 MiB buffers in several upload threads made the worker's RSS grow with the upload.
SMALL_READ = 64 * 1024


class SmallReads:
    """A seekable file wrapper whose read() returns at most SMALL_READ bytes (callers loop until b"")."""

    def __init__(self, fileobj: BinaryIO):
        self._fileobj = fileobj

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes, and never more than SMALL_READ."""
        return self._fileobj.read(SMALL_READ if size is None or size < 0 else min(size, SMALL_READ))

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move in the file (botocore rewinds for retries and to measure the length)."""
        return self._fileobj.seek(offset, whence)

    def tell(self) -> int:
        """The current position."""
        return self._fileobj.tell()

    def seekable(self) -> bool:
        """Always True."""
        return True

    def readable(self) -> bool:
        """Always True."""
        return True


class FileSlice(SmallReads):
    """`length` bytes of an open file from `start`, as a file of its own (one part of a multipart upload)."""

    def __init__(self, fileobj: BinaryIO, start: int, length: int):
        super().__init__(fileobj)
        self._start, self._length = start, length
        fileobj.seek(start)

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes of the slice (at most SMALL_READ); b"" at its end."""
        left = self._length - self.tell()
        return super().read(left if size is None or size < 0 else min(size, left)) if left > 0 else b""

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move within the slice."""
        base = {os.SEEK_SET: self._start, os.SEEK_CUR: self._fileobj.tell(), os.SEEK_END: self._start + self._length}
        self._fileobj.seek(min(max(base[whence] + offset, self._start), self._start + self._length))
        return self.tell()

    def tell(self) -> int:
        """The position within the slice."""
        return self._fileobj.tell() - self._start


class HashingReader:
    """A non-seekable reader over `fileobj` that counts and hashes every byte handed out."""

    def __init__(self, fileobj: BinaryIO):
        self._fileobj = fileobj
        self.size = 0
        self._hash = hashlib.sha256()

    def readable(self) -> bool:
        """Always True (s3transfer checks it)."""
        return True

    def seekable(self) -> bool:
        """Always False, so s3transfer reads parts in order and never seeks back past hashed bytes."""
        return False

    def read(self, size: int | None = -1) -> bytes:
        """Read up to `size` bytes (all when negative), filling short reads so multipart parts stay full."""
        limit = None if size is None or size < 0 else size
        chunks, got = [], 0
        while limit is None or got < limit:
            chunk = self._fileobj.read(CHUNK_SIZE if limit is None else min(limit - got, PART_SIZE))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        data = b"".join(chunks)
        self.size += len(data)
        self._hash.update(data)
        return data

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of everything read so far."""
        return self._hash.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a local file, read into one small reused buffer (no new bytes per chunk)."""
    with open(path, "rb", buffering=0) as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
