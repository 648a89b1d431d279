"""The route map behind a parent's personal link: content, language, layout at 360 px."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from flask_babel import force_locale

from core.db import utcnow
from courses import services as courses
from parents.routemap import SessionItem, route_map_context, urgent_card
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
                                               recorded=False, starts_in="over 5 jaar")]
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
    assert re.findall(r'<h2 id="now-heading">(?:<bdi>)?(.*?)(?:</bdi>)?</h2>', html) == ["Samen lezen"]
    assert "dinsdag 5 maart 2030</time>, <time>19:30</time>" in html
    assert "De opname komt hier te staan." in html
    assert "Nog geen opdrachten voor thuis." in html
    assert f'href="/p/{token}/data"' in html
    assert f'href="/p/{token}/delete"' in html
    assert "Nu meedoen" not in html


@pytest.mark.unit
def test_route_map_puts_what_matters_now_first_and_the_other_dates_behind_all_dates(
        client, create_parent, create_workshop_session, create_link, course):
    parent = create_parent(course=course)
    create_workshop_session(starts_at=utcnow() + timedelta(minutes=5), title="Nu bijna")
    for week in (1, 2, 3):
        create_workshop_session(starts_at=utcnow() + timedelta(weeks=week), title=f"Week {week}")
    token, _ = create_link(parent)

    html = client.get(f"/p/{token}").get_data(as_text=True)
    urgent = html[html.index('id="now"'):html.index("</section>", html.index('id="now"'))]
    later = html[html.index('<details class="all-dates"'):html.index("</details>")]

    assert "Nu live" in urgent and "Nu bijna" in urgent and "Nu meedoen" in urgent
    assert html.count("Nu meedoen") == 1
    assert re.findall(r"<h3>(?:<bdi>)?(Week \d)(?:</bdi>)?</h3>", html) == ["Week 1"]  # the next session, in its own card
    assert re.findall(r"<br>(?:<bdi>)?(Week \d)", later) == ["Week 2", "Week 3"]
    assert html.index('id="now"') < html.index("Week 1") < html.index('class="all-dates"')
    assert html.index('class="all-dates"') < html.index('id="privacy-heading"')


@pytest.mark.unit
def test_urgent_card_picks_live_then_today_then_task_then_new_recording_then_next():
    now = datetime(2030, 3, 5, 9, 0, tzinfo=UTC)
    item = SessionItem(id=1, title="Later", course_title="C", date="d", time="t", lobby_open=False, recorded=False)
    live, today = replace(item, id=2, lobby_open=True), replace(item, id=3, today=True)
    fresh = replace(item, id=4, recording_uuid="u", published_at=now - timedelta(days=2))
    stale = replace(fresh, id=5, published_at=now - timedelta(days=8))
    task = SimpleNamespace(answered=False, activity=SimpleNamespace(requested=["photo"], due_on=None))
    done = SimpleNamespace(answered=True, activity=SimpleNamespace(requested=["photo"], due_on=None))

    def pick(upcoming, past=(), cards=()):
        card = urgent_card(list(upcoming), list(past), list(cards), now=now)
        return card and (card["kind"], card.get("session", card.get("card")))

    assert pick([item, today, live], [fresh], [task]) == ("live", live)
    assert pick([item, today], [fresh], [task]) == ("today", today)
    assert pick([item], [fresh], [done, task]) == ("task", task)
    assert pick([item], [fresh], [done]) == ("recording", fresh)
    assert pick([item], [stale], [done]) == ("next", item)
    assert pick([], [stale]) is None


@pytest.mark.unit
def test_route_map_names_calendar_apps_once_and_no_per_session_links(client, course, create_parent, create_link,
                                                                     create_workshop_session):
    parent = create_parent("Sanne", course=course)
    for week in (1, 2, 3):
        create_workshop_session(starts_at=utcnow() + timedelta(weeks=week), title=f"Week {week}")
    token, _url = create_link(parent)

    html = client.get(f"/p/{token}").get_data(as_text=True)

    assert "Alle data in mijn agenda zetten" in html
    assert [html.count(name) for name in (">Apple-agenda<", ">Google Agenda<", ">Outlook<")] == [1, 1, 1]
    assert "https://outlook.live.com/calendar/0/addfromweb?url=" in html
    assert "/session/" not in html and "action=TEMPLATE" not in html  # no per-session .ics, Google or Outlook


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
