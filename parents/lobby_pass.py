"""A parent's lobby pass: what a `join.json` poll needs, kept in the cache (core.cache) per parent and session.

A pass holds the session's opening and closing times, whether it is cancelled and, once the room is open, the
IFrame setup (with its token) made for this visit. A poll resolves the parent (one indexed read) and answers from the
pass: the state follows from the clock, so it changes only when the room opens or closes. The pass is made by the
lobby page and by a poll that finds none; making the setup logs the visit's join click, so a visit logs one click
however often its page polls. Schedule changes (the scheduling signals) outdate every pass of the session at once;
a pass also ends after PASS_TTL_S, which bounds what a change without a signal (an unenrolment) leaves stale.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from datetime import timedelta

from core.cache import get_cache
from core.jitsi import get_jitsi
from courses.models import Parent
from sessions import scheduling, services
from sessions.models import SessionStatus, WorkshopSession

#: A pass is made again after this long (a visit): one join click, one full check of the session and invitation.
PASS_TTL_S = 600
#: The generation counter of a session's passes outlives any pass.
GENERATION_TTL_S = 2 * 24 * 3600


@dataclass(frozen=True)
class LobbyPass:
    """The lobby of one session for one parent, as a poll needs it (times as Unix seconds)."""

    opens_at: float
    closes_at: float
    cancelled: bool
    language: str
    generation: str
    setup: dict | None = None

    def state(self, now: float | None = None) -> str:
        """The lobby's state now: the same as services.lobby_state, from the kept times."""
        now = time.time() if now is None else now
        if self.cancelled:
            return services.CANCELLED
        if now >= self.closes_at:
            return services.ENDED
        return services.OPEN if now >= self.opens_at else services.WAITING

    def opens_in(self, now: float | None = None) -> int:
        """Whole seconds until the room opens (at least 1)."""
        return max(1, int(self.opens_at - (time.time() if now is None else now)))


def _pass_key(parent: Parent, session_id: int) -> str:
    # The parent row's identity and what the setup shows of it: a new row, name or e-mail address is a new pass.
    who = f"{parent.id}|{parent.created_at.isoformat() if parent.created_at else ''}|{parent.name}|{parent.email}"
    return f"lobby-pass:{session_id}:{hashlib.sha256(who.encode()).hexdigest()[:32]}"


def _generation_key(session_id: int) -> str:
    return f"lobby-generation:{session_id}"


def find_pass(parent: Parent, session_id: int, language: str) -> tuple[LobbyPass | None, str]:
    """The parent's current pass for this session in this language, or None; and the session's pass generation
    (to make a new pass with). One cache round trip, no SQL."""
    found, generation = get_cache().get_many([_pass_key(parent, session_id), _generation_key(session_id)])
    generation = generation or "0"
    if not found:
        return None, generation
    kept = LobbyPass(**json.loads(found))
    if kept.generation != generation or kept.language != language:
        return None, generation
    return kept, generation


def keep_pass(parent: Parent, session: WorkshopSession, language: str, generation: str,
              setup: dict | None) -> LobbyPass:
    """Store the parent's pass for this session (after the full checks: invited, state, setup made)."""
    closes = session.ends_at + timedelta(minutes=get_jitsi().token_grace_minutes)
    kept = LobbyPass(opens_at=session.opens_at.timestamp(), closes_at=closes.timestamp(),
                     cancelled=session.status is SessionStatus.cancelled, language=language,
                     generation=generation, setup=setup)
    get_cache().set(_pass_key(parent, session.id), json.dumps(asdict(kept)), PASS_TTL_S)
    return kept


def current_generation(session_id: int) -> str:
    """The session's pass generation now (read before the session row, so a change in between outdates the pass)."""
    return get_cache().get_many([_generation_key(session_id)])[0] or "0"


def outdate_passes(workshop_session: WorkshopSession, **_extra) -> None:
    """Outdate every pass of the session (it was moved, cancelled or changed)."""
    get_cache().incr(_generation_key(workshop_session.id), GENERATION_TTL_S)


for _signal in (scheduling.session_rescheduled, scheduling.session_cancelled):
    _signal.connect(outdate_passes, weak=False)


def forget_passes(parent: Parent, session_ids: list[int]) -> None:
    """Drop the parent's passes of these sessions (their recording consent changed: the next poll makes a new
    setup, with the camera on or off). The cache has no delete: an empty value is no pass."""
    cache = get_cache()
    for session_id in session_ids:
        cache.set(_pass_key(parent, session_id), "", 1)
