"""axe-core (WCAG 2.1 A/AA) in Chromium on the parent pages (route map, lobby, watch page, the response page of a
home activity) and the trainer's course page and inbox, in nl and in ar/en."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.extensions import db as _db
from courses.links import issue_personal_link
from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "static" / "vendor" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
TOKEN = "a11y-parent-link-" + "c" * 24


@pytest.fixture(scope="session")
def axe_js() -> Path:
    """axe.min.js where the build puts it (copied from node_modules when missing)."""
    if not AXE.exists():
        AXE.parent.mkdir(exist_ok=True)
        shutil.copyfile(ROOT / "node_modules" / "axe-core" / "axe.min.js", AXE)
    return AXE


@pytest.fixture
def parent_link(db, course, create_parent):
    """A personal-link token for a parent of the default course who reads the given language."""

    def make(language: str) -> str:
        parent = create_parent("Sanne", course=course, language=language)
        issue_personal_link(parent, token=TOKEN)
        _db.session.commit()
        return TOKEN

    return make


def serious_violations(page, axe_js: Path) -> list[str]:
    """Run axe on the loaded page; one line per serious or critical violation and node."""
    # Loaded by URL from our own static folder: the CSP (script-src 'self') blocks an inline copy.
    page.add_script_tag(url="/static/vendor/" + axe_js.name)
    result = page.evaluate("tags => axe.run(document, {runOnly: tags})", TAGS)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {node['target']}: {node['failureSummary']}"
            for v in result["violations"] if v["impact"] in ("serious", "critical") for node in v["nodes"]]


def document_language(page) -> tuple[str, str]:
    html = page.locator("html")
    return html.get_attribute("lang"), html.get_attribute("dir")


@pytest.mark.parametrize(("language", "direction"), [("nl", "ltr"), ("ar", "rtl")])
def test_route_map_has_no_serious_violations(live_server, page, axe_js, parent_link, create_workshop_session,
                                             language, direction):
    create_workshop_session(title="Samen lezen")
    token = parent_link(language)
    violations = []

    # The route map and the privacy pages behind it ("my data", the deletion request).
    for path in ("", "/data", "/delete"):
        page.goto(f"{live_server}/p/{token}{path}")
        violations += serious_violations(page, axe_js)
        assert document_language(page) == (language, direction)
    assert violations == [], "\n".join(violations)


@pytest.mark.parametrize(("language", "direction"), [("nl", "ltr"), ("ar", "rtl")])
def test_lobby_before_opening_has_no_serious_violations(live_server, page, axe_js, parent_link,
                                                        create_workshop_session, language, direction):
    session = create_workshop_session(title="Samen lezen", recorded=True)
    token = parent_link(language)

    page.goto(f"{live_server}/p/{token}/s/{session.id}")

    violations = serious_violations(page, axe_js)
    assert document_language(page) == (language, direction)
    assert violations == [], "\n".join(violations)


@pytest.mark.parametrize(("language", "direction"), [("nl", "ltr"), ("ar", "rtl")])
def test_watch_page_has_no_serious_violations(live_server, page, axe_js, parent_link, local_storage, published,
                                              hls_js, language, direction):
    recording = published(local_storage)
    token = parent_link(language)

    page.goto(f"{live_server}/p/{token}/watch/{recording.uuid}")

    violations = serious_violations(page, axe_js)
    assert document_language(page) == (language, direction)
    assert violations == [], "\n".join(violations)


@pytest.fixture
def answered_activity(db, course, trainer, local_storage):
    """A home activity asking for a photo, voice or text, with a photo answer and a reply for the link's parent."""
    from activities import answers
    from courses.links import find_parent_by_token
    from tests.activities.helpers import make_activity, photo_with_gps, post_answer

    def make(client) -> object:
        activity = make_activity(course, kinds=("photo", "voice", "text"),
                                 translations={"ar": {"title": "القراءة مع دمية"}})
        post_answer(client, TOKEN, activity, data=photo_with_gps(), text="Onze leeshoek")
        answers.add_reply(activity, find_parent_by_token(TOKEN), author=trainer, text="Mooi!")
        _db.session.commit()
        return activity

    return make


@pytest.mark.parametrize(("language", "direction"), [("nl", "ltr"), ("ar", "rtl")])
def test_response_page_has_no_serious_violations_and_fits_360_px(live_server, page, axe_js, parent_link, client,
                                                                 answered_activity, language, direction):
    token = parent_link(language)
    activity = answered_activity(client)

    page.goto(f"{live_server}/p/{token}/activities/{activity.id}")
    page.wait_for_function("() => document.querySelector('#thread img').complete")

    violations = serious_violations(page, axe_js)
    small = page.locator("main .button, main button, main a.action, main label.action").evaluate_all(
        "els => els.filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44)"
        ".map(e => e.textContent.trim())")
    widths = []
    for width in (360, 180):
        page.set_viewport_size({"width": width, "height": 740})
        widths.append(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))
    assert document_language(page) == (language, direction)
    assert violations == [], "\n".join(violations)
    assert (small, widths) == ([], [True, True])


@pytest.mark.parametrize("language", ["nl", "en"])
def test_trainer_course_page_has_no_serious_violations(live_server, page, axe_js, trainer, course, create_parent,
                                                       create_workshop_session, language):
    create_parent("Sanne", course=course)
    create_workshop_session(title="Samen lezen")
    page.goto(f"{live_server}/login")
    if language != "nl":
        page.locator(f"form.language-switch button[lang={language}]").click()
    page.locator("input[name=email]").fill(trainer.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form:not(.language-switch) button[type=submit]").click()

    response = page.goto(f"{live_server}/courses/{course.id}")

    assert response.status == 200
    violations = serious_violations(page, axe_js)
    assert document_language(page) == (language, "ltr")
    assert violations == [], "\n".join(violations)


def _parent_pages(live_server: str, token: str, session_id: int) -> list[str]:
    return [f"{live_server}/p/{token}", f"{live_server}/p/{token}/s/{session_id}"]


@pytest.mark.parametrize("language", ["nl", "ar"])
def test_route_map_and_lobby_reflow_at_360_px_and_200_percent_zoom(live_server, page, parent_link,
                                                                   create_workshop_session, language):
    session = create_workshop_session(title="Samen lezen", recorded=True)
    token = parent_link(language)
    overflow = []

    for url in _parent_pages(live_server, token, session.id):
        page.goto(url)
        for width in (360, 180):  # 180 CSS px: a 360 px phone at 200 % zoom
            page.set_viewport_size({"width": width, "height": 740})
            sizes = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if sizes[0] > sizes[1]:
                overflow.append((url, width, sizes))
        page.set_viewport_size({"width": 360, "height": 740})

    assert overflow == []


TARGETS = ("main .button:not([hidden]), main button:not([hidden]), main a.action, .language-switch button, "
           "main label.choice")


@pytest.mark.parametrize("language", ["nl", "ar"])
def test_route_map_and_lobby_main_actions_are_44_px_targets(live_server, page, parent_link,
                                                            create_workshop_session, language):
    session = create_workshop_session(title="Samen lezen", recorded=True)
    token = parent_link(language)
    small = []

    for url in _parent_pages(live_server, token, session.id):
        page.goto(url)
        boxes = page.locator(TARGETS).evaluate_all(
            "els => els.filter(e => e.offsetParent !== null).map(e => "
            "[e.textContent.trim(), Math.round(e.getBoundingClientRect().width), "
            "Math.round(e.getBoundingClientRect().height)])")
        small += [(url, *box) for box in boxes if box[1] < 44 or box[2] < 44]

    assert small == []


def test_trainer_activity_inbox_has_no_serious_violations(live_server, page, axe_js, trainer, client, parent_link,
                                                         answered_activity):
    parent_link("nl")
    activity = answered_activity(client)
    page.goto(f"{live_server}/login")
    page.locator("input[name=email]").fill(trainer.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form:not(.language-switch) button[type=submit]").click()

    response = page.goto(f"{live_server}/courses/{activity.course_id}/activities/{activity.id}")

    assert response.status == 200
    violations = serious_violations(page, axe_js)
    assert violations == [], "\n".join(violations)
