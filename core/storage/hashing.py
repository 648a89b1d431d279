"""Streaming SHA-256: a reader that hashes what it hands out, and the hash of a local file."""

from __future__ import annotations

import hashlib
import os
from typing import BinaryIO

MiB = 1024 * 1024
CHUNK_SIZE = 1 * MiB
PART_SIZE = 16 * MiB


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
    """Hex SHA-256 of a local file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()
