"""Links that forgive: what SMS, WhatsApp and mail add to a link still opens it; a dead link answers in the
browser's language with a next step; guesses from one address never block a valid link."""

from __future__ import annotations

import pytest

from core.extensions import db as _db
from core.extensions import limiter
from courses.links import issue_personal_link, parent_feed_token, revoke_access

pytestmark = pytest.mark.unit

TOKEN = "forgiving-parent-link-" + "f" * 24
SCHOOL = {"REMOTE_ADDR": "198.51.100.7"}


@pytest.fixture
def parent(create_parent, course):
    parent = create_parent(course=course)
    issue_personal_link(parent, token=TOKEN)
    _db.session.commit()
    return parent


@pytest.fixture
def limits_on(app, monkeypatch):
    """Flask-Limiter on, with the configured defaults (30 misses a minute per address), on fresh memory storage."""
    monkeypatch.setitem(app.config, "RATELIMIT_ENABLED", True)
    monkeypatch.setitem(app.config, "RATELIMIT_STORAGE_URI", "memory://")
    limiter.init_app(app)
    yield
    limiter.enabled = False


@pytest.mark.parametrize("suffix", [".", ")", "/", "%20", ">", "%0A", ").", "%3E"])
def test_a_link_with_what_messages_add_opens_the_route_map(client, parent, suffix):
    response = client.get(f"/p/{TOKEN}{suffix}")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'href="/p/{TOKEN}/export.json"' in html or f"/p/{TOKEN}/" in html  # the page's own links are clean


def test_a_calendar_link_with_a_trailing_bracket_still_serves_the_feed(client, parent):
    response = client.get(f"/c/{parent_feed_token(parent)}.ics)")

    assert (response.status_code, response.mimetype) == (200, "text/calendar")


@pytest.mark.parametrize(("accept", "lang", "direction", "words"), [
    ("ar,en;q=0.5", "ar", "rtl", "اطلب"),
    ("tr-TR,tr;q=0.9", "tr", "ltr", "Eğitmeninizden yeni bir bağlantı"),
    ("nl-NL", "nl", "ltr", "Vraag je trainer"),
    ("en-GB,en;q=0.8", "en", "ltr", "Ask your trainer"),
])
def test_a_dead_link_answers_404_in_the_browsers_language_with_a_next_step(client, parent, accept, lang,
                                                                           direction, words):
    response = client.get("/p/an-old-link-" + "x" * 30, headers={"Accept-Language": accept})

    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert f'<html lang="{lang}" dir="{direction}">' in html
    assert words in html


def test_a_revoked_link_answers_the_same_dead_link_page(client, parent):
    revoke_access(parent)
    _db.session.commit()

    response = client.get(f"/p/{TOKEN}", headers={"Accept-Language": "tr"})

    assert response.status_code == 404
    assert "Eğitmeninizden yeni bir bağlantı" in response.get_data(as_text=True)


def test_forty_wrong_links_from_one_address_never_block_the_right_one(client, parent, limits_on):
    misses = [client.get(f"/p/guess{n:040d}", environ_base=SCHOOL).status_code for n in range(40)]
    right = client.get(f"/p/{TOKEN}", environ_base=SCHOOL)
    right_with_a_full_stop = client.get(f"/p/{TOKEN}.", environ_base=SCHOOL)

    assert misses == [404] * 30 + [429] * 10  # guessing is still limited (RATELIMIT_LINK_MISSES, 30 a minute)
    assert (right.status_code, right_with_a_full_stop.status_code) == (200, 200)


def test_a_removed_page_behind_a_working_link_names_the_organisation(client, parent):
    organisation = parent.organisation.sender_name or parent.organisation.name

    response = client.get(f"/p/{TOKEN}/watch/no-such-recording", headers={"Accept-Language": "en"})

    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert f"Ask your trainer at <bdi>{organisation}</bdi> for a new link." in html
