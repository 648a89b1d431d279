"""The trainer's participation overview: per session, attended and watched out of invited."""

import re
from datetime import timedelta

from core.db import utcnow
from recordings.models import Recording, RecordingSource, RecordingState, WatchProgress
from recordings.participation import participation
from sessions.models import AttendanceEvent, AttendanceKind
from sessions.scheduling import course_sessions


def _past_session_with_recording(db, course, create_parent, create_workshop_session):
    sanne = create_parent("Sanne", course=course, email="sanne@example.org")
    amina = create_parent("Amina", course=course, email="amina@example.org")
    session = create_workshop_session(title="Voorlezen", starts_at=utcnow() - timedelta(days=2), allow_past=True)
    db.session.add(AttendanceEvent(session_id=session.id, parent_id=sanne.id, kind=AttendanceKind.joined,
                                   at=session.starts_at + timedelta(minutes=1)))
    recording = Recording(course=course, session=session, source=RecordingSource.upload,
                          state=RecordingState.published, duration_s=100.0, published_at=utcnow())
    db.session.add(recording)
    db.session.flush()
    db.session.add_all([
        WatchProgress(recording_id=recording.id, parent_id=amina.id, position_s=95, furthest_s=95, duration_s=100),
        WatchProgress(recording_id=recording.id, parent_id=sanne.id, position_s=30, furthest_s=30, duration_s=100)])
    db.session.commit()
    return session


def test_participation_counts_attended_and_watched_out_of_invited(db, course, create_parent,
                                                                  create_workshop_session):
    session = _past_session_with_recording(db, course, create_parent, create_workshop_session)
    create_workshop_session(title="Later")  # not opened yet: not listed

    rows = participation(course_sessions(course))

    assert [(r.session.id, r.invited, r.attended, r.watched) for r in rows] == [(session.id, 2, 1, 1)]


def test_participation_without_a_recording_has_no_watched_figure(db, course, create_parent, create_workshop_session):
    create_parent("Sanne", course=course)
    create_workshop_session(title="Voorlezen", starts_at=utcnow() - timedelta(days=2), allow_past=True)

    assert [(r.invited, r.attended, r.watched) for r in participation(course_sessions(course))] == [(1, 0, None)]


def test_course_page_shows_the_participation_table_with_meters(client, auth, trainer, db, course, create_parent,
                                                               create_workshop_session):
    _past_session_with_recording(db, course, create_parent, create_workshop_session)
    auth.login(trainer.email)

    html = client.get(f"/courses/{course.id}").get_data(as_text=True)

    table = re.search(r'<table id="participation">.*?</table>', html, re.S).group(0)
    cells = [re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in re.findall(r"<td>(.*?)</td>", table, re.S)]
    assert cells[1:] == ["1 van 2", "1 van 2", "—"]
    assert table.count('<meter min="0" max="2" value="1" aria-hidden="true">') == 2
