"""Recordings of live sessions and their trip through the pipeline (architecture.md state machine)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import tenancy
from core.db import UTCDateTime, utcnow
from core.extensions import db
from courses.models import Course, Parent, courses_of, parents_of
from sessions.models import WorkshopSession


class RecordingState(enum.Enum):
    received = "received"
    probing = "probing"
    #: A first version (the source's own streams, remuxed) is stored and plays; the full ladder runs from here.
    playable = "playable"
    queued = "queued"
    transcoding = "transcoding"
    transcoded = "transcoded"
    publishing = "publishing"
    #: Stored and verified; the course's trainers watch it, parents do not see it until a trainer publishes it.
    ready_for_review = "ready_for_review"
    published = "published"
    expired = "expired"
    failed = "failed"


#: What each state is called on the trainer's pages.
STATE_LABELS = {
    RecordingState.received: _l("Ontvangen"),
    RecordingState.probing: _l("Wordt gecontroleerd"),
    RecordingState.playable: _l("Te bekijken; de volledige versie wordt nu gemaakt"),
    RecordingState.queued: _l("Wacht op omzetten"),
    RecordingState.transcoding: _l("Wordt omgezet"),
    RecordingState.transcoded: _l("Omgezet"),
    RecordingState.publishing: _l("Wordt klaargezet"),
    RecordingState.ready_for_review: _l("Klaar om na te kijken; ouders zien hem nog niet"),
    RecordingState.published: _l("Gepubliceerd: ouders kunnen hem bekijken"),
    RecordingState.expired: _l("Verlopen"),
    RecordingState.failed: _l("Mislukt"),
}




class RecordingSource(enum.Enum):
    upload = "upload"
    jibri = "jibri"
    jaas = "jaas"


#: The states a step runs in, and the states a step waits in (`pipeline.RUNNING` and its steps' start states; a test
#: checks), in the order the reaper's partial indexes and queries spell them: SQLite uses a partial index only for a
#: query that repeats its WHERE term exactly. The ladder after a first version runs in `playable` itself, marked by
#: its heartbeat (`pipeline.BEATING`), so `playable` is in both.
RUNNING_STATES = (RecordingState.probing, RecordingState.transcoding, RecordingState.publishing,
                  RecordingState.playable)
WAITING_STATES = (RecordingState.received, RecordingState.queued, RecordingState.transcoded, RecordingState.playable)


def _state_in(states: tuple[RecordingState, ...]) -> dict:
    """The WHERE of a partial index `state IN (...)`, for each dialect as it reads it back (PostgreSQL stores an IN
    list as `= ANY (ARRAY[...])`; tests/core/test_migrations.py compares)."""
    names = ", ".join(f"'{state.value}'" for state in states)
    typed = ", ".join(f"'{state.value}'::recording_state" for state in states)
    return {"sqlite_where": text(f"state IN ({names})"), "postgresql_where": text(f"state = ANY (ARRAY[{typed}])")}


def _new_uuid() -> str:
    return uuid.uuid4().hex


class Recording(db.Model):
    __tablename__ = "recordings"
    # Partial indexes of the few rows the periodic jobs look for (migration 0015): running steps by heartbeat and
    # waiting steps by last change (the reaper), unexpired recordings by the end of their retention (the sweep).
    # Nothing reads recordings by state alone, so there is no index on `state`.
    __table_args__ = (
        Index("ix_recordings_running", "heartbeat_at", **_state_in(RUNNING_STATES)),
        Index("ix_recordings_waiting", "updated_at", **_state_in(WAITING_STATES)),
        Index("ix_recordings_unexpired", "expires_at", sqlite_where=text("state <> 'expired'"),
              postgresql_where=text("state <> 'expired'")),
        # The few recordings whose first playable version is still stored (migration 0016): the clean-up's reaper.
        Index("ix_recordings_first_version", "updated_at", sqlite_where=text("first_prefix IS NOT NULL"),
              postgresql_where=text("first_prefix IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Public, unguessable id; storage keys live under recordings/<uuid>/.
    uuid: Mapped[str] = mapped_column(String(32), unique=True, default=_new_uuid)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("workshop_session.id", ondelete="SET NULL"), index=True)
    source: Mapped[RecordingSource] = mapped_column(Enum(RecordingSource, name="recording_source"))
    state: Mapped[RecordingState] = mapped_column(
        Enum(RecordingState, name="recording_state"), default=RecordingState.received)
    #: The step that failed (probing, transcoding, publishing, ...) and a plain message for the trainer.
    failed_step: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    #: Fraction 0..1 of the running step, for the progress bar.
    progress: Mapped[float] = mapped_column(default=0.0)
    #: Refreshed by a running step; a stale heartbeat means the worker died and the step is re-queued.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    original_key: Mapped[str | None] = mapped_column(String(512))
    original_filename: Mapped[str | None] = mapped_column(String(255))
    original_size: Mapped[int | None] = mapped_column(BigInteger)
    original_sha256: Mapped[str | None] = mapped_column(String(64))
    #: Idempotency key of the source (JaaS event id, Jibri session folder) so duplicates are ignored.
    source_ref: Mapped[str | None] = mapped_column(String(255), unique=True)
    #: Where to fetch the original from when it is not stored yet (JaaS pre-authenticated link).
    source_url: Mapped[str | None] = mapped_column(Text)

    duration_s: Mapped[float | None]
    width: Mapped[int | None]
    height: Mapped[int | None]
    probe: Mapped[dict | None] = mapped_column(JSON)
    #: Relative path -> content type of every rendition file, as produced by the transcode.
    renditions: Mapped[dict | None] = mapped_column(JSON)

    published_prefix: Mapped[str | None] = mapped_column(String(512))
    #: When the first version (a remux of the source, before the full ladder) could first be played; None if none.
    playable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Where the first version is stored and its files (relative path -> content type), until the full ladder has
    #: replaced it and no player can hold a URL for it any more (then both are None again).
    first_prefix: Mapped[str | None] = mapped_column(String(512))
    first_renditions: Mapped[dict | None] = mapped_column(JSON)
    #: When parents could first watch it (the "recording ready" messages went out then); None while in review.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The consent state at recording time (recordings/consent.py): "at", "present" [{parent_id, consented}],
    #: "without_consent" [parent ids] and, once a trainer confirmed those, "confirmed_by" and "confirmed_at".
    consent_snapshot: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    course: Mapped[Course] = relationship()
    session: Mapped[WorkshopSession | None] = relationship()

    @property
    def needs_consent_confirmation(self) -> bool:
        """True while a parent present without consent is not confirmed by a trainer: it stays in review."""
        snapshot = self.consent_snapshot or {}
        return bool(snapshot.get("without_consent")) and not snapshot.get("confirmed_at")

    def __repr__(self) -> str:
        return f"<Recording {self.id} {self.state.value}>"


class WatchProgress(db.Model):
    """Where a parent stopped in a recording and how far they got, from the watch page's progress beacons."""

    __tablename__ = "watch_progress"
    __table_args__ = (UniqueConstraint("recording_id", "parent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"), index=True)
    #: The last reported playback position: the watch page resumes here.
    position_s: Mapped[float] = mapped_column(default=0.0)
    #: The furthest position ever reported, so rewinding does not undo "watched".
    furthest_s: Mapped[float] = mapped_column(default=0.0)
    #: The duration the player reported.
    duration_s: Mapped[float] = mapped_column(default=0.0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    recording: Mapped[Recording] = relationship()
    parent: Mapped[Parent] = relationship()

    def __repr__(self) -> str:
        return f"<WatchProgress recording={self.recording_id} parent={self.parent_id} {self.position_s:.0f}s>"


tenancy.register(Recording, lambda org: Recording.course_id.in_(courses_of(org)))
tenancy.register(WatchProgress, lambda org: WatchProgress.parent_id.in_(parents_of(org)))
