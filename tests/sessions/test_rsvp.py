"""One-tap answers: a GET never records (link previewers), the page's POST does, the parent can change it, wrong
links answer 404, the page speaks the parent's language at 360 px, and the trainer sees who comes."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask_babel import force_locale
from flask_babel import gettext as _

from accounts import services as accounts
from core.db import utcnow
from courses.links import parent_feed_token, reset_feed_token
from sessions.calendar import local_when
from sessions.calendar_models import Rsvp, RsvpAnswer
from sessions.models import SessionStatus
from sessions.rsvp import rsvp_counts, rsvp_overview, rsvp_urls


def path(url: str) -> str:
    return urlsplit(url).path


def answers(db) -> list[tuple[int, int, RsvpAnswer]]:
    db.session.expire_all()
    return [(r.session_id, r.parent_id, r.answer) for r in db.session.scalars(db.select(Rsvp).order_by(Rsvp.id))]


@pytest.fixture
def parent(db, course, create_parent):
    return create_parent("Sanne", course=course)


@pytest.fixture
def session(create_workshop_session):
    return create_workshop_session(title="Voorlezen", starts_at=utcnow().replace(microsecond=0) + timedelta(days=2))


@pytest.fixture
def links(db, parent, session):
    urls = rsvp_urls(parent, session)
    db.session.commit()
    return {slug: path(url) for slug, url in urls.items()}


def test_links_are_short_personal_and_unguessable(db, links, course, create_parent, session):
    other = rsvp_urls(create_parent("Fatma", course=course, email="fatma@example.net"), session)

    yes = re.fullmatch(r"/r/(\d+)/(\d+)/([A-Za-z0-9_-]{16})/yes", links["yes"])
    assert yes is not None and yes.group(2) == str(session.id)
    assert links["no"] == links["yes"].removesuffix("yes") + "no"
    assert path(other["yes"]) != links["yes"]


def test_get_shows_the_question_but_records_nothing(client, db, links):
    response = client.get(links["yes"])
    head = client.head(links["no"])

    html = response.get_data(as_text=True)
    assert (response.status_code, head.status_code) == (200, 200)
    assert answers(db) == []
    assert f'<form method="post" action="{links["yes"]}" data-auto-submit>' in html
    assert 'src="/static/js/rsvp.js?v=' in html
    assert response.headers["Cache-Control"] == "no-store"


def test_post_records_the_answer_and_shows_it(client, db, links, parent, session):
    response = client.post(links["yes"])
    page = client.get(response.headers["Location"]).get_data(as_text=True)

    assert (response.status_code, path(response.headers["Location"])) == (303, links["yes"])
    assert answers(db) == [(session.id, parent.id, RsvpAnswer.coming)]
    assert "Je hebt gezegd: ik kom. Tot dan!" in page
    assert "data-auto-submit" not in page  # nothing left to send: no loop on reload
    assert f"/c/{parent_feed_token(parent)}/join/{session.id}" in page


def test_parent_can_change_the_answer(client, db, links, parent, session):
    client.post(links["yes"])
    client.post(links["no"])
    client.post(links["no"])

    assert answers(db) == [(session.id, parent.id, RsvpAnswer.not_coming)]
    page = client.get(links["yes"]).get_data(as_text=True)
    assert "Je hebt gezegd: ik kan niet." in page
    assert f'<form method="post" action="{links["yes"]}" data-auto-submit>' in page  # tapping "yes" changes it


@pytest.mark.parametrize("change", ["code", "session", "feed", "answer"])
def test_a_wrong_link_is_404_for_get_and_post(client, db, links, change):
    feed_id, session_id, code, _answer = links["yes"].split("/")[2:]
    other = "B" if code.endswith("A") else "A"  # a different last character, never the right code by chance
    wrong = {"code": f"/r/{feed_id}/{session_id}/{code[:-1]}{other}/yes",
             "session": f"/r/{feed_id}/{int(session_id) + 1}/{code}/yes",
             "feed": f"/r/{int(feed_id) + 1}/{session_id}/{code}/yes",
             "answer": f"/r/{feed_id}/{session_id}/{code}/maybe"}[change]

    assert (client.get(wrong).status_code, client.post(wrong).status_code) == (404, 404)
    assert answers(db) == []


def test_a_reset_calendar_token_revokes_the_links(client, db, links, parent):
    reset_feed_token(parent=parent)
    db.session.commit()

    assert (client.get(links["yes"]).status_code, client.post(links["yes"]).status_code) == (404, 404)


def test_a_parent_not_invited_to_the_session_gets_404(client, db, course, parent, create_parent,
                                                     create_workshop_session):
    other = create_parent("Fatma", course=course, email="fatma@example.net")
    chosen = create_workshop_session(invitees=[other])
    url = path(rsvp_urls(parent, chosen)["yes"])
    db.session.commit()

    assert (client.get(url).status_code, client.post(url).status_code) == (404, 404)
    assert answers(db) == []


def test_a_cancelled_session_takes_no_answers(client, db, links, session):
    session.status = SessionStatus.cancelled
    db.session.commit()

    response = client.post(links["no"])
    page = client.get(links["no"]).get_data(as_text=True)

    assert response.status_code == 303
    assert answers(db) == []
    assert "Deze bijeenkomst is geannuleerd." in page and "<form method=\"post\" action=\"/r/" not in page


def test_post_needs_no_csrf_cookie_because_the_link_is_the_credential(app, client, db, links):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = client.post(links["yes"])
    finally:
        app.config["WTF_CSRF_ENABLED"] = False

    assert response.status_code == 303
    assert [a for *_, a in answers(db)] == [RsvpAnswer.coming]


def test_page_is_in_the_parents_language_and_rtl_for_arabic(app, client, db, parent, session):
    parent.language = "ar"
    db.session.commit()
    url = path(rsvp_urls(parent, session)["no"])
    db.session.commit()

    html = client.get(url).get_data(as_text=True)

    with app.test_request_context(), force_locale("ar"):
        coming, cannot = _("Ik kom"), _("Ik kan niet")
    assert '<html lang="ar" dir="rtl">' in html
    assert coming in html and cannot in html and coming != "Ik kom"
    assert local_when(session, "ar") in html


# --- what the trainer sees ------------------------------------------------------------------------------------


@pytest.fixture
def three_parents(db, course, parent, create_parent, session, client):
    fatma = create_parent("Fatma", course=course, email="fatma@example.net")
    create_parent("Ayse", course=course, email="ayse@example.net")
    yes, no = path(rsvp_urls(parent, session)["yes"]), path(rsvp_urls(fatma, session)["no"])
    db.session.commit()
    assert (client.post(yes).status_code, client.post(no).status_code) == (303, 303)


def test_overview_lists_every_invited_parent_with_the_answer(db, session, three_parents):
    rows = rsvp_overview(session)

    assert [(r.parent.name, r.answer) for r in rows] == [
        ("Ayse", None), ("Fatma", RsvpAnswer.not_coming), ("Sanne", RsvpAnswer.coming)]
    assert rsvp_counts(session.course) == {session.id: {"coming": 1, "not_coming": 1}}


def test_trainer_session_page_shows_who_comes(client, auth, trainer, session, three_parents):
    auth.login(trainer.email)

    html = client.get(f"/sessions/{session.id}").get_data(as_text=True)

    rows = re.findall(r'<tr data-answer="(\w+)">\s*<td>([^<]+)</td>', html)
    assert rows == [("none", "Ayse"), ("not_coming", "Fatma"), ("coming", "Sanne")]
    assert "Komt: 1 · Kan niet: 1 · Nog geen antwoord: 1" in html


def test_course_page_counts_the_answers_per_session(client, auth, trainer, course, three_parents):
    auth.login(trainer.email)

    html = client.get(f"/courses/{course.id}").get_data(as_text=True)

    assert '<span class="rsvp-count">Komt: 1 · Kan niet: 1</span>' in html


def test_session_api_lists_the_answers(client, db, trainer, session, three_parents):
    _row, token = accounts.create_api_token(trainer)
    db.session.commit()

    response = client.get(f"/api/v1/sessions/{session.id}/rsvps", headers={"Authorization": f"Bearer {token}"})

    items = response.get_json()["items"]
    assert response.status_code == 200
    assert [(r["name"], r["answer"]) for r in items] == [("Ayse", None), ("Fatma", "not_coming"), ("Sanne", "coming")]
    assert items[0]["answered_at"] is None and items[2]["answered_at"].endswith("+00:00")


# --- the browser --------------------------------------------------------------------------------------------


def test_browser_sends_the_answer_by_itself_and_fits_360px(db, live_server, page, links, parent, session):
    # A phone's browser is not automated: hide Playwright's navigator.webdriver so the page acts as for a parent.
    page.add_init_script("Object.defineProperty(navigator, 'webdriver', {get: () => false})")

    page.goto(live_server + links["no"])
    page.wait_for_selector("#rsvp-current[data-answer='no']")

    assert answers(db) == [(session.id, parent.id, RsvpAnswer.not_coming)]
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert page.locator("#rsvp-yes").bounding_box()["height"] >= 44


def test_automated_browser_previewing_the_link_records_nothing_until_a_tap(db, live_server, page, links, parent,
                                                                           session):
    page.goto(live_server + links["yes"])
    page.wait_for_load_state("load")

    before = answers(db)
    page.click("#rsvp-yes")
    page.wait_for_selector("#rsvp-current[data-answer='yes']")

    assert before == []
    assert answers(db) == [(session.id, parent.id, RsvpAnswer.coming)]
