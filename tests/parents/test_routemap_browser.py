"""The parent's phone in Chromium at 360x740 (issue 19): the urgent card first in each situation, in nl, ar and tr;
the demo's route map in two screens above "all dates"; the live room when Jitsi cannot be reached; the camera
preview inside the screen.

One Chromium with a fake camera and microphone (and no permission prompt) serves the module.
"""

from __future__ import annotations

import json
import socket
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from activities.models import HomeActivity
from core.db import utcnow
from recordings.models import Recording, RecordingSource, RecordingState
from sessions.models import WorkshopSession
from tests.activities.helpers import make_activity
from tests.conftest import CHROMIUM

pytestmark = pytest.mark.e2e

SCREEN = {"width": 360, "height": 740}
#: Seconds the lobby waits for Jitsi in these tests (JITSI_LOAD_TIMEOUT_S; 20 in production).
CONNECT_TIMEOUT = 3
ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
           "Mobile Safari/537.36")


@pytest.fixture(scope="module")
def phone_browser(browser):
    """Chromium with a fake camera and microphone that never asks for permission."""
    chromium = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
    yield chromium
    chromium.close()


@pytest.fixture
def phone(phone_browser):
    context = phone_browser.new_context(viewport=SCREEN, device_scale_factor=2, has_touch=True, is_mobile=True,
                                        locale="nl-NL")
    yield context.new_page()
    context.close()


def _urgent(phone, url: str) -> tuple[str, str, str, float]:
    phone.goto(url)
    card = phone.locator("#now")
    box = card.bounding_box()
    label = card.locator(".label").inner_text().split(maxsplit=1)[1]  # after the emoji
    return (phone.locator("html").get_attribute("lang"), label, card.locator("h2").inner_text().strip(),
            box["y"] + box["height"])


def _daytime_zone(now: datetime) -> str:
    """A time zone where it is between 06:00 and 20:00 now, so that "in two hours" is still today there."""
    for zone in ("Europe/Amsterdam", "America/New_York", "Pacific/Honolulu", "Asia/Tokyo", "Pacific/Kiritimati"):
        if 6 <= now.astimezone(ZoneInfo(zone)).hour < 20:
            return zone
    raise AssertionError("no daytime zone found")


def test_urgent_card_shows_what_matters_now_in_each_situation(db, live_server, phone, course, create_parent,
                                                              create_link, create_workshop_session):
    parent = create_parent("Sanne", course=course)
    token, _ = create_link(parent)
    url = f"{live_server}/p/{token}"
    now = utcnow()
    create_workshop_session(title="Over drie dagen", starts_at=now + timedelta(days=3))
    seen = {"next": _urgent(phone, url)}

    parent.language = "ar"
    make_activity(course, title="Leeshoek", due_on=(now + timedelta(days=7)).date())
    seen["task"] = _urgent(phone, url)

    parent.language = "tr"
    db.session.query(HomeActivity).delete()
    past = create_workshop_session(title="Vorige week", starts_at=now - timedelta(days=7), allow_past=True,
                                   recorded=True)
    db.session.add(Recording(course=course, session_id=past.id, source=RecordingSource.upload,
                             state=RecordingState.published, published_at=now - timedelta(days=1)))
    db.session.commit()
    seen["recording"] = _urgent(phone, url)

    parent.language = "nl"
    course.timezone = _daytime_zone(now)
    create_workshop_session(title="Straks", starts_at=now + timedelta(hours=2))
    db.session.commit()
    seen["today"] = _urgent(phone, url)

    create_workshop_session(title="Nu bezig", starts_at=now + timedelta(minutes=5))
    seen["live"] = _urgent(phone, url)
    join = phone.locator("#now a.button")
    join_text, join_href = join.inner_text().split(maxsplit=1)[1], join.get_attribute("href")
    width = phone.evaluate("document.documentElement.scrollWidth")
    live_id = db.session.query(WorkshopSession.id).filter_by(title="Nu bezig").scalar()

    assert seen["next"][:3] == ("nl", "Volgende bijeenkomst", "Over drie dagen")
    assert seen["task"][:3] == ("ar", "مهمة للبيت", "Leeshoek")
    assert seen["recording"][:3] == ("tr", "Yeni kayıt", "Vorige week")
    assert seen["today"][:3] == ("nl", "Vandaag", "Straks")
    assert seen["live"][:3] == ("nl", "Nu live", "Nu bezig")
    assert (join_text, join_href) == ("Nu meedoen", f"/p/{token}/s/{live_id}")
    assert all(bottom <= SCREEN["height"] for *_, bottom in seen.values())  # on the first screen, every time
    assert width <= SCREEN["width"]


def test_demo_route_map_fits_two_screens_above_all_dates(runner, live_server, phone):
    result = runner.invoke(args=["demo", "--json", "--no-recording"])
    info = json.loads(result.output)
    dutch = next(p for p in info["parents"] if p["language"] == "nl")

    phone.goto(dutch["personal_link"].replace(info["base_url"], live_server))
    summary = phone.evaluate("(() => { const r = document.querySelector('#all-dates summary')"
                             ".getBoundingClientRect(); return r.bottom + window.scrollY; })()")
    hidden_dates = phone.locator("#all-dates li").first.is_visible()
    phone.locator("#all-dates summary").click()
    shown_dates = phone.locator("#all-dates li").count()

    assert phone.locator("#now .label").inner_text().split(maxsplit=1)[1] == "Nu live"
    assert summary <= 2 * SCREEN["height"]
    # The trial session is live (the urgent card), the series' first is next: its other five are behind "all dates".
    assert (hidden_dates, shown_dates) == (False, 5)
    assert phone.evaluate("document.documentElement.scrollWidth") <= SCREEN["width"]


class _Silent:
    """A loopback socket that accepts connections and never answers (a Jitsi host that hangs)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def jitsi_host(app):
    """Point the app's Jitsi at a given base URL, with a short connect timeout, until teardown."""
    keys = ("JITSI_BASE_URL", "JITSI_LOAD_TIMEOUT_S")
    saved = {key: app.config.get(key) for key in keys}
    silent = _Silent()
    yield lambda base: app.config.update(JITSI_BASE_URL=base, JITSI_LOAD_TIMEOUT_S=CONNECT_TIMEOUT), silent.port
    app.config.update(saved)
    silent.close()


def _failed_within(phone) -> tuple[str, bool]:
    """Wait (20 s at most) for the "couldn't connect" notice: its words and whether Retry is there."""
    phone.locator("#room-failed").wait_for(state="visible", timeout=20000)
    return phone.locator("#room-failed strong").inner_text(), phone.locator("#room-retry").is_visible()


def test_lobby_says_it_cannot_connect_with_retry_and_the_camera_preview_fits(
        db, live_server, phone, phone_browser, jitsi_host, course, create_parent, create_link, create_workshop_session):
    point_at, silent_port = jitsi_host
    session = create_workshop_session(starts_at=utcnow() + timedelta(minutes=5))
    token, _ = create_link(create_parent("Sanne", course=course))
    url = f"{live_server}/p/{token}/s/{session.id}"

    point_at("https://jitsi.invalid")  # never resolves
    phone.goto(url)
    unresolvable = _failed_within(phone)
    browser_link = phone.locator("#room-browser").get_attribute("href")
    app_offered = phone.locator("#app-offer").is_visible()  # a desktop Chrome user agent: no Jitsi app to install
    point_at(f"http://127.0.0.1:{silent_port}")  # accepts, never answers
    phone.goto(url, wait_until="domcontentloaded")  # the hanging Jitsi script holds the load event
    phone.wait_for_function("() => /[1-9] seconden/.test(document.getElementById('room-elapsed').textContent)")
    connecting = phone.locator("#room-connecting").inner_text()
    silent = _failed_within(phone)
    phone.locator("#room-retry").click()
    retrying = phone.locator("#room-connecting").is_visible(), phone.locator("#room-failed").is_hidden()
    phone.locator("#room-failed").wait_for(state="visible", timeout=20000)

    phone.locator("#device-start").click()
    phone.wait_for_function("() => document.getElementById('device-video').videoWidth > 0", timeout=10000)
    video_width = phone.evaluate("document.getElementById('device-video').getBoundingClientRect().width")
    scroll_width = phone.evaluate("document.documentElement.scrollWidth")
    help_box = phone.locator("#help-button").bounding_box()
    android = phone_browser.new_context(viewport=SCREEN, user_agent=ANDROID)
    try:
        on_android = android.new_page()
        point_at("https://jitsi.invalid")
        on_android.goto(url)
        on_android.locator("#app-offer").wait_for(state="visible", timeout=5000)
        app_link = on_android.locator("#app-link").get_attribute("href")
    finally:
        android.close()

    failed = ("Het lukt niet om verbinding te maken met de kamer.", True)
    assert unresolvable == failed
    assert browser_link.startswith(f"https://jitsi.invalid/{session.room_name}")
    assert app_offered is False
    assert app_link.startswith(f"org.jitsi.meet://jitsi.invalid/{session.room_name}")
    assert connecting.startswith("Verbinden met de kamer…")
    assert silent == failed
    assert retrying == (True, True)
    assert video_width <= SCREEN["width"] and scroll_width <= SCREEN["width"]
    # The help button stays on the screen (a sticky bar) with the preview running.
    assert 0 <= help_box["y"] and help_box["y"] + help_box["height"] <= SCREEN["height"]
    assert help_box["x"] >= 0 and help_box["x"] + help_box["width"] <= SCREEN["width"]
