"""Course rules: courses, their trainers, parents, enrolments and the parents' CSV import."""

from __future__ import annotations

import functools
from datetime import date
from zoneinfo import available_timezones

from flask_babel import lazy_gettext as _l
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import or_, select

from accounts import audit
from accounts import services as accounts
from accounts.models import User
from core.db import utcnow
from core.errors import caught, raise_all
from core.extensions import db
from core.text import has_control_chars
from courses import links
from courses.contacts import CourseError, check_language, clean_parent
from courses.models import Course, Enrolment, Parent

DEFAULT_TIMEZONE = "Europe/Amsterdam"


#: Minutes before a session that a course may send reminders (1 week ... 15 minutes), how many at most, default.
REMINDER_OFFSETS = (10080, 2880, 1440, 180, 60, 15)
MAX_REMINDERS = 3
DEFAULT_REMINDERS = (1440, 60)


# --- courses -------------------------------------------------------------------------------------------------


@functools.cache
def known_zones() -> frozenset[str]:
    """Every IANA time-zone name this machine knows."""
    return frozenset(available_timezones())


def _check_course(*, title: str, language: str, timezone: str, starts_on: date | None, ends_on: date | None,
                  retention_days: int, trainers: list[User], description: str | None = "",
                  organisation_id: int | None = None) -> None:
    errors = [*_title_errors(title), *caught(check_language, language)]
    if has_control_chars(description or "", multi_line=True):
        errors.append(CourseError(_l("Deze tekst bevat een teken dat niet kan."), field="description"))
    if timezone not in known_zones():
        errors.append(CourseError(_l("Onbekende tijdzone: %(tz)s", tz=timezone), field="timezone"))
    if starts_on and ends_on and ends_on < starts_on:
        errors.append(CourseError(_l("De einddatum ligt voor de begindatum."), field="ends_on"))
    if not 1 <= retention_days <= 365:
        errors.append(CourseError(_l("Bewaar opnames tussen 1 en 365 dagen."), field="retention_days"))
    if not trainers:
        errors.append(CourseError(_l("Kies minstens één trainer."), field="trainers"))
    elif organisation_id is not None and any(t.organisation_id != organisation_id for t in trainers):
        errors.append(CourseError(_l("Onbekende trainer."), field="trainers"))  # same words as an unknown id
    raise_all(errors)


def translation_errors(translations: dict) -> list[CourseError]:
    """The refused texts among a course's titles and descriptions per language (issue 19), on their form fields."""
    errors = []
    for language, texts in translations.items():
        if has_control_chars(texts.get("title", "")):
            errors.append(CourseError(_l("Schrijf de titel op één regel, zonder tabs of onzichtbare tekens."),
                                      field=f"title_{language}"))
        if has_control_chars(texts.get("description", ""), multi_line=True):
            errors.append(CourseError(_l("Deze tekst bevat een teken dat niet kan."), field=f"description_{language}"))
    return errors


def _title_errors(title: str) -> list[CourseError]:
    if not title.strip():
        return [CourseError(_l("Geef de cursus een titel."), field="title")]
    if has_control_chars(title.strip()):
        return [CourseError(_l("Schrijf de titel op één regel, zonder tabs of onzichtbare tekens."), field="title")]
    return []


def clean_reminder_offsets(offsets) -> list[int]:
    """The reminder offsets as a sorted list (largest first); CourseError unless 0 to 3 of REMINDER_OFFSETS."""
    chosen = sorted(set(offsets), reverse=True)
    if any(value not in REMINDER_OFFSETS for value in chosen):
        raise CourseError(_l("Kies herinneringen uit de lijst."), field="reminder_offsets")
    if len(chosen) > MAX_REMINDERS:
        raise CourseError(_l("Kies hoogstens %(n)d herinneringen.", n=MAX_REMINDERS), field="reminder_offsets")
    return chosen


def create_course(*, title: str, trainers: list[User], description: str = "", language: str = "nl",
                  timezone: str = DEFAULT_TIMEZONE, starts_on: date | None = None, ends_on: date | None = None,
                  retention_days: int = 60, reminder_offsets=DEFAULT_REMINDERS,
                  publish_automatically: bool = False, translations: dict | None = None) -> Course:
    """Create a course run by the given trainers, in their organisation; flushes."""
    organisation_id = trainers[0].organisation_id if trainers else None
    _check_course(title=title, language=language, timezone=timezone, starts_on=starts_on, ends_on=ends_on,
                  retention_days=retention_days, trainers=list(trainers), description=description,
                  organisation_id=organisation_id)
    raise_all(translation_errors(translations or {}))
    course = Course(organisation_id=organisation_id, title=title.strip(), description=description or "", language=language, timezone=timezone,
                    starts_on=starts_on, ends_on=ends_on, retention_days=retention_days, trainers=list(trainers),
                    reminder_offsets=clean_reminder_offsets(reminder_offsets),
                    publish_automatically=bool(publish_automatically), translations=translations or {})
    db.session.add(course)
    db.session.flush()
    return course


COURSE_FIELDS = ("title", "description", "language", "timezone", "starts_on", "ends_on", "retention_days", "trainers",
                 "reminder_offsets", "publish_automatically", "translations")


def update_course(course: Course, **changes) -> Course:
    """Change a course's fields (any of COURSE_FIELDS); flushes."""
    values = {name: changes.get(name, getattr(course, name)) for name in COURSE_FIELDS}
    _check_course(title=values["title"], language=values["language"], timezone=values["timezone"],
                  starts_on=values["starts_on"], ends_on=values["ends_on"], retention_days=values["retention_days"],
                  trainers=list(values["trainers"]), description=values["description"],
                  organisation_id=course.organisation_id)
    values["reminder_offsets"] = clean_reminder_offsets(values["reminder_offsets"])
    raise_all(translation_errors(values["translations"] or {}))
    for name, value in values.items():
        setattr(course, name, list(value) if name == "trainers" else value)
    course.title = course.title.strip()
    course.description = course.description or ""
    db.session.flush()
    return course


def archive_course(course: Course) -> None:
    """Archive a course: it leaves the course lists but keeps its data; flushes."""
    if course.archived_at is None:
        course.archived_at = utcnow()
        db.session.flush()


def courses_for(user: User) -> list[Course]:
    """The unarchived courses a user may see: their own, or all for a coordinator."""
    query = select(Course).where(Course.archived_at.is_(None)).order_by(Course.title)
    if not user.is_coordinator:
        query = query.where(Course.trainers.any(User.id == user.id))
    return list(db.session.scalars(query))


def can_manage(user: User, course: Course) -> bool:
    """True when the user is a coordinator or one of the course's trainers."""
    return user.is_coordinator or any(t.id == user.id for t in course.trainers)


def trainer_choices(organisation_id: int) -> list[User]:
    """The organisation's active trainers and coordinators, by name, for assigning to a course."""
    query = select(User).where(User.organisation_id == organisation_id, User.active.is_(True)).order_by(User.name)
    return list(db.session.scalars(query))


def find_trainers(ids: list[int], organisation_id: int) -> list[User]:
    """The organisation's active users with these ids; CourseError when one is unknown."""
    query = select(User).where(User.id.in_(ids), User.active.is_(True), User.organisation_id == organisation_id)
    users = list(db.session.scalars(query)) if ids else []
    if len(users) != len(set(ids)):
        raise CourseError(_l("Onbekende trainer."), field="trainers")
    return users


# --- parents -------------------------------------------------------------------------------------------------


def find_parent(organisation_id: int, *, email: str | None, phone: str | None,
                exclude: Parent | None = None) -> Parent | None:
    """The organisation's parent with this (normalised) e-mail address or phone number, if any."""
    conditions = [c for c in (Parent.email == email if email else None, Parent.phone == phone if phone else None)
                  if c is not None]
    if not conditions:
        return None
    # Never across organisations: there the same address is simply another parent, and nothing may hint at them.
    query = select(Parent).where(Parent.organisation_id == organisation_id, or_(*conditions)).order_by(Parent.id)
    if exclude is not None:
        query = query.where(Parent.id != exclude.id)
    return db.session.scalars(query).first()


def add_parent(*, name: str, language: str = "nl", email: str | None = None, phone: str | None = None,
               consent_recording: bool = False, contact_email: bool = True, contact_sms: bool = False,
               contact_whatsapp: bool = False, organisation_id: int | None = None) -> Parent:
    """Add a parent to an organisation (default: the first) after validating the fields (no duplicate check: see
    enrol_parent); flushes."""
    data = clean_parent(name=name, email=email, phone=phone, language=language)
    organisation_id = organisation_id or accounts.default_organisation().id
    parent = Parent(organisation_id=organisation_id, name=data.name, language=data.language, email=data.email, phone=data.phone,
                    consent_recording=consent_recording, contact_email=contact_email, contact_sms=contact_sms,
                    contact_whatsapp=contact_whatsapp)
    db.session.add(parent)
    db.session.flush()
    links.ensure_calendar_token(parent)  # made here, so no page view or send ever has to insert it
    return parent


def enrol_parent(course: Course, **fields) -> tuple[Parent, bool]:
    """Enrol a parent, reusing the parent with the same e-mail or phone; returns (parent, created); flushes."""
    data = clean_parent(name=fields.get("name", ""), email=fields.get("email"), phone=fields.get("phone"),
                        language=fields.get("language", "nl"))
    existing = find_parent(course.organisation_id, email=data.email, phone=data.phone)
    if existing is not None:
        enrol(course, existing)
        return existing, False
    parent = add_parent(**{**fields, **vars(data), "organisation_id": course.organisation_id})
    enrol(course, parent)
    return parent, True


def update_parent(parent: Parent, **changes) -> Parent:
    """Change a parent's fields; refuses an e-mail or phone that belongs to another parent; flushes."""
    values = {k: changes.get(k, getattr(parent, k)) for k in ("name", "email", "phone", "language")}
    data = clean_parent(**values)
    if data.email and find_parent(parent.organisation_id, email=data.email, phone=None, exclude=parent):
        raise CourseError(_l("Er is al een ouder met dit e-mailadres."), field="email")
    if data.phone and find_parent(parent.organisation_id, email=None, phone=data.phone, exclude=parent):
        raise CourseError(_l("Er is al een ouder met dit telefoonnummer."), field="phone")
    for key, value in vars(data).items():
        setattr(parent, key, value)
    for key in ("consent_recording", "contact_email", "contact_sms", "contact_whatsapp"):
        if key in changes:
            setattr(parent, key, bool(changes[key]))
    if fields := audit.changed_fields(parent):
        audit.record("parent.updated", parent=parent, fields=fields)
    db.session.flush()
    return parent


def enrol(course: Course, parent: Parent) -> Enrolment:
    """Enrol a parent in a course of their own organisation (no-op when already enrolled); flushes."""
    if parent.organisation_id != course.organisation_id:
        raise CourseError(_l("Deze ouder is niet gevonden."), field="parent")
    for existing in parent.enrolments:
        if existing.course_id == course.id:
            return existing
    enrolment = Enrolment(course=course, parent=parent)
    db.session.add(enrolment)
    audit.record("parent.enrolled", parent=parent, course_id=course.id)  # flushes
    return enrolment


def find_enrolment(course: Course, parent_id: int) -> Enrolment | None:
    """The enrolment of this parent in this course, if any."""
    return db.session.scalar(select(Enrolment).where(Enrolment.course_id == course.id,
                                                     Enrolment.parent_id == parent_id))


def remove_from_course(course: Course, parent: Parent, *, moving: bool = False) -> None:
    """Take a parent out of a course; the parent stays known for other courses, but out of their last one every
    link and calendar token of theirs stops working (unless `moving` to another course); flushes."""
    enrolment = find_enrolment(course, parent.id)
    if enrolment is not None:
        parent.enrolments.remove(enrolment)
        db.session.delete(enrolment)
        audit.record("parent.removed", parent=parent, course_id=course.id)  # flushes
        if not parent.enrolments and not moving:
            links.revoke_access(parent)


def move_parent(parent: Parent, *, from_course: Course, to_course: Course) -> Enrolment:
    """Move a parent from one course to another; flushes."""
    if from_course.id == to_course.id:
        raise CourseError(_l("Kies een andere cursus."), field="course_id")
    remove_from_course(from_course, parent, moving=True)
    return enrol(to_course, parent)


def course_parents(course: Course) -> list[Parent]:
    """The parents enrolled in a course, by name."""
    query = select(Parent).join(Enrolment).where(Enrolment.course_id == course.id).order_by(Parent.name)
    return list(db.session.scalars(query))


#: Rows of a trainer's parent table per page.
PARENTS_PER_PAGE = 50


def name_filter(column, search: str):
    """SQL condition: `column` contains `search`, case-insensitive, with % and _ taken literally."""
    return column.icontains(search, autoescape=True)


def find_course_parents(course: Course, *, search: str = "", page: int = 1,
                        per_page: int = PARENTS_PER_PAGE) -> Pagination:
    """One page of the parents enrolled in a course, by name, those whose name contains `search` if given (items,
    page, pages, iter_pages(), total); two queries."""
    query = select(Parent).join(Enrolment).where(Enrolment.course_id == course.id)
    if search:
        query = query.where(name_filter(Parent.name, search))
    return db.paginate(query.order_by(Parent.name, Parent.id), page=page, per_page=per_page, error_out=False)
