"""In Chromium at 360 px: a parent answers with a photo from the route map (surviving a lost connection), the
trainer's inbox shows it and who has not answered, and a nudge reaches each of them once, in their language."""

from __future__ import annotations

import pytest
from flask_babel import force_locale
from flask_babel import gettext as _

from activities.models import ActivityResponse
from core.extensions import db as _db
from tests.activities.helpers import make_activity, make_family, photo_with_gps
from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e

IMAGE_LOADED = "sel => { const i = document.querySelector(sel); return !!i && i.complete && i.naturalWidth > 0; }"


def _lose_first_answer(page) -> list[str]:
    """Let the first POST of an answer reach the server but drop its reply, as a train tunnel would."""
    seen: list[str] = []

    def handle(route):
        seen.append(route.request.method)
        if route.request.method == "POST" and seen.count("POST") == 1:
            route.fetch()  # the server stores the answer...
            route.abort("internetdisconnected")  # ...and the phone never hears back
        else:
            route.continue_()

    page.route("**/activities/*", handle)
    return seen


def _no_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_parent_answers_with_a_photo_and_the_trainer_sees_it_and_nudges_the_others(
        app, live_server, page, browser, course, trainer, local_storage, outboxes, tmp_path):
    family = make_family(course)
    activity = make_activity(course, title="Knuffel", kinds=("photo", "text"),
                             translations={"ar": {"title": "الدمية"}, "tr": {"title": "Oyuncak"}})
    photo = tmp_path / "knuffel.jpg"
    photo.write_bytes(photo_with_gps())
    seen = _lose_first_answer(page)

    page.goto(f"{live_server}/p/{family['Sanne'][1]}")
    page.locator("#home-heading ~ ul a.button").first.click()
    page.locator("#answer-camera").set_input_files(str(photo))
    page.locator("#answer-text").fill("Onze leeshoek")
    parent_fits = _no_overflow(page)
    page.locator("#answer-send").click()
    page.wait_for_function(IMAGE_LOADED, arg="#thread img.answer-media", timeout=30000)

    trainer_page = browser.new_context(viewport={"width": 360, "height": 740}, locale="nl-NL").new_page()
    trainer_page.goto(f"{live_server}/login")
    trainer_page.locator("input[name=email]").fill(trainer.email)
    trainer_page.locator("input[name=password]").fill(PASSWORD)
    trainer_page.locator("form:not(.language-switch) button[type=submit]").click()
    trainer_page.goto(f"{live_server}/courses/{course.id}/activities/{activity.id}")
    trainer_page.wait_for_function(IMAGE_LOADED, arg="#answered img.answer-media", timeout=30000)
    answered = trainer_page.locator("#answered h3").all_inner_texts()
    waiting = [t.split("\n")[0].strip() for t in trainer_page.locator("#waiting > li").all_inner_texts()]
    trainer_page.locator("a#nudge").click()
    trainer_page.locator("form input[name=confirmed] ~ button[type=submit]").click()
    trainer_page.wait_for_selector(".flash-info")
    mails, texts = outboxes

    assert seen.count("POST") == 2  # the page sent the answer again after the lost reply
    assert [(r.parent_id, r.text) for r in _db.session.query(ActivityResponse)] == [
        (family["Sanne"][0].id, "Onze leeshoek")]
    assert parent_fits
    assert (answered, waiting) == (["Sanne"], ["Amal", "Elif"])
    assert [(m["To"], m["Content-Language"]) for m in mails] == [("elif@example.org", "tr")]
    assert [t.to_e164 for t in texts] == [family["Amal"][0].phone]
    with app.test_request_context(), force_locale("ar"):
        assert texts[0].text.startswith(_("Ouderkamer: je trainer wacht op je antwoord op %(title)s:",
                                          title="الدمية"))
    with app.test_request_context(), force_locale("tr"):
        assert mails[0]["Subject"] == _("Een vraag van je cursus: %(title)s", title="Oyuncak")
    trainer_page.context.close()


@pytest.fixture
def browser_with_microphone(browser):
    """Chromium with a fake microphone (a beep) that needs no permission prompt."""
    from tests.conftest import CHROMIUM

    with_mic = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
    yield with_mic
    with_mic.close()


def test_parent_records_a_voice_message_in_the_page(live_server, browser_with_microphone, course, local_storage):
    family = make_family(course)
    activity = make_activity(course, title="Vertel het ons", kinds=("voice",))
    context = browser_with_microphone.new_context(viewport={"width": 360, "height": 740}, locale="ar",
                                                  permissions=["microphone"])
    page = context.new_page()

    page.goto(f"{live_server}/p/{family['Amal'][1]}/activities/{activity.id}")
    fallback_hidden = page.locator("#answer-voice").evaluate("e => e.closest('[hidden]') !== null")
    page.locator("#record-start").click()
    page.wait_for_function("() => document.getElementById('record-time').textContent >= '0:02'")
    page.locator("#record-stop").click()
    page.wait_for_selector("#record-preview:not([hidden])")
    page.locator("#answer-send").click()
    page.wait_for_selector("#thread audio")
    context.close()

    [answer] = _db.session.query(ActivityResponse).all()
    assert fallback_hidden
    assert (answer.kind.value, answer.content_type, answer.parent_id) == ("voice", "audio/mp4",
                                                                          family["Amal"][0].id)
    assert 1.5 < answer.duration_s < 10
    assert local_storage.exists(answer.media_key)
