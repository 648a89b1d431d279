"""Read-only views of home activities: the trainer's inbox, the course page's figures, the parent's cards."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import case, exists, func, select

from activities.answers import counts_as_answer, last_nudges, nudge_channel, threads
from activities.models import ActivityReply, ActivityResponse, HomeActivity, MediaState
from activities.services import addressed_pairs
from core.extensions import db
from courses.models import Course, Parent
from courses.services import PARENTS_PER_PAGE, name_filter


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


@dataclass(frozen=True)
class Inbox:
    """One page of an activity's addressees, split into (answered, waiting), with the totals over all of them."""

    answered: list[InboxRow]
    waiting: list[InboxRow]
    answered_total: int
    waiting_total: int
    #: The page's parents (items, page, pages, iter_pages(), total).
    page: Pagination


def _counted():
    return ActivityResponse.state != MediaState.failed


def _has_answered(pairs):
    return exists().where(ActivityResponse.activity_id == pairs.c.activity_id,
                          ActivityResponse.parent_id == pairs.c.parent_id, _counted())


def inbox(activity: HomeActivity, *, search: str = "", page: int = 1, per_page: int = PARENTS_PER_PAGE) -> Inbox:
    """One page of the activity's addressees (by name; those whose name contains `search`) with their threads,
    split into answered and waiting, and the totals over all addressees; six queries whatever their number."""
    pairs = addressed_pairs(HomeActivity.id == activity.id).subquery()
    answered_sum = func.sum(case((_has_answered(pairs), 1), else_=0))
    everyone, answered_total = db.session.execute(select(func.count(), answered_sum).select_from(pairs)).one()
    query = select(Parent).join(pairs, pairs.c.parent_id == Parent.id)
    if search:
        query = query.where(name_filter(Parent.name, search))
    shown = db.paginate(query.order_by(Parent.name, Parent.id), page=page, per_page=per_page, error_out=False)
    ids = [p.id for p in shown.items]
    items, nudged = threads(activity, ids), last_nudges(activity, ids)
    answered, waiting = [], []
    for parent in shown.items:
        done = any(isinstance(i, ActivityResponse) and counts_as_answer(i) for i in items[parent.id])
        row = InboxRow(parent, items[parent.id], done, nudged.get(parent.id), nudge_channel(parent))
        (answered if done else waiting).append(row)
    answered_total = int(answered_total or 0)
    return Inbox(answered, waiting, answered_total, everyone - answered_total, shown)


def _answered_counts(activity_ids: list[int]) -> dict[int, int]:
    """Per activity id: how many parents have a counted answer; one query."""
    query = (select(ActivityResponse.activity_id, func.count(ActivityResponse.parent_id.distinct()))
             .where(ActivityResponse.activity_id.in_(activity_ids), _counted())
             .group_by(ActivityResponse.activity_id))
    return dict(db.session.execute(query).tuples().all()) if activity_ids else {}


def activity_counts(activities: list[HomeActivity]) -> dict[int, Answered]:
    """Per activity id: parents who answered out of the parents asked (activities without a request: 0 asked);
    two queries."""
    answered = _answered_counts([a.id for a in activities])
    requested = [a.id for a in activities if a.requested]
    asked: dict[int, int] = {}
    if requested:
        pairs = addressed_pairs(HomeActivity.id.in_(requested)).subquery()
        query = select(pairs.c.activity_id, func.count()).group_by(pairs.c.activity_id)
        asked = dict(db.session.execute(query).tuples().all())
    return {a.id: Answered(answered.get(a.id, 0), asked.get(a.id, 0) if a.requested else 0) for a in activities}


def parent_figures(course: Course, parent_ids: list[int]) -> dict[int, Answered]:
    """Per parent id (of those given) who was asked anything: how many of the course's requests for them they
    answered; one query."""
    if not parent_ids:
        return {}
    pairs = addressed_pairs(HomeActivity.course_id == course.id, HomeActivity.request_kinds != "").subquery()
    query = (select(pairs.c.parent_id, func.sum(case((_has_answered(pairs), 1), else_=0)), func.count())
             .where(pairs.c.parent_id.in_(parent_ids)).group_by(pairs.c.parent_id))
    return {parent_id: Answered(int(done or 0), asked) for parent_id, done, asked in db.session.execute(query)}


def session_figures(course: Course) -> dict[int, int]:
    """Per session id with a request attached: how many parents answered at least one of them; one query."""
    query = (select(HomeActivity.session_id, func.count(ActivityResponse.parent_id.distinct()))
             .outerjoin(ActivityResponse, (ActivityResponse.activity_id == HomeActivity.id) & _counted())
             .where(HomeActivity.course_id == course.id, HomeActivity.request_kinds != "",
                    HomeActivity.session_id.is_not(None))
             .group_by(HomeActivity.session_id))
    return dict(db.session.execute(query).tuples().all())


def parent_cards(parent: Parent, activities: list[HomeActivity], language: str) -> list[ActivityCard]:
    """The route map's cards for activities that are for the parent: open requests first (soonest due first),
    then the rest in the given order."""
    ids = [a.id for a in activities]
    answered: set[int] = set()
    replies: dict[int, int] = {}
    if ids:
        mine = (select(ActivityResponse.activity_id).distinct()
                .where(ActivityResponse.parent_id == parent.id, ActivityResponse.activity_id.in_(ids), _counted()))
        answered = set(db.session.scalars(mine))
        query = (select(ActivityReply.activity_id, func.count())
                 .where(ActivityReply.parent_id == parent.id, ActivityReply.activity_id.in_(ids))
                 .group_by(ActivityReply.activity_id))
        replies = dict(db.session.execute(query).tuples().all())
    cards = [ActivityCard(a, a.text_in(language, "title"), a.course.title, a.id in answered,
                          replies.get(a.id, 0)) for a in activities]
    open_ = sorted((c for c in cards if c.activity.requested and not c.answered),
                   key=lambda c: (c.activity.due_on is None, c.activity.due_on or c.activity.created_at.date()))
    return open_ + [c for c in cards if c not in open_]
