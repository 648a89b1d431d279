"""JaaS webhook signatures: compute and verify the `X-Jaas-Signature` header on a raw body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from core.jitsi.errors import JitsiSignatureError

SIGNATURE_TOLERANCE_S = 300


def jaas_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Return the base64 HMAC-SHA256 JaaS sends as `v1` for this timestamp and raw body (pure)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def verify_jaas_signature(
    secret: str,
    header_value: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: int = SIGNATURE_TOLERANCE_S,
) -> int:
    """Check an `X-Jaas-Signature` header on the raw body; return its `t`, else raise JitsiSignatureError."""
    if not secret:
        raise JitsiSignatureError("no JaaS webhook secret is configured; refusing every delivery")
    timestamp, signatures = _parse_signature_header(header_value)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise JitsiSignatureError(f"timestamp {timestamp} is more than {tolerance_s} s from now")
    expected = jaas_signature(secret, timestamp, body).encode()
    if not any(hmac.compare_digest(expected, candidate.encode()) for candidate in signatures):
        raise JitsiSignatureError("signature does not match the body")
    return timestamp


def _parse_signature_header(header_value: str | None) -> tuple[int, list[str]]:
    timestamps, signatures = [], []
    for part in (header_value or "").split(","):
        scheme, sep, value = part.strip().partition("=")
        if not sep or not value:
            raise JitsiSignatureError(f"malformed signature header {header_value!r}")
        if scheme == "t":
            timestamps.append(value)
        elif scheme == "v1":  # every other scheme is ignored: no downgrade to a weaker one
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        raise JitsiSignatureError(f"signature header needs exactly one numeric t=, got {header_value!r}")
    if not signatures:
        raise JitsiSignatureError("signature header has no v1= signature")
    return int(timestamps[0]), signatures
