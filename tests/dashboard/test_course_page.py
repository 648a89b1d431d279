"""The trainer's course page: the participants table in pages of 50 with a name search, and its figures (attended,
watched, responded) and the participation table, each computed in SQL."""

from __future__ import annotations

import pytest

from courses import services as courses
from tests.dashboard.helpers import cells as _cells


def _names(html: str) -> list[str]:
    return [row[0] for row in _cells(html, "participants")] if 'id="participants"' in html else []


@pytest.fixture
def fifty_five(db, course):
    for i in range(55):
        courses.enrol(course, courses.add_parent(name=f"Ouder {i:02d}", email=f"ouder{i}@example.org"))
    db.session.commit()
    return course


def test_course_page_shows_fifty_parents_per_page_with_links_to_the_others(client, auth, trainer, fifty_five):
    auth.login(trainer.email)

    first = client.get(f"/courses/{fifty_five.id}").get_data(as_text=True)
    second = client.get(f"/courses/{fifty_five.id}?page=2").get_data(as_text=True)

    assert _names(first) == [f"Ouder {i:02d}" for i in range(50)]
    assert _names(second) == [f"Ouder {i:02d}" for i in range(50, 55)]
    assert f'href="/courses/{fifty_five.id}?page=2#parents-heading"' in first
    assert "Pagina 2 van 2" in second


def test_course_page_search_finds_parents_by_part_of_their_name(client, auth, trainer, fifty_five):
    auth.login(trainer.email)

    found = client.get(f"/courses/{fifty_five.id}?q=ouder+5").get_data(as_text=True)
    literal = client.get(f"/courses/{fifty_five.id}?q=%25").get_data(as_text=True)

    assert _names(found) == [f"Ouder {i}" for i in range(50, 55)]
    assert 'value="ouder 5"' in found and "page=2" not in found
    assert _names(literal) == [] and "Niets gevonden." in literal


def test_course_page_search_box_only_appears_beyond_one_page(client, auth, trainer, course, create_parent):
    create_parent("Sanne", course=course)
    auth.login(trainer.email)

    html = client.get(f"/courses/{course.id}").get_data(as_text=True)

    assert _names(html) == ["Sanne"]
    assert 'role="search"' not in html


def test_course_page_figures_per_parent_count_only_sessions_and_requests_they_were_invited_to(
        client, auth, trainer, figures_course):
    auth.login(trainer.email)

    html = client.get(f"/courses/{figures_course.id}").get_data(as_text=True)

    assert [[row[0], *row[3:6]] for row in _cells(html, "participants")] == [
        ["Anna", "1 keer, 35 min", "1 van 2, 2 min", "2 van 2"],  # a click on the second date: not present
        ["Bram", "1 keer, 50 min", "0 van 2, 0 min", "0 van 2"],
        ["Cees", "nee", "1 van 2, 1 min", "0 van 1"]]


def test_course_page_participation_counts_invited_attended_watched_and_responded_per_session(
        client, auth, trainer, figures_course):
    auth.login(trainer.email)

    html = client.get(f"/courses/{figures_course.id}").get_data(as_text=True)

    assert [row[1:] for row in _cells(html, "participation")] == [["2 van 3", "1 van 3", "—"],
                                                                  ["0 van 2", "0 van 2", "1 van 2"]]
