"""What keys, prefixes, URL lifetimes and download names a backend accepts."""

from __future__ import annotations

from urllib.parse import quote

from core.storage.errors import StorageError

MAX_URL_TTL = 7 * 24 * 3600  # SigV4's limit; LocalStorage keeps the same one so both backends behave alike


def check_key(key: str, *, what: str = "key") -> str:
    """Return `key` when it is a safe relative POSIX key, else raise StorageError."""
    if not isinstance(key, str) or not key:
        raise StorageError(f"empty or non-string {what}: {key!r}", key=None)
    if key.startswith("/") or "\\" in key or any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise StorageError(f"{what} must be relative, without backslashes or control characters: {key!r}")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise StorageError(f"{what} has an empty, '.' or '..' segment: {key!r}")
    if len(key.encode()) > 1024:
        raise StorageError(f"{what} is longer than 1024 bytes: {key[:60]!r}...")
    return key


def check_prefix(prefix: str) -> str:
    """Return `prefix` when every key starting with it could be valid ('' allowed), else raise StorageError."""
    # A prefix may end mid-segment ("rec/1" matches "rec/10/a"), so check it as the start of a real key.
    if prefix:
        check_key(prefix + "x", what="prefix")
    return prefix


def check_ttl(expires_in: int) -> int:
    """Return `expires_in` when it is a whole number of seconds from 1 to MAX_URL_TTL, else raise StorageError."""
    if not isinstance(expires_in, int) or not 1 <= expires_in <= MAX_URL_TTL:
        raise StorageError(f"expires_in must be 1..{MAX_URL_TTL} seconds, got {expires_in!r}")
    return expires_in


def content_disposition(filename: str) -> str:
    """Build an `attachment` Content-Disposition with an ASCII fallback and the UTF-8 name (RFC 6266)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
