"""A parent answers a home activity: photos without metadata, voice as AAC, clips small, retries once, bad files."""

from __future__ import annotations

import io
import json
import subprocess

import pytest
from flask_babel import force_locale
from PIL import Image

from activities.media import MSG_CORRUPT, MSG_EMPTY, MSG_NOT_ASKED, MSG_NOT_MEDIA
from activities.models import ActivityResponse, MediaState, ResponseKind
from core.extensions import db as _db
from courses.models import Parent
from parents import privacy
from parents import tasks as parent_tasks
from tests.activities.helpers import (
    all_objects,
    make_activity,
    make_family,
    noisy_photo,
    photo_with_gps,
    post_answer,
    voice_webm,
)
from tests.fixtures.services import need_program


@pytest.fixture
def family(db, course):
    return make_family(course)


@pytest.fixture
def activity(db, course):
    return make_activity(course)


def _responses() -> list[ActivityResponse]:
    _db.session.expire_all()
    return list(_db.session.query(ActivityResponse).order_by(ActivityResponse.id))


def _fetch(client, url: str) -> bytes:
    with client.get(url) as response:  # a file response: close it
        return response.data


def _read(storage, key: str) -> bytes:
    with storage.open(key) as fh:
        return fh.read()


def test_photo_with_gps_exif_is_stored_without_any_metadata(client, local_storage, family, activity):
    sanne, token = family["Sanne"]

    response = post_answer(client, token, activity, data=photo_with_gps(), text="Onze leeshoek")

    [answer] = _responses()
    stored = _read(local_storage, answer.media_key)
    image = Image.open(io.BytesIO(stored))
    assert response.status_code == 303
    assert (answer.kind, answer.state, answer.text, answer.parent_id) == (ResponseKind.photo, MediaState.ready,
                                                                          "Onze leeshoek", sanne.id)
    assert answer.media_key == (f"orgs/{activity.course.organisation_id}/courses/{activity.course_id}/activities/{activity.uuid}/responses/{sanne.id}/"
                                f"{answer.uuid}/photo.jpg")
    assert all_objects(local_storage) == [answer.media_key]
    assert (image.format, image.size) == ("JPEG", (600, 800))  # the EXIF orientation was applied
    assert dict(image.getexif()) == {}
    assert sorted(image.info) == ["jfif", "jfif_density", "jfif_unit", "jfif_version"]
    assert (b"Exif" in stored, b"PhoneMaker" in stored, b"taken at home" in stored, b"ICC_PROFILE" in stored) == \
        (False, False, False, False)


@pytest.mark.adapter
def test_30_mb_photo_is_stored_under_the_size_and_byte_caps(app, client, local_storage, family, activity):
    _sanne, token = family["Sanne"]
    big = noisy_photo(30 * 1024 * 1024)

    response = post_answer(client, token, activity, data=big)

    [answer] = _responses()
    stored = _read(local_storage, answer.media_key)
    assert response.status_code == 303
    assert len(big) >= 30 * 1024 * 1024
    assert len(stored) == answer.size <= app.config["PHOTO_MAX_BYTES"]
    assert max(Image.open(io.BytesIO(stored)).size) <= app.config["PHOTO_MAX_SIDE"]


@pytest.mark.adapter
def test_voice_message_is_stored_as_mono_aac(client, local_storage, family, activity, tmp_path):
    _amal, token = family["Amal"]
    recorded = voice_webm(tmp_path / "rec.webm").read_bytes()

    response = post_answer(client, token, activity, data=recorded, filename="spraakbericht.webm")

    [answer] = _responses()
    local = tmp_path / "stored.m4a"
    local.write_bytes(_read(local_storage, answer.media_key))
    probe = subprocess.run([need_program("ffprobe"), "-v", "error", "-show_entries", "stream=codec_name,channels",
                            "-of", "json", str(local)], capture_output=True, text=True, check=True)
    assert response.status_code == 303
    assert (answer.kind, answer.content_type, answer.media_key.rsplit("/", 1)[1]) == (ResponseKind.voice,
                                                                                      "audio/mp4", "voice.m4a")
    assert json.loads(probe.stdout)["streams"] == [{"codec_name": "aac", "channels": 1}]
    assert 1.5 < answer.duration_s < 2.5


@pytest.mark.adapter
def test_clip_is_transcoded_to_a_small_mp4_and_the_original_removed(client, local_storage, family, activity,
                                                                     clip_360p):
    _elif, token = family["Elif"]

    response = post_answer(client, token, activity, data=clip_360p.read_bytes(), filename="filmpje.mp4")

    [answer] = _responses()
    folder = answer.media_key.rsplit("/", 1)[0]
    assert response.status_code == 303
    assert (answer.kind, answer.state, answer.content_type) == (ResponseKind.clip, MediaState.ready, "video/mp4")
    assert all_objects(local_storage) == [f"{folder}/clip.mp4", f"{folder}/poster.jpg"]
    assert answer.poster_key == f"{folder}/poster.jpg"


def test_text_answer_needs_no_file(client, local_storage, family, activity):
    _sanne, token = family["Sanne"]

    response = post_answer(client, token, activity, text="We lazen elke avond samen.")

    [answer] = _responses()
    assert response.status_code == 303
    assert (answer.kind, answer.text, answer.media_key) == (ResponseKind.text, "We lazen elke avond samen.", None)
    assert "We lazen elke avond samen." in client.get(f"/p/{token}/activities/{activity.id}").get_data(as_text=True)


def test_retried_post_with_the_same_key_stores_one_answer(client, local_storage, family, activity):
    _sanne, token = family["Sanne"]
    photo = photo_with_gps()

    first = post_answer(client, token, activity, data=photo, as_json=True)
    again = post_answer(client, token, activity, data=photo, as_json=True)

    assert (first.status_code, again.status_code) == (201, 201)
    assert first.get_json() == again.get_json() == {"url": f"/p/{token}/activities/{activity.id}#thread"}
    assert len(_responses()) == 1
    assert len(all_objects(local_storage)) == 1


def test_page_gives_each_render_a_fresh_idempotency_key(client, family, activity):
    _sanne, token = family["Sanne"]

    keys = [client.get(f"/p/{token}/activities/{activity.id}").get_data(as_text=True).split(
        'name="client_key" type="hidden" value="')[1].split('"')[0] for _ in range(2)]

    assert len(set(keys)) == 2
    assert all(len(k) >= 16 for k in keys)


def _in(language: str, message) -> str:
    with force_locale(language):
        return str(message)


BAD_UPLOADS = {
    "wrong type": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n", "brief.pdf", MSG_NOT_MEDIA),
    "zero bytes": (b"", "leeg.jpg", MSG_EMPTY),
    "corrupt image": (photo_with_gps()[:400], "kapot.jpg", MSG_CORRUPT),
    "clip that is not media": (b"Dit is geen video, maar een boodschappenlijstje.\n" * 20, "film.mp4", MSG_NOT_MEDIA),
}


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
@pytest.mark.parametrize("as_json", [False, True])
def test_bad_upload_gets_a_message_in_the_parents_language_and_stores_nothing(
        app, client, local_storage, family, activity, case, as_json):
    _amal, token = family["Amal"]  # reads Arabic
    data, filename, message = BAD_UPLOADS[case]

    response = post_answer(client, token, activity, data=data, filename=filename, as_json=as_json)

    with app.test_request_context():
        expected = _in("ar", message)
    assert expected != _in("nl", message)
    assert response.status_code == 400
    if as_json:
        assert response.get_json() == {"error": expected}
    else:
        assert expected in response.get_data(as_text=True)
        assert 'dir="rtl"' in response.get_data(as_text=True)
    assert (_responses(), all_objects(local_storage)) == ([], [])


def test_too_large_upload_gets_the_limit_in_the_parents_language_and_stores_nothing(
        app, client, local_storage, family, activity, monkeypatch):
    monkeypatch.setitem(app.config, "RESPONSE_MAX_UPLOAD_BYTES", 2 * 1024 * 1024)
    _elif, token = family["Elif"]  # reads Turkish

    page = post_answer(client, token, activity, data=b"\xff\xd8\xff" + b"x" * (2 * 1024 * 1024))
    api = post_answer(client, token, activity, data=b"x" * (2 * 1024 * 1024 + 1), as_json=True)

    assert (page.status_code, api.status_code) == (400, 400)
    assert "Bu dosya çok büyük. En fazla 2 MB olabilir." in page.get_data(as_text=True)
    assert api.get_json() == {"error": "Bu dosya çok büyük. En fazla 2 MB olabilir."}
    assert (_responses(), all_objects(local_storage)) == ([], [])


def test_body_over_the_request_limit_is_refused_before_reading(app, client, local_storage, family, activity,
                                                                monkeypatch):
    monkeypatch.setitem(app.config, "RESPONSE_MAX_UPLOAD_BYTES", 1024 * 1024)
    _sanne, token = family["Sanne"]

    response = post_answer(client, token, activity, data=b"y" * (3 * 1024 * 1024), as_json=True)

    assert response.status_code == 413
    assert response.get_json() == {"error": "Dit bestand is te groot. Het mag niet groter zijn dan 1 MB."}
    assert (_responses(), all_objects(local_storage)) == ([], [])


def test_kind_the_trainer_did_not_ask_for_is_refused(app, client, local_storage, family, course):
    voice_only = make_activity(course, kinds=("voice",))
    _sanne, token = family["Sanne"]

    response = post_answer(client, token, voice_only, data=photo_with_gps(), as_json=True)

    with app.test_request_context():
        assert response.get_json() == {"error": _in("nl", MSG_NOT_ASKED["photo"])}
    assert (_responses(), all_objects(local_storage)) == ([], [])


def test_activity_without_a_request_shows_no_form_and_takes_no_answer(client, local_storage, family, course):
    info = make_activity(course, kinds=())
    _sanne, token = family["Sanne"]

    page = client.get(f"/p/{token}/activities/{info.id}").get_data(as_text=True)
    response = post_answer(client, token, info, text="Hallo", as_json=True)

    assert 'id="answer-form"' not in page
    assert response.get_json() == {"error": "Bij deze opdracht hoef je niets terug te sturen."}
    assert _responses() == []


def test_parent_deletes_their_own_answer_and_its_file(client, local_storage, family, activity):
    _sanne, token = family["Sanne"]
    post_answer(client, token, activity, data=photo_with_gps())
    [answer] = _responses()

    response = client.post(f"/p/{token}/activities/{activity.id}/responses/{answer.id}/delete")

    assert response.status_code == 303
    assert (_responses(), all_objects(local_storage)) == ([], [])


def test_deleting_the_parents_data_removes_their_answer_files(client, local_storage, family, activity):
    _sanne, token = family["Sanne"]
    post_answer(client, token, activity, data=photo_with_gps())
    [answer] = _responses()
    export, name = client.get(f"/p/{token}/export.json").get_json(), f"antwoorden/{answer.id}-photo.jpg"

    client.post(f"/p/{token}/delete")  # a request: deleted by the periodic task after the grace period
    kept = (len(_responses()), len(all_objects(local_storage)))
    sanne = _db.session.get(Parent, _sanne.id)
    sanne.deletion_requested_at -= privacy.GRACE
    _db.session.commit()
    parent_tasks.delete_requested_parents.call_local()

    assert (export["home_activity_responses"][0]["file"], export["files"]) == (name, [name])
    assert kept == (1, 1)
    assert (_responses(), all_objects(local_storage)) == ([], [])


def _paths(token: str, activity, response) -> dict[str, str]:
    base = f"/p/{token}/activities/{activity.id}"
    return {"file": f"{base}/responses/{response.id}/file", "poster": f"{base}/responses/{response.id}/poster"}


def test_a_parent_never_sees_another_parents_answer(client, local_storage, family, activity):
    (_sanne, sanne_token), (_amal, amal_token) = family["Sanne"], family["Amal"]
    post_answer(client, sanne_token, activity, data=photo_with_gps(), text="Alleen voor de trainer")
    [answer] = _responses()

    own = client.get(_paths(sanne_token, activity, answer)["file"])
    amal_page = client.get(f"/p/{amal_token}/activities/{activity.id}").get_data(as_text=True)
    theirs = {name: client.get(path).status_code for name, path in _paths(amal_token, activity, answer).items()}
    delete = client.post(f"/p/{amal_token}/activities/{activity.id}/responses/{answer.id}/delete")

    assert own.status_code == 302
    assert own.headers["Location"].startswith(f"/media/{answer.media_key}?")
    assert _fetch(client, own.headers["Location"]) == _read(local_storage, answer.media_key)
    assert ("Alleen voor de trainer" in amal_page, f"/responses/{answer.id}/" in amal_page,
            answer.uuid in amal_page) == (False, False, False)
    assert (theirs, delete.status_code) == ({"file": 404, "poster": 404}, 404)
    assert len(_responses()) == 1


def test_a_signed_media_url_cannot_be_bent_to_another_object(client, local_storage, family, activity):
    _sanne, token = family["Sanne"]
    post_answer(client, token, activity, data=photo_with_gps(), key="first-answer-" + "b" * 20)
    post_answer(client, token, activity, text="nog een", key="second-answer-" + "c" * 20)
    first = _responses()[0]
    signed = client.get(_paths(token, activity, first)["file"]).headers["Location"]
    query = signed.split("?", 1)[1]

    bent = client.get(f"/media/{first.media_key.rsplit('/', 1)[0]}/other.jpg?{query}")

    assert bent.status_code == 403


def test_other_courses_unknown_links_and_uninvited_parents_get_404(client, local_storage, family, activity,
                                                                  create_course, create_parent,
                                                                  create_workshop_session, course):
    _sanne, sanne_token = family["Sanne"]
    post_answer(client, sanne_token, activity, data=photo_with_gps())
    [answer] = _responses()
    other = create_parent("Olga", course=create_course("Ander"), email="olga@example.org")
    from courses.links import issue_personal_link

    issue_personal_link(other, token="olga-link-" + "o" * 30)
    _db.session.commit()
    one_to_one = create_workshop_session(title="Gesprek", kind=_kind("one_to_one"), invitees=[family["Amal"][0]])
    private = make_activity(course, session_id=one_to_one.id, title="Alleen voor Amal")

    assert client.get(f"/p/olga-link-{'o' * 30}/activities/{activity.id}").status_code == 404
    assert client.get(_paths("olga-link-" + "o" * 30, activity, answer)["file"]).status_code == 404
    assert client.get(f"/p/unknown-{'u' * 30}/activities/{activity.id}").status_code == 404
    assert client.get(f"/p/{sanne_token}/activities/{private.id}").status_code == 404
    assert client.get(f"/p/{family['Amal'][1]}/activities/{private.id}").status_code == 200
    assert "Alleen voor Amal" not in client.get(f"/p/{sanne_token}").get_data(as_text=True)


def _kind(value: str):
    from sessions.models import SessionKind

    return SessionKind(value)


def test_other_courses_trainer_and_strangers_cannot_open_answers(client, auth, local_storage, family, activity,
                                                                 create_user, trainer):
    _sanne, token = family["Sanne"]
    post_answer(client, token, activity, data=photo_with_gps())
    [answer] = _responses()
    base = f"/courses/{activity.course_id}/activities/{activity.id}"
    urls = [base, f"{base}/responses/{answer.id}/file", f"{base}/responses/{answer.id}/poster", f"{base}/edit"]

    logged_out = [client.get(url).status_code for url in urls]
    create_user("ander@example.org", name="Andere Trainer")
    auth.login("ander@example.org")
    stranger = [client.get(url).status_code for url in urls]
    stranger_nudge = client.post(f"{base}/nudge").status_code
    auth.logout()
    auth.login(trainer.email)
    own = client.get(f"{base}/responses/{answer.id}/file")

    assert logged_out == [302, 302, 302, 302]
    assert (stranger, stranger_nudge) == ([403, 403, 403, 403], 403)
    assert own.status_code == 302
    assert _fetch(client, own.headers["Location"]) == _read(local_storage, answer.media_key)


def test_calendar_token_from_a_nudge_opens_the_page_but_not_the_route_map(client, family, activity):
    sanne, _token = family["Sanne"]
    from courses.links import parent_feed_token

    feed_token = parent_feed_token(sanne)
    _db.session.commit()

    page = client.get(f"/p/{feed_token}/activities/{activity.id}")

    assert page.status_code == 200
    assert "Terug naar mijn cursus" not in page.get_data(as_text=True)


@pytest.mark.adapter
def test_photo_answer_on_s3_is_stored_clean_and_served_by_a_presigned_url(client, use_storage, s3_storage, family,
                                                                          activity):
    import requests

    use_storage(s3_storage)
    _sanne, token = family["Sanne"]

    post_answer(client, token, activity, data=photo_with_gps())

    [answer] = _responses()
    location = client.get(_paths(token, activity, answer)["file"]).headers["Location"]
    fetched = requests.get(location, timeout=10)
    assert s3_storage.list("") == [answer.media_key]
    assert (fetched.status_code, fetched.headers["Content-Type"]) == (200, "image/jpeg")
    assert fetched.content == _read(s3_storage, answer.media_key)
    assert dict(Image.open(io.BytesIO(fetched.content)).getexif()) == {}


def test_a_retry_racing_the_first_request_keeps_one_answer_and_one_file(client, local_storage, family, activity,
                                                                        monkeypatch):
    from activities import answers

    _sanne, token = family["Sanne"]
    post_answer(client, token, activity, data=photo_with_gps(), as_json=True)
    # The retry checked for the key before the first request had committed; later lookups see it.
    lookups, real = [], answers.find_response

    def first_lookup_misses(parent, key):
        lookups.append(key)
        return None if len(lookups) == 1 else real(parent, key)

    monkeypatch.setattr(answers, "find_response", first_lookup_misses)

    again = post_answer(client, token, activity, data=photo_with_gps(), as_json=True)

    assert (again.status_code, again.get_json()) == (201, {"url": f"/p/{token}/activities/{activity.id}#thread"})
    assert len(_responses()) == 1
    assert all_objects(local_storage) == [_responses()[0].media_key]
