"""Presence in the live room: the lobby page's heartbeats, JaaS PARTICIPANT_JOINED/LEFT webhooks, and the minutes
of a parent's joined intervals from both sources (one interval per parent however many sources saw it).

A parent counts as present only when the room said they joined (the page's IFrame `videoConferenceJoined`, or
JaaS); a click on the join link never counts. The page's events can be lost (a closed tab sends no `left`), so an
interval from the page without a `left` ends at its last heartbeat plus one heartbeat period, and a `joined` that
no heartbeat followed counts one period at most. JaaS reports leaving from the server, so its open interval runs
to the session's end (or now).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, select, update

from core.db import utcnow
from core.extensions import db
from courses.models import Parent
from sessions.models import AttendanceEvent, AttendanceKind, AttendanceSource, WorkshopSession

#: How often the lobby page says "still here" while the parent is in the conference (static/js/presence.js).
HEARTBEAT_S = 60
HEARTBEAT = timedelta(seconds=HEARTBEAT_S)
#: The kinds the minutes are computed from (never `join_click`).
PRESENCE_KINDS = (AttendanceKind.joined, AttendanceKind.left, AttendanceKind.heartbeat)
#: How each source is named under the figures.
SOURCE_LABELS = {AttendanceSource.page: _l("uit de videokamer"), AttendanceSource.jaas: _l("van JaaS")}
#: The JaaS webhook events that are attendance.
JAAS_EVENTS = {"PARTICIPANT_JOINED": AttendanceKind.joined, "PARTICIPANT_LEFT": AttendanceKind.left}


# --- the page's heartbeat -------------------------------------------------------------------------------------


def heartbeat(session_id: int, parent: Parent, *, now: datetime | None = None) -> bool:
    """Move the parent's current interval's heartbeat to now: one UPDATE. False when the page posted no `joined`
    for this session (then there is no interval to extend, and nothing is written)."""
    latest = (select(func.max(AttendanceEvent.id))
              .where(AttendanceEvent.session_id == session_id, AttendanceEvent.parent_id == parent.id,
                     AttendanceEvent.kind == AttendanceKind.heartbeat)
              .scalar_subquery())
    result = db.session.execute(update(AttendanceEvent).where(AttendanceEvent.id == latest)
                                .values(at=now or utcnow()).execution_options(synchronize_session=False))
    return result.rowcount == 1


# --- JaaS PARTICIPANT_JOINED / PARTICIPANT_LEFT ----------------------------------------------------------------


def parent_id_from_jitsi(user_id) -> int | None:
    """The parent id in a token's `context.user.id` (`parent-<id>`, sessions.services.jitsi_user_id), else None."""
    prefix, _sep, number = str(user_id or "").partition("-")
    return int(number) if prefix == "parent" and number.isdigit() and len(number) < 19 else None


def session_for_room(fqn: str) -> WorkshopSession | None:
    """The workshop session whose Jitsi room is the last part of `fqn` (`<AppID>/<room>`), compared in lower case."""
    room = (fqn or "").strip().rsplit("/", 1)[-1]
    if not room:
        return None
    return db.session.scalars(select(WorkshopSession)
                              .where(func.lower(WorkshopSession.room_name) == room.lower())).first()


def receive_jaas_participant(event: dict, *, is_invited) -> str:
    """Record a verified PARTICIPANT_JOINED/LEFT of an invited parent as a `jaas` event at the event's own time;
    a redelivered event (same parent, kind and time) is stored once; flushes. `is_invited(session, parent)` is
    sessions.services.is_invited (passed in: services imports this module)."""
    kind = JAAS_EVENTS.get(str(event.get("eventType") or ""))
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    parent_id = parent_id_from_jitsi(data.get("id"))
    at = _event_time(event.get("timestamp"))
    if kind is None or parent_id is None or at is None:
        return "ignored"  # a trainer, a guest without our token, or an event without a usable time
    workshop_session = session_for_room(str(event.get("fqn") or ""))
    parent = db.session.get(Parent, parent_id)
    if workshop_session is None or parent is None or not is_invited(workshop_session, parent):
        return "unknown participant"
    seen = exists().where(AttendanceEvent.session_id == workshop_session.id, AttendanceEvent.parent_id == parent.id,
                          AttendanceEvent.kind == kind, AttendanceEvent.source == AttendanceSource.jaas,
                          AttendanceEvent.at == at)
    if db.session.scalar(select(seen)):
        return "duplicate"
    db.session.add(AttendanceEvent(session_id=workshop_session.id, parent_id=parent.id, kind=kind, at=at,
                                   source=AttendanceSource.jaas))
    db.session.flush()
    return "recorded"


def _event_time(timestamp) -> datetime | None:
    # JaaS sends milliseconds since the epoch; delivery order is not guaranteed, so the event's own time counts.
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)) or not 0 < timestamp < 10**14:
        return None
    return datetime.fromtimestamp(timestamp / 1000, tz=UTC)


# --- minutes from intervals -----------------------------------------------------------------------------------


def intervals(events, until: datetime) -> list[tuple[datetime, datetime]]:
    """The joined intervals of one parent in one session from its events (with .kind, .at, .source) in time order,
    per source, each cut at `until` (the session's end, or now)."""
    found = []
    for source in AttendanceSource:
        own = [event for event in events if _source(event) is source]
        found += _page_intervals(own, until) if source is AttendanceSource.page else _server_intervals(own, until)
    return [(start, min(end, until)) for start, end in found if min(end, until) > start]


def _source(event) -> AttendanceSource:
    return getattr(event, "source", None) or AttendanceSource.page


def _page_intervals(events, until: datetime) -> list[tuple[datetime, datetime]]:
    found, since, seen = [], None, None
    for event in events:
        if event.kind is AttendanceKind.joined:
            if since is not None:  # joined again without a left: the earlier visit ended unannounced
                found.append((since, min(seen + HEARTBEAT, event.at)))
            since = seen = event.at
        elif event.kind is AttendanceKind.heartbeat and since is not None:
            seen = max(seen, event.at)
        elif event.kind is AttendanceKind.left and since is not None:
            found.append((since, event.at))
            since = None
    if since is not None:
        found.append((since, min(seen + HEARTBEAT, until)))
    return found


def _server_intervals(events, until: datetime) -> list[tuple[datetime, datetime]]:
    found, since = [], None
    for event in events:
        if event.kind is AttendanceKind.joined and since is None:
            since = event.at
        elif event.kind is AttendanceKind.left and since is not None:
            found.append((since, event.at))
            since = None
    if since is not None:
        found.append((since, until))
    return found


def minutes_of(spans: list[tuple[datetime, datetime]]) -> int:
    """Whole minutes covered by these intervals, overlaps counted once (the same visit seen by page and JaaS)."""
    total, reach = timedelta(), None
    for start, end in sorted(spans):
        if reach is not None and start < reach:
            start = reach
        if end > start:
            total += end - start
        reach = end if reach is None else max(reach, end)
    return int(total.total_seconds() // 60)


def source_labels(sources) -> list[str]:
    """Where the figures come from, in words (e.g. ["uit de videokamer", "van JaaS"]), from a set of sources."""
    return [str(SOURCE_LABELS[source]) for source in AttendanceSource if source in sources]
