"""The trainer's inbox per activity: who answered and who did not, replies, nudges; the course page's figures."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask_babel import force_locale
from flask_babel import gettext as _

from activities import answers, tasks
from activities.models import ActivityNudge, ActivityReply
from core.db import utcnow
from core.extensions import db as _db
from tests.activities.helpers import make_activity, make_family, photo_with_gps, post_answer


@pytest.fixture
def family(db, course):
    return make_family(course)


@pytest.fixture
def activity(db, course):
    return make_activity(course, title="Knuffel", translations={"ar": {"title": "الدمية"}, "tr": {"title": "Oyuncak"}})


def _section(html: str, heading_id: str) -> str:
    return html.split(f'id="{heading_id}"')[1].split("</section>")[0]


def test_inbox_shows_answers_with_their_files_and_who_has_not_answered(client, auth, trainer, family, activity,
                                                                       local_storage):
    sanne, token = family["Sanne"]
    post_answer(client, token, activity, data=photo_with_gps(), text="Onze leeshoek")
    auth.login(trainer.email)

    html = client.get(f"/courses/{activity.course_id}/activities/{activity.id}").get_data(as_text=True)

    answered, waiting = _section(html, "answered-heading"), _section(html, "waiting-heading")
    [answer] = answers.responses_of(activity)
    assert re.findall(r"<h3>(.*?)</h3>", answered) == ["Sanne"]
    assert "Onze leeshoek" in answered
    assert f"/responses/{answer.id}/file" in answered
    assert re.findall(r'<li id="parent-\d+">(\w+)', waiting) == ["Amal", "Elif"]


def test_reply_is_shown_to_that_parent_only(client, auth, trainer, family, activity, local_storage):
    (sanne, sanne_token), (_amal, amal_token) = family["Sanne"], family["Amal"]
    post_answer(client, sanne_token, activity, text="Gedaan")
    auth.login(trainer.email)

    response = client.post(f"/courses/{activity.course_id}/activities/{activity.id}/parents/{sanne.id}/reply",
                           data={"text": "Wat een mooie leeshoek!"})

    assert response.status_code == 302
    assert [r.text for r in _db.session.query(ActivityReply)] == ["Wat een mooie leeshoek!"]
    assert "Wat een mooie leeshoek!" in client.get(f"/p/{sanne_token}/activities/{activity.id}").get_data(as_text=True)
    assert "Wat een mooie leeshoek!" not in client.get(f"/p/{amal_token}/activities/{activity.id}").get_data(
        as_text=True)


def _expected(language: str, message: str, **values) -> str:
    with force_locale(language):
        return _(message, **values)


def test_nudge_sends_one_message_per_non_responder_in_their_language(app, client, auth, trainer, family, activity,
                                                                    outboxes, local_storage):
    mails, texts = outboxes
    post_answer(client, family["Sanne"][1], activity, text="Gedaan")
    auth.login(trainer.email)

    response = client.post(f"/courses/{activity.course_id}/activities/{activity.id}/nudge", data={"confirmed": "1"})

    assert response.status_code == 302
    assert [m["To"] for m in mails] == ["elif@example.org"]
    assert [t.to_e164 for t in texts] == [family["Amal"][0].phone]
    with app.test_request_context():
        subject = _expected("tr", "Een vraag van je cursus: %(title)s", title="Oyuncak")
        sms_text = _expected("ar", "Ouderkamer: je trainer wacht op je antwoord op %(title)s:", title="الدمية")
    assert mails[0]["Subject"] == subject
    assert "Bir fotoğraf, bir video" in mails[0].get_body(("plain",)).get_content()
    assert texts[0].text.startswith(sms_text)
    link = texts[0].text.rsplit(" ", 1)[1]
    assert client.get(link.removeprefix("http://ouderkamer.test")).status_code == 200
    assert sorted(n.sent_at is not None for n in _db.session.query(ActivityNudge)) == [True, True]


def test_nudge_again_soon_sends_nothing_and_a_rerun_task_sends_nothing(client, auth, trainer, family, activity,
                                                                       outboxes):
    mails, texts = outboxes
    auth.login(trainer.email)
    client.post(f"/courses/{activity.course_id}/activities/{activity.id}/nudge", data={"confirmed": "1"})
    sent = (len(mails), len(texts))

    again = client.post(f"/courses/{activity.course_id}/activities/{activity.id}/nudge", data={"confirmed": "1"},
                        follow_redirects=True)
    for nudge in _db.session.query(ActivityNudge):
        tasks.send_nudge.call_local(nudge.id)

    assert sent == (2, 1)
    assert (len(mails), len(texts)) == (2, 1)
    assert "Er is niemand om te herinneren" in again.get_data(as_text=True)


def test_nudge_after_the_pause_reminds_again(db, family, activity, outboxes):
    mails, texts = outboxes
    first = answers.nudge(activity, now=utcnow() - answers.NUDGE_PAUSE - timedelta(minutes=1))
    _db.session.commit()

    second = answers.nudge(activity)
    _db.session.commit()

    assert (len(first), len(second)) == (3, 3)
    assert (len(mails), len(texts)) == (4, 2)


def test_course_page_shows_responded_figures_per_parent_and_per_session(client, auth, trainer, course, family,
                                                                       create_workshop_session):
    session = create_workshop_session(title="Samen lezen", starts_at=utcnow() - timedelta(hours=2), allow_past=True)
    first = make_activity(course, title="Een")
    make_activity(course, title="Twee", session_id=session.id)
    make_activity(course, title="Info", kinds=())
    post_answer(client, family["Sanne"][1], first, text="Klaar")
    auth.login(trainer.email)

    html = client.get(f"/courses/{course.id}").get_data(as_text=True)

    rows = {m[0]: m[1] for m in re.findall(r"<td>(\w+)</td><td>\w+</td>.*?</td>\s*<td>.*?</td>\s*<td>.*?</td>\s*"
                                           r"<td>(.*?)</td>", html, re.S)}
    participation = _section(html, "participation-heading")
    assert rows == {"Amal": "0 van 2", "Elif": "0 van 2", "Sanne": "1 van 2"}
    assert re.findall(r"Samen lezen</td>.*?<td>.*?</td>\s*<td>.*?</td>\s*<td>(.*?)</td>", participation, re.S) == [
        '<meter min="0" max="3" value="0" aria-hidden="true"></meter> 0 van 3']
