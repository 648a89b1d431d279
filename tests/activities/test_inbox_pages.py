"""The inbox of a course with many parents: 50 parents per page, a name search, and totals over all of them."""

from __future__ import annotations

import re

import pytest

from activities.models import ActivityResponse, ResponseKind
from courses import services as courses
from tests.activities.helpers import make_activity


def _section(html: str, heading_id: str) -> str:
    return html.split(f'id="{heading_id}"')[1].split("</section>")[0]


def _answered(html: str) -> list[str]:
    return re.findall(r"<h3>(.*?)</h3>", _section(html, "answered-heading"))


def _waiting(html: str) -> list[str]:
    return [name.strip() for name in re.findall(r'<li id="parent-\d+">([^<\n]+)', _section(html, "waiting-heading"))]


@pytest.fixture
def activity(db, course):
    parents = [courses.add_parent(name=f"Ouder {i:02d}", email=f"ouder{i}@example.org") for i in range(55)]
    for parent in parents:
        courses.enrol(course, parent)
    activity = make_activity(course, kinds=("text",))
    for n in (0, 1, 52):
        db.session.add(ActivityResponse(activity_id=activity.id, parent_id=parents[n].id, kind=ResponseKind.text,
                                        text="Gedaan", client_key=f"answer-{n}-" + "k" * 16))
    db.session.commit()
    return activity


def test_inbox_shows_fifty_parents_per_page_with_the_totals_of_all(client, auth, trainer, activity):
    auth.login(trainer.email)
    url = f"/courses/{activity.course_id}/activities/{activity.id}"

    first, second = (client.get(f"{url}?page={n}").get_data(as_text=True) for n in (1, 2))

    assert (_answered(first), len(_waiting(first))) == (["Ouder 00", "Ouder 01"], 48)
    assert (_answered(second), _waiting(second)) == (["Ouder 52"], ["Ouder 50", "Ouder 51", "Ouder 53", "Ouder 54"])
    assert "Antwoorden (3)" in first and "Nog geen antwoord (52)" in first and "Antwoorden (3)" in second
    assert f'href="{url}?page=2"' in first


def test_inbox_search_shows_only_parents_whose_name_matches(client, auth, trainer, activity):
    auth.login(trainer.email)
    url = f"/courses/{activity.course_id}/activities/{activity.id}"

    html = client.get(f"{url}?q=OUDER+5").get_data(as_text=True)

    assert (_answered(html), _waiting(html)) == (["Ouder 52"], ["Ouder 50", "Ouder 51", "Ouder 53", "Ouder 54"])
    assert 'value="OUDER 5"' in html
