"""Home activities: the trainer makes them (texts, translations, pictures, a clip, a request), parents see them
on the route map in their language, with the parents' meetups; the API lists activities and responses."""

from __future__ import annotations

import io
import json
import re
from datetime import date

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from activities import answers
from activities.models import ActivityMedia, HomeActivity, MediaKind, MediaState
from core.extensions import db as _db
from sessions.models import SessionKind
from tests.activities.helpers import all_objects, make_activity, make_family, photo_with_gps, post_answer


def _post_form(client, url: str, fields: dict, files: list[tuple[str, bytes, str]] = ()):
    form = MultiDict(fields)
    for name, data, filename in files:
        form.add(name, FileStorage(io.BytesIO(data), filename=filename))
    boundary, body = encode_multipart(form)
    return client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")


FIELDS = {"title": "Voorlezen met een knuffel", "body": "Lees een boek voor aan de knuffel.", "session_id": "0",
          "request_kinds": ["photo", "voice"], "request_text": "Stuur een foto van de knuffel.",
          "due_on": "2030-03-12", "title_ar": "القراءة مع دمية", "body_ar": "اقرأ كتابًا للدمية.",
          "request_text_ar": "أرسل صورة للدمية."}


def _fields(**changes) -> MultiDict:
    fields = MultiDict({k: v for k, v in FIELDS.items() if k != "request_kinds"})
    for kind in changes.pop("request_kinds", FIELDS["request_kinds"]):
        fields.add("request_kinds", kind)
    for key, value in changes.items():
        fields[key] = value
    return fields


def test_trainer_creates_an_activity_with_translation_and_a_picture_without_metadata(
        client, auth, trainer, course, local_storage):
    auth.login(trainer.email)

    response = _post_form(client, f"/courses/{course.id}/activities/new", _fields(),
                          [("images", photo_with_gps(), "knuffel.jpg")])

    [activity] = _db.session.query(HomeActivity).all()
    [picture] = activity.media
    with local_storage.open(picture.media_key) as fh:
        stored = Image.open(io.BytesIO(fh.read()))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/courses/{course.id}/activities/{activity.id}"
    assert (activity.title, [k.value for k in activity.requested], activity.due_on, activity.session_id) == (
        "Voorlezen met een knuffel", ["photo", "voice"], date(2030, 3, 12), None)
    assert activity.translations == {"ar": {"title": "القراءة مع دمية", "body": "اقرأ كتابًا للدمية.",
                                            "request_text": "أرسل صورة للدمية."}}
    assert (picture.kind, picture.state, dict(stored.getexif()), stored.size) == (
        MediaKind.image, MediaState.ready, {}, (600, 800))
    assert all_objects(local_storage) == [picture.media_key]
    assert picture.media_key.startswith(f"orgs/{course.organisation_id}/courses/{course.id}/activities/{activity.uuid}/media/")


def test_activity_form_with_a_corrupt_picture_keeps_nothing(client, auth, trainer, course, local_storage):
    auth.login(trainer.email)

    response = _post_form(client, f"/courses/{course.id}/activities/new", _fields(),
                          [("images", photo_with_gps(), "goed.jpg"), ("images", photo_with_gps()[:300], "kapot.jpg")])

    assert response.status_code == 400
    assert "Deze foto is kapot en gaat niet open. Maak een nieuwe foto." in response.get_data(as_text=True)
    assert (_db.session.query(HomeActivity).count(), all_objects(local_storage)) == (0, [])


def test_due_date_without_a_request_is_refused(client, auth, trainer, course):
    auth.login(trainer.email)

    response = _post_form(client, f"/courses/{course.id}/activities/new", _fields(request_kinds=[]))

    assert response.status_code == 400
    assert "Een inleverdatum hoort bij een vraag" in response.get_data(as_text=True)
    assert _db.session.query(HomeActivity).count() == 0


def test_edit_changes_texts_and_delete_removes_rows_and_objects(client, auth, trainer, course, local_storage):
    family = make_family(course)
    activity = make_activity(course)
    post_answer(client, family["Sanne"][1], activity, data=photo_with_gps())
    auth.login(trainer.email)
    base = f"/courses/{course.id}/activities/{activity.id}"

    edited = _post_form(client, f"{base}/edit", _fields(title="Nieuwe titel"))
    _db.session.expire_all()
    title = _db.session.get(HomeActivity, activity.id).title
    deleted = client.post(f"{base}/delete")

    assert (edited.status_code, title, deleted.status_code) == (302, "Nieuwe titel", 302)
    assert (_db.session.query(HomeActivity).count(), all_objects(local_storage)) == (0, [])


@pytest.mark.adapter
def test_activity_clip_goes_through_the_small_transcode(client, auth, trainer, course, local_storage, clip_360p):
    auth.login(trainer.email)

    response = _post_form(client, f"/courses/{course.id}/activities/new", _fields(),
                          [("clip", clip_360p.read_bytes(), "uitleg.mp4")])

    [clip] = _db.session.query(ActivityMedia).all()
    folder = clip.media_key.rsplit("/", 1)[0]
    assert response.status_code == 302
    assert (clip.kind, clip.state, clip.content_type) == (MediaKind.clip, MediaState.ready, "video/mp4")
    assert all_objects(local_storage) == [f"{folder}/clip.mp4", f"{folder}/poster.jpg"]


def _home_cards(html: str) -> list[str]:
    section = html.split('id="home-heading"')[1].split('id="meet-heading"')[0]
    return re.findall(r"<h3>(?:<bdi>)?(.*?)(?:</bdi>)?</h3>", section)


def test_route_map_shows_activities_in_the_parents_language_open_ones_first_and_meetups(
        client, course, create_workshop_session, local_storage):
    family = make_family(course)
    make_activity(course, title="Oud", kinds=())
    open_one = make_activity(course, title="Knuffel", due_on=date(2030, 3, 12),
                             translations={"ar": {"title": "الدمية"}})
    create_workshop_session(title="Koffie met ouders", kind=SessionKind.parents_meetup)

    arabic = client.get(f"/p/{family['Amal'][1]}").get_data(as_text=True)
    dutch = client.get(f"/p/{family['Sanne'][1]}").get_data(as_text=True)

    assert _home_cards(arabic) == ["الدمية", "Oud"]
    assert _home_cards(dutch) == ["Knuffel", "Oud"]
    assert "المدرب يودّ أن يتلقى شيئًا منك." in arabic
    assert f"/p/{family['Amal'][1]}/activities/{open_one.id}" in arabic
    assert "Knuffel" in dutch and "Graag voor 12 maart 2030" in dutch
    meetups = dutch.split('id="meet-heading"')[1].split("</section>")[0]
    assert re.findall(r"<h3>(?:<bdi>)?(.*?)(?:</bdi>)?</h3>", meetups) == ["Koffie met ouders"]
    assert "Naar de ouderbijeenkomst" in meetups


def test_route_map_marks_an_answered_activity_and_a_trainer_reply(client, course, trainer, local_storage):
    family = make_family(course)
    activity = make_activity(course, title="Knuffel")
    sanne, token = family["Sanne"]
    post_answer(client, token, activity, text="Gedaan!")
    answers.add_reply(activity, sanne, author=trainer, text="Mooi zo")
    _db.session.commit()

    html = client.get(f"/p/{token}").get_data(as_text=True)
    page = client.get(f"/p/{token}/activities/{activity.id}").get_data(as_text=True)

    assert "Je hebt geantwoord. Dank je wel!" in html
    assert "De trainer heeft je geantwoord." in html
    assert page.index("Gedaan!") < page.index("Mooi zo")


def _api(client, trainer_token: str, path: str):
    return client.get(f"/api/v1{path}", headers={"Authorization": f"Bearer {trainer_token}"})


def test_api_lists_activities_and_responses_of_own_courses_only(client, course, trainer, create_user, local_storage):
    from accounts.services import create_api_token

    family = make_family(course)
    activity = make_activity(course, title="Knuffel")
    post_answer(client, family["Sanne"][1], activity, data=photo_with_gps(), text="Hier")
    token, stranger = create_api_token(trainer)[1], create_api_token(create_user("x@example.org"))[1]
    _db.session.commit()

    listed = _api(client, token, f"/courses/{course.id}/activities").get_json()
    responses = _api(client, token, f"/courses/{course.id}/responses").get_json()["responses"]
    refused = [_api(client, stranger, f"/courses/{course.id}/{what}").status_code
               for what in ("activities", "responses")]

    assert [(a["id"], a["title"], a["request_kinds"], a["responded"], a["asked"]) for a in listed["activities"]] == [
        (activity.id, "Knuffel", ["photo", "clip", "voice", "text"], 1, 3)]
    assert [(r["parent_id"], r["kind"], r["text"], r["state"]) for r in responses] == [
        (family["Sanne"][0].id, "photo", "Hier", "ready")]
    assert responses[0]["media_url"].startswith("http://ouderkamer.test/media/orgs/")
    assert refused == [404, 404]


def test_demo_adds_one_activity_with_a_request_and_one_text_answer_idempotently(runner, client):
    from activities.models import ActivityResponse

    runs = [runner.invoke(args=["demo", "--json", "--no-recording"]) for _ in range(2)]
    info = json.loads(runs[1].output)["activity"]
    parent_page = client.get(info["response_pages"][str(json.loads(runs[1].output)["parents"][0]["id"])]
                             .removeprefix("http://ouderkamer.test"))

    assert [r.exit_code for r in runs] == [0, 0]
    assert (_db.session.query(HomeActivity).count(), _db.session.query(ActivityResponse).count()) == (1, 1)
    assert [k.value for k in _db.session.get(HomeActivity, info["id"]).requested] == ["photo", "voice", "text"]
    assert parent_page.status_code == 200
    assert "Hij wees alle dieren aan!" in parent_page.get_data(as_text=True)
