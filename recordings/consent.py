"""The consent state at recording time, stored with each recording, and the trainer's confirmation when a parent who
was present had not consented to being recorded (issue 17). Until a trainer confirms, such a recording stays in
review (`Recording.needs_consent_confirmation`, read by pipeline.done_state) and Publish asks the same question.
"""

from __future__ import annotations

from sqlalchemy import select

from accounts import audit
from accounts.models import User
from core.db import utcnow
from core.extensions import db
from courses.models import Parent
from recordings.models import Recording
from sessions import services as sessions
from sessions.models import WorkshopSession


def present_without_consent(workshop_session: WorkshopSession) -> list[Parent]:
    """The parents present in the session who had not consented for its course at recording time (or withdrew
    since), by name: the upload asks the trainer to confirm."""
    without = set(sessions.consent_at_recording(workshop_session)["without_consent"])
    return [p for p in sessions.present_parents(workshop_session) if p.id in without]


def take_snapshot(recording: Recording, workshop_session: WorkshopSession) -> None:
    """Store who was present and who had consented with the recording, and its audit row; flushes."""
    snapshot = sessions.consent_at_recording(workshop_session)
    recording.consent_snapshot = snapshot
    db.session.flush()
    audit.record("recording.received", course_id=recording.course_id, organisation_id=recording.course.organisation_id,
                 recording=recording.id, session=workshop_session.id,
                 present=[row["parent_id"] for row in snapshot["present"]],
                 consented=[row["parent_id"] for row in snapshot["present"] if row["consented"]],
                 without_consent=snapshot["without_consent"])


def confirm(recording: Recording, user: User) -> bool:
    """Record that a trainer confirmed the recording although parents present had not consented, with its audit
    row; flushes. False when there was nothing to confirm."""
    if not recording.needs_consent_confirmation:
        return False
    snapshot = dict(recording.consent_snapshot)
    recording.consent_snapshot = {**snapshot, "confirmed_by": user.id, "confirmed_at": utcnow().isoformat()}
    db.session.flush()
    audit.record("recording.confirmed", course_id=recording.course_id, organisation_id=recording.course.organisation_id,
                 recording=recording.id, without_consent=snapshot["without_consent"])
    return True


def parents_without_consent(recording: Recording) -> list[Parent]:
    """The parents the snapshot names as present without consent who still exist, by name; one query."""
    ids = (recording.consent_snapshot or {}).get("without_consent") or []
    if not ids:
        return []
    return list(db.session.scalars(select(Parent).where(Parent.id.in_(ids)).order_by(Parent.name, Parent.id)))
