"""The route map behind a parent's personal link: content, language, layout at 360 px."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask_babel import force_locale

from core.db import utcnow
from courses import services as courses
from parents.routemap import SessionItem, route_map_context
from sessions.models import SessionStatus, WorkshopSession

UPCOMING_AT = datetime(2030, 3, 5, 18, 30, tzinfo=UTC)  # 19:30 in Amsterdam (CET)
PAST_AT = datetime(2021, 6, 1, 16, 0, tzinfo=UTC)  # 18:00 in Amsterdam (CEST)


def _h3s(html: str) -> list[str]:
    return re.findall(r"<h3>(.*?)</h3>", html)


@pytest.fixture
def two_course_parent(db, create_course, create_parent, create_workshop_session):
    """A parent in two courses (and in one archived course), with an upcoming, a past and a cancelled session."""
    reading, raising = create_course("Voorlezen"), create_course("Opvoeden")
    archived = create_course("Oud")
    archived.archived_at = utcnow()
    parent = create_parent("Sanne", course=reading)
    for other in (raising, archived):
        courses.enrol(other, parent)
    create_workshop_session(course=reading, title="Samen lezen", starts_at=UPCOMING_AT)
    create_workshop_session(course=raising, title="Grenzen stellen", starts_at=PAST_AT, recorded=True,
                            allow_past=True)
    cancelled = create_workshop_session(course=raising, title="Afgelast", starts_at=UPCOMING_AT + timedelta(days=1))
    cancelled.status = SessionStatus.cancelled
    create_workshop_session(course=archived, title="Oude les", starts_at=UPCOMING_AT)
    db.session.commit()
    return parent


@pytest.mark.unit
def test_route_map_context_two_courses_splits_upcoming_and_past(app, db, two_course_parent):
    with app.test_request_context(), force_locale("nl"):
        context = route_map_context(two_course_parent, now=datetime(2025, 1, 1, tzinfo=UTC))

    assert [c.title for c in context["courses"]] == ["Opvoeden", "Voorlezen"]
    ids = {s.title: s.id for s in db.session.query(WorkshopSession)}
    assert context["upcoming"] == [SessionItem(id=ids["Samen lezen"], title="Samen lezen", course_title="Voorlezen",
                                               date="dinsdag 5 maart 2030", time="19:30", lobby_open=False,
                                               recorded=False)]
    assert context["past"] == [SessionItem(id=ids["Grenzen stellen"], title="Grenzen stellen", course_title="Opvoeden",
                                           date="dinsdag 1 juni 2021", time="18:00", lobby_open=False,
                                           recorded=True)]


@pytest.mark.unit
def test_route_map_context_lobby_opens_lobby_minutes_before_start(app, two_course_parent):
    ten_to = UPCOMING_AT - timedelta(minutes=10)
    twenty_to = UPCOMING_AT - timedelta(minutes=20)

    with app.test_request_context(), force_locale("nl"):
        open_now = route_map_context(two_course_parent, now=ten_to)["upcoming"][0].lobby_open
        open_before = route_map_context(two_course_parent, now=twenty_to)["upcoming"][0].lobby_open

    assert (open_now, open_before) == (True, False)


@pytest.mark.unit
def test_route_map_page_shows_courses_sessions_and_empty_states(client, two_course_parent, create_link):
    token, _ = create_link(two_course_parent)

    response = client.get(f"/p/{token}")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert _h3s(html) == ["Opvoeden", "Voorlezen", "Samen lezen", "Grenzen stellen"]
    assert "dinsdag 5 maart 2030</time>, <time>19:30</time>" in html
    assert "De opname komt hier te staan." in html
    assert "Nog geen opdrachten voor thuis." in html
    assert f'href="/p/{token}/export.json"' in html
    assert f'href="/p/{token}/delete"' in html
    assert "De lobby is open" not in html


@pytest.mark.unit
def test_route_map_page_lobby_open_shows_the_notice(client, create_parent, create_workshop_session, create_link,
                                                     course):
    parent = create_parent(course=course)
    create_workshop_session(starts_at=utcnow() + timedelta(minutes=5), title="Nu bijna")
    token, _ = create_link(parent)

    html = client.get(f"/p/{token}").get_data(as_text=True)

    assert html.count("De lobby is open") == 1


@pytest.mark.unit
def test_route_map_arabic_parent_page_is_rtl(client, create_parent, create_link, course):
    parent = create_parent("مريم", course=course, language="ar", email="maryam@example.org")
    token, _ = create_link(parent)

    html = client.get(f"/p/{token}").get_data(as_text=True)

    assert '<html lang="ar" dir="rtl">' in html


@pytest.mark.unit
def test_route_map_language_switch_overrides_the_parents_language(client, create_parent, create_link, course):
    parent = create_parent("مريم", course=course, language="ar", email="maryam@example.org")
    token, _ = create_link(parent)

    client.post("/language/en", data={"next": f"/p/{token}"})
    html = client.get(f"/p/{token}").get_data(as_text=True)

    assert '<html lang="en" dir="ltr">' in html


@pytest.mark.unit
def test_route_map_offers_every_configured_language(client, create_parent, create_link, course):
    token, _ = create_link(create_parent(course=course))

    html = client.get(f"/p/{token}").get_data(as_text=True)

    assert re.findall(r'formaction="/language/(\w+)"', html) == ["nl", "en", "ar", "tr"]


@pytest.mark.e2e
def test_route_map_arabic_at_360px_has_no_horizontal_scroll(live_server, page, create_parent, create_link,
                                                            create_workshop_session, course):
    parent = create_parent("مريم", course=course, language="ar", email="maryam@example.org")
    create_workshop_session(starts_at=UPCOMING_AT, title="Samen lezen en praten over de dag")
    token, _ = create_link(parent)

    page.goto(f"{live_server}/p/{token}")

    html = page.locator("html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("ar", "rtl")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert "مريم" in page.get_by_role("heading", level=1).inner_text()


def test_route_map_offers_ics_google_and_outlook_links_per_upcoming_session(client, db, course, create_parent,
                                                                            create_link, create_workshop_session):
    parent = create_parent("Sanne", course=course)
    session = create_workshop_session(title="Samen lezen")
    token, _url = create_link(parent)

    html = client.get(f"/p/{token}").get_data(as_text=True)

    assert f"/session/{session.id}.ics" in html
    assert "https://calendar.google.com/calendar/render?action=TEMPLATE" in html
    assert "https://outlook.live.com/calendar/0/deeplink/compose?" in html
