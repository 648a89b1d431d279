"""Private playback: who may watch, playlists with short-lived media URLs, local signed URLs, expiry, the player."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from core.db import utcnow
from core.extensions import db as _db
from courses.links import issue_personal_link, revoke_access
from recordings import publish
from recordings.models import Recording
from recordings.playback import rewrite_playlist

TOKEN = "parent-link-token-" + "a" * 24
OTHER_TOKEN = "other-parent-token-" + "b" * 24
TTL = 300


@pytest.fixture
def parent(create_parent, course):
    parent = create_parent(course=course)
    issue_personal_link(parent, token=TOKEN)
    _db.session.commit()
    return parent


def _uris(playlist: str) -> list[str]:
    uris = re.findall(r'URI="([^"]*)"', playlist)
    return uris + [line for line in playlist.splitlines() if line and not line.startswith("#")]


def _watch(recording: Recording, token: str = TOKEN) -> str:
    return f"/p/{token}/watch/{recording.uuid}"


def test_parent_watch_page_points_the_player_at_our_master_playlist(client, s3_storage, use_storage, published,
                                                                     parent):
    use_storage(s3_storage)
    recording = published(s3_storage)

    response = client.get(_watch(recording))

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'data-hls-src="{_watch(recording)}/master.m3u8"' in html
    assert re.search(r'data-hls-js="/static/vendor/hls\.min\.js\?v=[0-9a-f]{12}"', html)
    assert '<script src="/static/vendor/hls.min.js"' not in html  # fetched on the first play only
    assert response.headers["Cache-Control"] == "no-store"


def test_parent_playlists_carry_presigned_segment_urls_that_serve_the_bytes(client, s3_storage, use_storage,
                                                                            published, parent, transcoded):
    use_storage(s3_storage)
    recording = published(s3_storage)

    master = client.get(f"{_watch(recording)}/master.m3u8")
    media = client.get(f"{_watch(recording)}/v_360p/index.m3u8")

    assert master.status_code == 200
    assert master.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert _uris(master.get_data(as_text=True)) == ["v_audio/index.m3u8", "v_360p/index.m3u8", "v_audio/index.m3u8"]
    uris = _uris(media.get_data(as_text=True))
    folder = sorted(n for n in transcoded.files if n.startswith("v_360p/") and not n.endswith(".m3u8"))
    names = [n for n in folder if n.endswith(".mp4")] + [n for n in folder if n.endswith(".m4s")]
    assert len(uris) == len(names)
    for uri, name in zip(uris, names, strict=True):
        parts = urlsplit(uri)
        assert parts.path.endswith(f"/recordings/{recording.uuid}/{name}")
        assert parse_qs(parts.query)["X-Amz-Expires"] == [str(TTL)]
        assert requests.get(uri, timeout=10).content == (transcoded.out_dir / name).read_bytes()


def test_parent_download_link_is_presigned_as_an_attachment(client, s3_storage, use_storage, published, parent):
    use_storage(s3_storage)
    recording = published(s3_storage)

    html = client.get(_watch(recording)).get_data(as_text=True)

    url = re.search(r'<a class="button" href="([^"]+)" download>', html).group(1).replace("&amp;", "&")
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == [str(TTL)]
    assert query["response-content-disposition"][0].startswith('attachment; filename="opname-')
    assert requests.get(url, timeout=10).content[4:8] == b"ftyp"


def test_parent_of_another_course_gets_404_everywhere(client, s3_storage, use_storage, published, parent,
                                                       create_course, create_parent):
    use_storage(s3_storage)
    recording = published(s3_storage)
    other = create_parent("Ali", course=create_course("Anders"), email="ali@example.org")
    issue_personal_link(other, token=OTHER_TOKEN)
    _db.session.commit()

    statuses = [client.get(_watch(recording, OTHER_TOKEN) + suffix).status_code
                for suffix in ("", "/master.m3u8", "/v_360p/index.m3u8")]

    assert statuses == [404, 404, 404]


def test_wrong_or_revoked_link_gets_404(client, s3_storage, use_storage, published, parent):
    use_storage(s3_storage)
    recording = published(s3_storage)
    wrong = client.get(_watch(recording, "not-a-real-token")).status_code
    revoke_access(parent)
    _db.session.commit()

    revoked = [client.get(_watch(recording) + suffix).status_code for suffix in ("", "/v_360p/index.m3u8")]

    assert (wrong, revoked) == (404, [404, 404])


def test_unknown_file_or_the_original_is_never_served(client, s3_storage, use_storage, published, parent):
    use_storage(s3_storage)
    recording = published(s3_storage)

    statuses = [client.get(f"{_watch(recording)}/{name}").status_code
                for name in ("original/workshop.mp4", "poster.jpg", "../master.m3u8", "nope.m3u8")]

    assert statuses == [404, 404, 404, 404]


def test_trainer_of_the_course_can_watch(client, auth, trainer, s3_storage, use_storage, published):
    use_storage(s3_storage)
    recording = published(s3_storage)
    auth.login(trainer.email)

    page = client.get(f"/watch/{recording.uuid}")
    playlist = client.get(f"/watch/{recording.uuid}/v_audio/index.m3u8")

    assert page.status_code == 200
    assert f'data-hls-src="/watch/{recording.uuid}/master.m3u8"' in page.get_data(as_text=True)
    assert all("X-Amz-Expires=300" in uri for uri in _uris(playlist.get_data(as_text=True)))


def test_other_trainer_gets_404_and_anonymous_is_sent_to_login(client, auth, create_user, s3_storage, use_storage,
                                                                published):
    use_storage(s3_storage)
    recording = published(s3_storage)
    anonymous = client.get(f"/watch/{recording.uuid}/master.m3u8")
    create_user("other@example.org", name="Other Trainer")
    auth.login("other@example.org")

    statuses = [client.get(f"/watch/{recording.uuid}{s}").status_code for s in ("", "/master.m3u8")]

    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/login")
    assert statuses == [404, 404]


def test_local_signed_url_serves_the_object_with_range_support(client, local_storage):
    local_storage.put_bytes("samples/v_360p/seg_00000.m4s", b"0123456789", content_type="video/iso.segment",
                            cache_control=publish.IMMUTABLE_CACHE)
    url = local_storage.url("samples/v_360p/seg_00000.m4s", expires_in=TTL)

    with client.get(url) as whole, client.get(url, headers={"Range": "bytes=2-5"}) as part:
        got = [(r.status_code, r.data, r.headers.get("Content-Range")) for r in (whole, part)]

    assert got == [(200, b"0123456789", None), (206, b"2345", "bytes 2-5/10")]
    assert (whole.headers["Content-Type"], whole.headers["Cache-Control"]) == ("video/iso.segment",
                                                                               publish.IMMUTABLE_CACHE)


def test_local_signed_url_refuses_expired_and_tampered_signatures(client, local_storage):
    key = "samples/poster.jpg"
    local_storage.put_bytes(key, b"jpeg", content_type="image/jpeg")
    expired = local_storage.url(key, expires_in=60, now=time.time() - 120)
    valid = local_storage.url(key, expires_in=60)
    tampered = re.sub(r"sig=[^&]+", "sig=AAAA" + "A" * 39, valid)
    other_key = valid.replace("poster.jpg", "master.m3u8")

    statuses = []
    for url in (expired, tampered, other_key, valid):
        with client.get(url) as response:
            statuses.append(response.status_code)

    assert statuses == [403, 403, 403, 200]


def test_local_signed_url_of_an_unknown_recording_is_refused(client, local_storage):
    key = "recordings/0123456789abcdef0123456789abcdef/poster.jpg"
    local_storage.put_bytes(key, b"jpeg", content_type="image/jpeg")

    with client.get(local_storage.url(key, expires_in=TTL)) as response:
        assert response.status_code == 404


def test_local_playlists_carry_signed_media_urls(client, local_storage, published, parent, transcoded):
    recording = published(local_storage)

    playlist = client.get(f"{_watch(recording)}/v_audio/index.m3u8").get_data(as_text=True)

    first = _uris(playlist)[0]
    init = next(n for n in transcoded.files if n.startswith("v_audio/init"))
    assert first.startswith(f"/media/{publish.recording_prefix(recording)}{init}?expires=")
    with client.get(first) as media:
        assert media.data == (transcoded.out_dir / init).read_bytes()


def test_listen_only_mode_plays_the_audio_playlist(client, local_storage, published, parent):
    recording = published(local_storage)

    html = client.get(_watch(recording) + "?mode=audio").get_data(as_text=True)

    assert f'data-hls-src="{_watch(recording)}/v_audio/index.m3u8"' in html
    # A small headphones picture instead of a black box, never the video's still (data for nothing).
    assert re.search(r'poster="/static/img/audio-poster\.svg[^"]*" class="audio-only"', html)
    assert "poster.jpg" not in html


def test_expired_recording_is_gone_and_its_page_says_so(client, s3_storage, use_storage, published, parent):
    use_storage(s3_storage)
    recording = published(s3_storage)

    publish.expire_recording(recording)
    _db.session.commit()
    page = client.get(_watch(recording))
    playlist = client.get(f"{_watch(recording)}/master.m3u8")

    assert s3_storage.list(f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/") == []
    assert page.status_code == 410
    assert "Deze opname is verlopen en kan niet meer bekeken worden." in page.get_data(as_text=True)
    assert playlist.status_code == 404


@pytest.fixture
def handed_out(client, local_storage, published, parent):
    """A published recording and what its parent was handed: both playlists, a segment and the MP4 download."""
    recording = published(local_storage)
    base = _watch(recording)
    html = client.get(base).get_data(as_text=True)
    download = re.search(r'<a class="button" href="([^"]+)" download>', html).group(1).replace("&amp;", "&")
    media = client.get(f"{base}/v_360p/index.m3u8").get_data(as_text=True)
    segment = next(uri for uri in _uris(media) if urlsplit(uri).path.endswith(".m4s"))
    return recording, {"master": f"{base}/master.m3u8", "media": f"{base}/v_360p/index.m3u8", "segment": segment,
                       "download": download}


def _statuses(client, urls) -> dict[str, int]:
    statuses = {}
    for name, url in urls.items():
        with client.get(url) as response:
            statuses[name] = response.status_code
    return statuses


def _unsigned(url: str) -> str:
    return urlsplit(url).path


def test_parent_gets_every_playlist_segment_and_download_it_was_handed(client, handed_out):
    _recording, urls = handed_out

    assert _statuses(client, urls) == {"master": 200, "media": 200, "segment": 200, "download": 200}


def test_parent_of_another_course_is_refused_playlists_segments_and_downloads(client, handed_out, create_course,
                                                                               create_parent):
    recording, urls = handed_out
    other = create_parent("Ali", course=create_course("Anders"), email="ali@example.org")
    issue_personal_link(other, token=OTHER_TOKEN)
    _db.session.commit()
    # The other parent's own link hands out nothing; all they could try are the media paths without a signature.
    theirs = {"page": _watch(recording, OTHER_TOKEN), "master": urls["master"].replace(TOKEN, OTHER_TOKEN),
              "media": urls["media"].replace(TOKEN, OTHER_TOKEN), "segment": _unsigned(urls["segment"]),
              "download": _unsigned(urls["download"])}

    statuses = _statuses(client, theirs)

    assert statuses == {"page": 404, "master": 404, "media": 404, "segment": 403, "download": 403}


def test_revoked_link_is_refused_playlists_and_its_media_urls_stop_within_their_ttl(app, client, local_storage,
                                                                                    published, parent):
    recording = published(local_storage)
    app.config["PLAYBACK_URL_TTL_SECONDS"] = 1
    try:
        html = client.get(_watch(recording)).get_data(as_text=True)
        media = client.get(f"{_watch(recording)}/v_360p/index.m3u8").get_data(as_text=True)
    finally:
        del app.config["PLAYBACK_URL_TTL_SECONDS"]
    download = re.search(r'<a class="button" href="([^"]+)" download>', html).group(1).replace("&amp;", "&")
    segment = next(uri for uri in _uris(media) if urlsplit(uri).path.endswith(".m4s"))
    revoke_access(parent)
    _db.session.commit()
    time.sleep(2.1)  # the 1 s TTL has passed: every media URL handed out before the revocation is dead

    statuses = _statuses(client, {"page": _watch(recording), "master": f"{_watch(recording)}/master.m3u8",
                                  "media": f"{_watch(recording)}/v_360p/index.m3u8", "segment": segment,
                                  "download": download})

    assert statuses == {"page": 404, "master": 404, "media": 404, "segment": 403, "download": 403}


def test_expired_recording_refuses_playlists_and_media_urls_even_before_the_sweep(client, handed_out):
    recording, urls = handed_out
    recording.expires_at = utcnow() - timedelta(seconds=1)
    _db.session.commit()

    before_sweep = _statuses(client, urls)
    publish.expire_recording(recording)
    _db.session.commit()
    after_sweep = _statuses(client, urls)

    assert before_sweep == after_sweep == {"master": 404, "media": 404, "segment": 404, "download": 404}


def test_anonymous_visitor_is_refused_playlists_segments_and_downloads(client, handed_out):
    recording, urls = handed_out
    attempts = {"master": f"/watch/{recording.uuid}/master.m3u8", "media": f"/watch/{recording.uuid}/v_360p/index.m3u8",
                "guessed_link": urls["master"].replace(TOKEN, "not-a-real-token"),
                "segment": _unsigned(urls["segment"]), "download": _unsigned(urls["download"])}

    statuses = _statuses(client, attempts)
    login = client.get(attempts["master"]).headers["Location"]

    assert statuses == {"master": 302, "media": 302, "guessed_link": 404, "segment": 403, "download": 403}
    assert login.startswith("/login")


def test_rewrite_playlist_signs_init_and_segments_and_keeps_playlists():
    text = '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:6.0,\nseg_00000.m4s\n#EXT-X-ENDLIST\n'

    rewritten = rewrite_playlist(text, "v_360p/index.m3u8", "recordings/u/", lambda key: f"https://s/{key}?sig")

    assert rewritten == ('#EXTM3U\n#EXT-X-MAP:URI="https://s/recordings/u/v_360p/init.mp4?sig"\n#EXTINF:6.0,\n'
                         "https://s/recordings/u/v_360p/seg_00000.m4s?sig\n#EXT-X-ENDLIST\n")


def test_rewrite_playlist_signs_a_byte_range_file_once_and_keeps_its_ranges():
    text = ('#EXTM3U\n#EXT-X-MAP:URI="media.mp4",BYTERANGE="1357@0"\n#EXTINF:8.333333,\n#EXT-X-BYTERANGE:158586@1357\n'
            "media.mp4\n#EXTINF:5.333333,\n#EXT-X-BYTERANGE:104166@159943\nmedia.mp4\n#EXT-X-ENDLIST\n")
    signed = []

    def sign(key: str) -> str:  # a new URL per call, as when the clock ticks between two lines
        signed.append(key)
        return f"https://s/{key}?sig={len(signed)}"

    rewritten = rewrite_playlist(text, "v_source/index.m3u8", "recordings/u/", sign)

    url = "https://s/recordings/u/v_source/media.mp4?sig=1"
    assert signed == ["recordings/u/v_source/media.mp4"]
    assert rewritten == (f'#EXTM3U\n#EXT-X-MAP:URI="{url}",BYTERANGE="1357@0"\n#EXTINF:8.333333,\n'
                         f"#EXT-X-BYTERANGE:158586@1357\n{url}\n#EXTINF:5.333333,\n#EXT-X-BYTERANGE:104166@159943\n"
                         f"{url}\n#EXT-X-ENDLIST\n")


def test_watch_page_plays_in_chromium(live_server, page, local_storage, published, parent, hls_js):
    recording = published(local_storage)

    page.goto(live_server + _watch(recording))
    page.evaluate("document.querySelector('video').muted = true")
    page.get_by_role("button", name="Afspelen").click()
    deadline = time.monotonic() + 20
    # Polled from Python: wait_for_function evaluates a string, which the page's CSP (no unsafe-eval) refuses.
    while page.evaluate("document.querySelector('video').currentTime") <= 1 and time.monotonic() < deadline:
        page.wait_for_timeout(200)

    assert page.evaluate("document.querySelector('video').currentTime") > 1

    assert page.evaluate("document.querySelector('video').currentSrc").startswith("blob:")


def test_speed_buttons_change_the_playback_rate(live_server, page, local_storage, published, parent, hls_js):
    recording = published(local_storage)
    page.goto(live_server + _watch(recording))

    page.get_by_role("button", name="0.75×").click()

    assert page.evaluate("document.querySelector('video').playbackRate") == 0.75
    assert page.get_by_role("button", name="0.75×").get_attribute("aria-pressed") == "true"
    assert page.get_by_role("button", name="1×").get_attribute("aria-pressed") == "false"


def test_watch_page_offers_a_still_per_quarter_that_jumps_there(client, local_storage, published, parent):
    recording = published(local_storage)

    html = client.get(_watch(recording)).get_data(as_text=True)

    seeks = re.findall(r'data-seek="([0-9.]+)"', html)
    part = recording.duration_s / 4
    assert [float(s) for s in seeks] == [round((i + 0.5) * part, 1) for i in range(4)]
    images = re.findall(r'<img src="([^"]+)" alt="" width="160"', html)
    served = []
    for url in images:
        with client.get(url.replace("&amp;", "&")) as response:
            served.append((response.status_code, response.mimetype))
    assert served == [(200, "image/jpeg")] * 4


def test_chapter_button_starts_playback_at_its_moment(live_server, page, local_storage, published, parent, hls_js):
    recording = published(local_storage)
    page.goto(live_server + _watch(recording))

    page.locator("[data-seek]").nth(2).click()
    deadline = time.monotonic() + 20
    while page.evaluate("document.querySelector('video').currentTime") < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(200)

    position = page.evaluate("document.querySelector('video').currentTime")
    assert position >= 2, position
