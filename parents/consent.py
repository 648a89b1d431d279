"""The parent's recording consent per course, asked on the route map and in the lobby (templates/parents/_consent.html).

The answer is about being recorded in the live room; rewatching recordings is not part of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.db import utcnow
from core.extensions import db
from courses import consent
from courses.models import Course, Parent
from parents.lobby_pass import forget_passes
from sessions.models import WorkshopSession

#: What a parent without consent is told in a recorded session's lobby, and in join.json (`notice`).
CAMERA_OFF_NOTICE = _l("Je camera staat uit, omdat je nog geen toestemming hebt gegeven om opgenomen te worden. "
                       "De trainer weet dat.")


@dataclass(frozen=True)
class ConsentItem:
    """One course's question as the parent sees it: plain, already formatted values."""

    course_id: int
    course_title: str
    #: "yes", "no", "trainer" (the trainer noted a yes, the parent has not answered here) or "none".
    answer: str
    #: When the parent answered, formatted; "" when they have not.
    answered_on: str = ""


def consent_items(parent: Parent, courses: list[Course]) -> list[ConsentItem]:
    """The parent's standing answer per course, formatted in the current locale; one query."""
    answers = consent.parent_answers(parent, [c.id for c in courses])
    items = []
    for course in courses:
        state = consent.standing(parent, answers.get(course.id))
        answer = ("yes" if state.consented else "no") if state.source == consent.FROM_PARENT else (
            "trainer" if state.consented else "none")
        items.append(ConsentItem(course.id, course.title, answer,
                                 format_date(state.answered_at, "long") if state.answered_at else ""))
    return items


def save_answer(parent: Parent, course_id: int, *, consented: bool) -> bool:
    """Record the parent's answer for one of their courses; False (nothing recorded) for a course they are not in."""
    if not any(e.course_id == course_id for e in parent.enrolments):
        return False
    consent.record_consent(course_id, parent, consented=consented)
    return True


def consent_saved(consented: bool) -> str:
    """The flash after an answer, in the current locale."""
    if consented:
        return str(_l("Dank je. Je hebt ja gezegd. Je kunt dit altijd weer veranderen."))
    return str(_l("Je keuze is opgeslagen: je wordt niet opgenomen en doet mee met je camera uit. "
                  "Je kunt dit altijd weer veranderen."))


def forget_lobby_passes(parent: Parent, course_id: int) -> None:
    """After an answer is committed: drop the parent's cached lobby passes of the course's sessions that have not
    ended (parents.lobby_pass), so the next join.json poll gives the camera setup of the new answer; one query."""
    # A session lasts at most a day: one that started earlier has ended, with its passes.
    query = select(WorkshopSession.id).where(WorkshopSession.course_id == course_id,
                                             WorkshopSession.starts_at >= utcnow() - timedelta(days=1))
    forget_passes(parent, list(db.session.scalars(query)))
