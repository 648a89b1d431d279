"""The trainer's say over a recording: publish it to parents after review, hide it again, retry or delete it.

Every state change goes through pipeline.py; the "recording ready" messages go out only when a recording first
reaches parents.
"""

from __future__ import annotations

import logging

from flask_babel import lazy_gettext as _l

from accounts.models import User
from core.db import utcnow
from core.extensions import db
from core.queue import enqueue_after_commit
from core.storage import Storage, StorageError
from recordings import consent, notify, pipeline, publish, steps
from recordings.errors import RecordingError
from recordings.models import Recording, RecordingState

MSG_NOT_IN_REVIEW = _l("Deze opname wacht niet op controle; publiceren kan nu niet.")
MSG_NOT_PUBLISHED = _l("Deze opname is niet gepubliceerd voor ouders.")
MSG_EXPIRED = _l("Deze opname is verlopen en kan niet meer gepubliceerd worden.")
MSG_RUNNING = _l("Aan deze opname wordt nu gewerkt. Verwijderen kan zodra die stap klaar of mislukt is.")
MSG_NOT_RETRYABLE = _l("Opnieuw proberen helpt hier niet. Upload de video opnieuw.")
MSG_CONSENT = _l("Niet iedereen die erbij was, vond opnemen goed. Bevestig eerst dat je de opname toch wilt "
                 "gebruiken.")
MSG_STORAGE = _l("De opname kon niet helemaal uit de opslag worden gewist. Probeer het later opnieuw.")

log = logging.getLogger(__name__)


def publish_to_parents(recording: Recording, *, confirmed_by: User | None = None) -> bool:
    """Publish a reviewed recording to parents; flushes. The first time, the "recording ready" messages are enqueued
    (after commit) and True returned; parents told before are not told again. RecordingError when not in review,
    or when a parent present without consent is not confirmed (`confirmed_by`: the trainer who ticked it)."""
    if publish.is_expired(recording):
        raise RecordingError(str(MSG_EXPIRED))
    if recording.needs_consent_confirmation:
        if confirmed_by is None:
            raise RecordingError(str(MSG_CONSENT), field="confirm_without_consent")
        consent.confirm(recording, confirmed_by)
    if not pipeline.publish(recording):
        raise RecordingError(str(MSG_NOT_IN_REVIEW))
    if recording.published_at is not None:
        return False
    recording.published_at = utcnow()
    db.session.flush()
    enqueue_after_commit(db.session, notify.notify_recording_ready, recording.id)
    return True


def unpublish_recording(recording: Recording) -> None:
    """Hide a published recording from parents (back to review): its watch page and playlists answer 404 at once,
    media URLs handed out before stop within their lifetime (playback.url_ttl); flushes."""
    if not pipeline.unpublish(recording):
        raise RecordingError(str(MSG_NOT_PUBLISHED))


def retry_failed(recording: Recording) -> None:
    """The trainer's Retry, refused (RecordingError) where it cannot help; flushes, enqueues the step."""
    if recording.state is RecordingState.failed and not steps.retryable(recording):
        raise RecordingError(str(MSG_NOT_RETRYABLE))
    pipeline.retry_recording(recording)


def delete_recording(recording: Recording, *, storage: Storage | None = None) -> int:
    """Delete the recording's row (and its watch progress), then every object it has in storage, its original
    and its work folder; flushes; network. RecordingError while a step is running. Returns the objects deleted.

    The row goes first, in the caller's transaction: a step that starts meanwhile finds no row. Should storage fail,
    the caller rolls back (the row stays) and the trainer can delete again; what is left is deleted then.
    """
    if not pipeline.remove(recording):
        raise RecordingError(str(MSG_RUNNING))
    try:
        deleted = publish.delete_objects(recording, storage=storage)
    except StorageError as exc:
        log.warning("recording %s: deleting its objects failed: %s", recording.id, exc)
        raise RecordingError(str(MSG_STORAGE)) from exc
    db.session.expunge(recording)
    return deleted


def deletable(recording: Recording) -> bool:
    """True when no step is running on the recording, so Delete is offered."""
    return not pipeline.is_running(recording)
