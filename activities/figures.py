"""Read-only views of home activities: the trainer's inbox, the course page's figures, the parent's cards."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from activities.answers import counts_as_answer, last_nudges, nudge_channel, thread
from activities.models import ActivityReply, ActivityResponse, HomeActivity
from activities.services import addressees, course_activities
from core.extensions import db
from courses.models import Course, Parent


@dataclass(frozen=True)
class InboxRow:
    """One addressee of an activity: their thread with the trainers, whether they answered, their last nudge."""

    parent: Parent
    items: list = field(default_factory=list)
    answered: bool = False
    nudged_at: datetime | None = None
    channel: str | None = None


@dataclass(frozen=True)
class Answered:
    """How many of the activities asked of one parent (or of a session's parents) got an answer."""

    answered: int
    asked: int


@dataclass(frozen=True)
class ActivityCard:
    """One activity on the parent's route map, in their language."""

    activity: HomeActivity
    title: str
    course_title: str
    answered: bool
    replies: int


def inbox(activity: HomeActivity) -> tuple[list[InboxRow], list[InboxRow]]:
    """(answered, waiting): every addressee of the activity with their thread, answered ones first."""
    nudged = last_nudges(activity)
    answered, waiting = [], []
    for parent in addressees(activity):
        items = thread(activity, parent)
        done = any(isinstance(i, ActivityResponse) and counts_as_answer(i) for i in items)
        row = InboxRow(parent, items, done, nudged.get(parent.id), nudge_channel(parent))
        (answered if done else waiting).append(row)
    return answered, waiting


def _answers(activities: list[HomeActivity]) -> dict[int, set[int]]:
    """Per activity id: the ids of parents with a counted answer."""
    result: dict[int, set[int]] = {a.id: set() for a in activities}
    if activities:
        query = select(ActivityResponse).where(ActivityResponse.activity_id.in_(result))
        for response in db.session.scalars(query):
            if counts_as_answer(response):
                result[response.activity_id].add(response.parent_id)
    return result


def activity_counts(activities: list[HomeActivity]) -> dict[int, Answered]:
    """Per activity id: parents who answered out of the parents asked (activities without a request: 0 asked)."""
    answers = _answers(activities)
    return {a.id: Answered(len(answers[a.id]), len(addressees(a)) if a.requested else 0) for a in activities}


def parent_figures(course: Course) -> dict[int, Answered]:
    """Per parent id: how many of the course's requests for them they answered (only parents who were asked)."""
    asked = [a for a in course_activities(course) if a.requested]
    answers = _answers(asked)
    figures: dict[int, Answered] = {}
    for activity in asked:
        for parent in addressees(activity):
            before = figures.get(parent.id, Answered(0, 0))
            figures[parent.id] = Answered(before.answered + (parent.id in answers[activity.id]), before.asked + 1)
    return figures


def session_figures(course: Course) -> dict[int, int]:
    """Per session id with a request attached: how many of its addressees answered at least one of them."""
    asked = [a for a in course_activities(course) if a.requested and a.session_id]
    answers = _answers(asked)
    by_session: dict[int, set[int]] = {}
    for activity in asked:
        by_session.setdefault(activity.session_id, set()).update(answers[activity.id])
    return {session_id: len(parents) for session_id, parents in by_session.items()}


def parent_cards(parent: Parent, activities: list[HomeActivity], language: str) -> list[ActivityCard]:
    """The route map's cards for activities that are for the parent: open requests first (soonest due first),
    then the rest in the given order."""
    answers = _answers(activities)
    replies: dict[int, int] = {}
    if activities:
        query = select(ActivityReply).where(ActivityReply.parent_id == parent.id,
                                            ActivityReply.activity_id.in_([a.id for a in activities]))
        for reply in db.session.scalars(query):
            replies[reply.activity_id] = replies.get(reply.activity_id, 0) + 1
    cards = [ActivityCard(a, a.text_in(language, "title"), a.course.title, parent.id in answers[a.id],
                          replies.get(a.id, 0)) for a in activities]
    open_ = sorted((c for c in cards if c.activity.requested and not c.answered),
                   key=lambda c: (c.activity.due_on is None, c.activity.due_on or c.activity.created_at.date()))
    return open_ + [c for c in cards if c not in open_]
