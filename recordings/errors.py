"""The recording domain's errors, shared by the pipeline, the files and the ingest services."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.errors import DomainError

MSG_DISK_UPLOAD = _l("Er is op dit moment te weinig schijfruimte om de video te ontvangen. Probeer het later opnieuw.")


class RecordingError(DomainError):
    """A recording cannot be received or changed as asked."""


class DiskFullError(RecordingError):
    """The work folder has no room for an upload; nothing of it was kept. HTTP 507 Insufficient Storage."""

    status = 507

    def __init__(self):
        super().__init__(str(MSG_DISK_UPLOAD), field="file")
