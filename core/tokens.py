"""Random secrets that are shown once and stored only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token(prefix: str = "", nbytes: int = 32) -> str:
    """A URL-safe random token with an optional readable prefix."""
    return prefix + secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token; tokens are long random strings, so no salt or slow hash is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_hash(token: str, stored_hash: str) -> bool:
    """Compare a token with a stored hash in constant time."""
    return hmac.compare_digest(hash_token(token), stored_hash)
