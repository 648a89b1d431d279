"""Secrets never reach a log: every log record's text is redacted when the record is made (ASVS 7.1.1).

A record factory rather than a handler filter, so it covers every logger and handler: ours, werkzeug's request
lines, gunicorn's access log and whatever a worker configures later.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

_PATTERNS: list[tuple[re.Pattern, str]] = [
    # Personal links, calendar feeds and join links, password-reset links: the token is the path segment.
    (re.compile(r"(/(?:p|c|password/reset)/)[A-Za-z0-9_-]{16,}"), rf"\1{REDACTED}"),
    (re.compile(r"(/r/\d+/\d+/)[A-Za-z0-9_-]{8,}"), rf"\1{REDACTED}"),  # one-tap RSVP codes
    # API tokens (prefix ok_) and bearer credentials.
    (re.compile(r"\bok_[A-Za-z0-9_-]{16,}"), REDACTED),
    (re.compile(r"(?i)(bearer\s+)[^\s'\",]+"), rf"\1{REDACTED}"),
    # JSON Web Tokens (Jitsi room tokens).
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # Signed and presigned URLs, and secrets passed as query or form parameters.
    (re.compile(r"(?i)\b(X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|sig|jwt|token"
                r"|access_token|password|secret)=([^&\s'\"]+)"), rf"\1={REDACTED}"),
    # Passwords inside connection URLs (redis://:pw@host, postgresql://user:pw@host).
    (re.compile(r"(://[^/\s:@]*:)[^@\s/]+@"), rf"\1{REDACTED}@"),
]


def redact(text: str) -> str:
    """`text` with every token, signature, JWT and password we know the shape of replaced by [redacted]."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redacted_record(factory):
    def make(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must still be logged, as logging itself would
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    make.ouderkamer_redacts = True
    return make


def install_redaction() -> None:
    """Make every log record of this process redacted (idempotent)."""
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "ouderkamer_redacts", False):
        logging.setLogRecordFactory(_redacted_record(factory))
