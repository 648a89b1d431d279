"""Storage errors: a failed operation (maybe worth retrying) and a missing object."""

from __future__ import annotations


class StorageError(Exception):
    """A storage operation failed; `transient` says whether retrying the same call may succeed."""

    def __init__(self, message: str, *, key: str | None = None, transient: bool = False):
        super().__init__(message)
        self.key = key
        self.transient = transient


class ObjectNotFoundError(StorageError):
    """The object asked for does not exist."""

    def __init__(self, key: str):
        super().__init__(f"no object {key!r}", key=key)
