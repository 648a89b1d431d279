"""Light parent pages (route map with home activities, lobby, watch page, response page): bytes on first visit
(video excluded), hls.js only on the watch page, no web fonts."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from core.extensions import db as _db
from courses.links import issue_personal_link

pytestmark = pytest.mark.e2e

CAP = 150 * 1024
MEDIA_SUFFIXES = (".m3u8", ".m4s", ".mp4", ".ts", ".vtt")
TOKEN = "weight-parent-link-" + "d" * 24


@pytest.fixture
def token(db, course, create_parent):
    """A parent of the default course with a personal link; returns the link's token."""
    parent = create_parent("Sanne", course=course)
    issue_personal_link(parent, token=TOKEN)
    _db.session.commit()
    return TOKEN


class Traffic:
    """Every finished request of a page: URL, resource type and response body size."""

    def __init__(self, page):
        self.requests: list[tuple[str, str, int]] = []
        page.on("requestfinished", self._add)

    def _add(self, request):
        self.requests.append((request.url, request.resource_type, max(request.sizes()["responseBodySize"], 0)))

    def page_bytes(self) -> int:
        """Bytes of everything but video: HTML, CSS, JS, fonts, images."""
        return sum(size for url, kind, size in self.requests
                   if kind != "media" and not urlsplit(url).path.endswith(MEDIA_SUFFIXES))

    def report(self) -> str:
        return "\n".join(f"{size:>8} {kind:<10} {urlsplit(url).path}" for url, kind, size in self.requests)

    def hls_requested(self) -> bool:
        return any(urlsplit(url).path.rsplit("/", 1)[-1].startswith("hls") for url, _, _ in self.requests)

    def fonts(self) -> list[str]:
        return [url for url, kind, _ in self.requests if kind == "font"]


def _first_visit(page, url: str) -> Traffic:
    traffic = Traffic(page)
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return traffic


def test_route_map_first_visit_stays_under_the_cap_without_hls_or_fonts(live_server, page, token,
                                                                         create_workshop_session):
    create_workshop_session(title="Samen lezen")

    traffic = _first_visit(page, f"{live_server}/p/{token}")

    assert traffic.page_bytes() <= CAP, traffic.report()
    assert (traffic.hls_requested(), traffic.fonts()) == (False, [])


def test_lobby_first_visit_stays_under_the_cap_without_hls_or_fonts(live_server, page, token,
                                                                    create_workshop_session):
    session = create_workshop_session(title="Samen lezen", recorded=True)

    traffic = _first_visit(page, f"{live_server}/p/{token}/s/{session.id}")

    assert traffic.page_bytes() <= CAP, traffic.report()
    assert (traffic.hls_requested(), traffic.fonts()) == (False, [])


def test_watch_page_first_visit_stays_under_the_cap_and_loads_hls_to_play(live_server, page, token, local_storage,
                                                                          published, hls_js):
    # hls.min.js alone is 624 KB (189 KB gzipped), so the player must fetch it when the parent presses play,
    # not on page load: the first visit is then HTML, CSS, player.js and the poster.
    recording = published(local_storage)

    traffic = _first_visit(page, f"{live_server}/p/{token}/watch/{recording.uuid}")
    first_visit = traffic.page_bytes()
    fonts = traffic.fonts()
    with page.expect_request_finished(lambda request: urlsplit(request.url).path.endswith("/hls.min.js")):
        page.locator("[data-play]").click()
    page.wait_for_function("() => document.querySelector('video').currentTime > 0.5")

    assert first_visit <= CAP, ("player.js must fetch hls.min.js on the first play, not watch.html in a <script>:\n"
                                + traffic.report())
    assert (traffic.hls_requested(), fonts) == (True, [])


def test_route_map_with_home_activities_and_a_meetup_stays_under_the_cap(live_server, page, token, course,
                                                                          create_workshop_session, local_storage):
    from sessions.models import SessionKind
    from tests.activities.helpers import make_activity

    create_workshop_session(title="Samen lezen")
    create_workshop_session(title="Koffie met ouders", kind=SessionKind.parents_meetup)
    for n in range(5):
        make_activity(course, title=f"Opdracht {n}")

    traffic = _first_visit(page, f"{live_server}/p/{token}")

    assert traffic.page_bytes() <= CAP, traffic.report()
    assert (traffic.hls_requested(), traffic.fonts()) == (False, [])


def test_response_page_first_visit_stays_under_the_cap(live_server, page, token, course, local_storage):
    from tests.activities.helpers import make_activity

    activity = make_activity(course, kinds=("photo", "voice", "text"))

    traffic = _first_visit(page, f"{live_server}/p/{token}/activities/{activity.id}")

    assert traffic.page_bytes() <= CAP, traffic.report()
    assert (traffic.hls_requested(), traffic.fonts()) == (False, [])
