"""SQL statements of the pages parents hit at once (issue 10, bench/join_storm.py and bench/feed.py).

Counted with a SQLAlchemy cursor event on the app's engine; no timing anywhere.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event

from core.db import utcnow
from courses import links
from courses import services as courses
from courses.links import parent_feed_token
from sessions import services
from sessions.models import RecordingConsent


@contextmanager
def statements(db):
    """Collect the SQL statements sent while the block runs."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def tables_read(seen: list[str]) -> list[str]:
    """The main table of each SELECT, in order."""
    found = []
    for statement in seen:
        match = re.match(r"\s*SELECT\b.*?\bFROM\s+(\w+)", statement, re.S | re.I)
        if match:
            found.append(match[1])
    return found


@pytest.fixture
def open_session(create_workshop_session):
    start = (utcnow() + timedelta(minutes=10)).replace(second=0, microsecond=0)
    return create_workshop_session(starts_at=start, title="Voorlezen", recorded=True)


@pytest.fixture
def sanne(db, course, create_parent):
    parent = create_parent("Sanne", course=course)
    token = "sanne-" + "t" * 40
    links.issue_personal_link(parent, token=token)
    parent_feed_token(parent)
    db.session.commit()
    return parent, token


def test_lobby_reads_nothing_after_logging_the_join_click(db, client, open_session, sanne):
    _parent, token = sanne

    with statements(db) as seen:
        response = client.get(f"/p/{token}/s/{open_session.id}")

    assert response.status_code == 200
    writes = [i for i, s in enumerate(seen) if s.lstrip().upper().startswith("INSERT")]
    assert len(writes) == 1 and seen[writes[0]:][1:] == []  # rendered before the commit: no row loaded again


def test_lobby_reads_only_this_parents_latest_consent(db, client, course, create_parent, open_session, sanne):
    parent, token = sanne
    for i in range(20):
        other = create_parent(f"Ouder {i}", course=course, email=f"ouder{i}@example.org")
        services.record_consent(open_session, other, objected=i % 2 == 0)
    services.record_consent(open_session, parent, objected=True)
    db.session.commit()
    loaded = []

    def note(target, _context):
        loaded.append(target.parent_id)

    event.listen(RecordingConsent, "load", note)
    try:
        response = client.get(f"/p/{token}/s/{open_session.id}")
    finally:
        event.remove(RecordingConsent, "load", note)

    assert response.status_code == 200
    assert loaded == []  # one column of this parent's latest row, not the whole course's consent log
    assert services.has_objected(open_session, parent) is True


def test_route_map_reads_each_table_once_however_many_courses_and_sessions(db, client, create_course,
                                                                          create_workshop_session, sanne, course):
    parent, token = sanne
    create_workshop_session(title="Voorlezen 1")
    with statements(db) as small:
        assert client.get(f"/p/{token}").status_code == 200
    for title in ("Samen spelen", "Praten met je kind"):
        other = create_course(title)
        courses.enrol(other, parent)
        for week in range(4):
            create_workshop_session(course=other, title=f"{title} {week}",
                                    starts_at=(utcnow() + timedelta(weeks=week + 1)).replace(second=0, microsecond=0))
    db.session.commit()

    with statements(db) as large:
        assert client.get(f"/p/{token}").status_code == 200

    assert len(large) == len(small)
    assert [t for t in tables_read(large) if tables_read(large).count(t) > 1] in ([], ["workshop_session"] * 2)
