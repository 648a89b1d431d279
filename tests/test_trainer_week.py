"""A trainer's week in Chromium at 1280 px, end to end: create a course, import parents from a CSV with a bad row,
schedule a weekly series, open the live page while Jitsi cannot be reached, upload a recording, review and publish
it, then see attendance and watching on the course page. Screenshots go to the test's output folder
(docs/img/trainers-guide/ holds a copy of them for docs/trainers-guide.md)."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.db import utcnow
from courses import links
from courses.models import Parent
from recordings.models import Recording
from tests.fixtures.factories import PASSWORD
from tests.test_accessibility import AXE, ROOT, serious_violations

pytestmark = pytest.mark.e2e

CSV = ("naam;e-mail;telefoon;taal;kanalen;toestemming\r\n"
       "Anna de Vries;anna@example.org;;nl;email;ja\r\n"
       "Bram;geen-e-mailadres;;nl;email;nee\r\n"
       "Elif Yılmaz;elif@example.org;;tr;email;ja\r\n")
ANNA = "anna-" + "w" * 40


def _confirm_if_asked(page) -> None:
    """Tick the consent confirmation when the page asks for it (a parent in the room had not consented)."""
    confirm = page.get_by_role("checkbox", name=re.compile("Ik gebruik de opname toch"))
    if confirm.count() and confirm.first.is_visible():
        confirm.first.check()


def test_trainer_week_from_new_course_to_watched_recording(app, db, browser, live_server, trainer, clip_360p,
                                                           local_storage, tmp_path, monkeypatch):
    shots = tmp_path / "trainers-guide"
    if not AXE.exists():  # where the build puts it (as in tests/test_accessibility.py)
        AXE.parent.mkdir(exist_ok=True)
        shutil.copyfile(ROOT / "node_modules" / "axe-core" / "axe.min.js", AXE)
    monkeypatch.setitem(app.config, "JITSI_BASE_URL", "https://jitsi.invalid")  # a firewall that blocks Jitsi
    monkeypatch.setitem(app.config, "MEDIA_SMALL_LADDER", True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="nl-NL")
    page = context.new_page()

    def shot(name: str) -> None:
        page.screenshot(path=shots / f"{name}.png")

    page.goto(live_server + "/login")
    page.get_by_label("E-mailadres").fill(trainer.email)
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Inloggen").click()

    # Monday: a new course, and its parents from a spreadsheet (one row has no usable address).
    page.get_by_role("link", name="Nieuwe cursus").click()
    page.get_by_role("textbox", name="Titel", exact=True).first.fill("Samen lezen")
    page.get_by_role("button", name="Opslaan").click()
    page.get_by_role("link", name="Ouders importeren (CSV)").click()
    page.get_by_label("CSV-bestand").set_input_files(
        files=[{"name": "ouders.csv", "mimeType": "text/csv", "buffer": CSV.encode()}])
    page.get_by_role("button", name="Controleren").click()
    bad_rows = page.locator("#import-preview tbody tr.row-error").all_inner_texts()
    shot("1-import")
    page.get_by_role("button", name=re.compile(r"^2 ouders importeren")).click()
    course_url = page.url

    # A weekly series of four, the first one starting in a few minutes (its lobby is open already).
    page.get_by_role("link", name="Bijeenkomst plannen").click()
    start = (utcnow() + timedelta(minutes=3)).astimezone(ZoneInfo("Europe/Amsterdam"))
    page.get_by_role("textbox", name="Titel", exact=True).first.fill("Voorlezen thuis")
    page.get_by_label("Begint op").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Eindtijd").fill(min(start + timedelta(minutes=45), start.replace(hour=23, minute=59))
                                       .strftime("%H:%M"))
    page.get_by_label("Deze bijeenkomst wordt opgenomen").check()
    page.get_by_label("Elke week").check()
    page.get_by_label("Aantal keer").fill("4")
    page.get_by_role("button", name="Plannen").click()
    if page.get_by_role("button", name="Toch opslaan").count():
        page.get_by_role("button", name="Toch opslaan").click()
    session_id = int(re.search(r"/sessions/(\d+)", page.url).group(1))

    # The home page says what is next; the live page explains that the room does not load, with a way out.
    page.get_by_role("link", name="Vandaag", exact=True).click()
    shot("2-home")
    violations = serious_violations(page, AXE)
    upcoming = page.locator("#upcoming li").count()
    page.get_by_role("link", name="Deelnemen als trainer Voorlezen thuis").click()
    page.get_by_role("heading", name="De videokamer laadt niet").wait_for(timeout=20_000)
    new_tab = page.get_by_role("link", name="Open de kamer in een nieuw tabblad")
    new_tab_href = new_tab.get_attribute("href")
    shot("3-live-page")
    violations += serious_violations(page, AXE)

    # After the session: upload the recording, watch it, publish it.
    page.get_by_role("link", name="Of upload achteraf een eigen opname").click()
    page.get_by_label("Videobestand").set_input_files(str(clip_360p))
    _confirm_if_asked(page)
    page.get_by_role("button", name="Uploaden").click()
    page.wait_for_url(re.compile(r"/recordings/\d+$"), timeout=120_000)
    publish = page.get_by_role("button", name="Publiceren voor ouders")
    publish.wait_for(timeout=120_000)
    publish.scroll_into_view_if_needed()
    shot("4-review")
    _confirm_if_asked(page)
    publish.click()
    page.get_by_text("Ouders kunnen deze opname bekijken.").wait_for()

    # Anna was in the room and watched the recording, through her own link.
    anna = db.session.scalar(select(Parent).where(Parent.name == "Anna de Vries"))
    links.issue_personal_link(anna, token=ANNA)
    db.session.commit()
    recording = db.session.scalar(select(Recording).where(Recording.session_id == session_id))
    parent = app.test_client()
    joined = parent.post(f"/p/{ANNA}/s/{session_id}/events", json={"event": "joined", "user_id": f"parent-{anna.id}"})
    watched = parent.post(f"/p/{ANNA}/watch/{recording.uuid}/progress",
                          json={"position": recording.duration_s, "duration": recording.duration_s})
    page.goto(course_url)
    columns = page.locator("#participants thead th").all_inner_texts()
    row = page.locator("#participants tbody tr").filter(has_text="Anna de Vries").locator("td")
    figures = dict(zip(columns, row.all_inner_texts()))
    page.locator("#participants").scroll_into_view_if_needed()
    shot("5-course-figures")
    context.close()

    assert violations == [], "\n".join(violations)  # the home page and the live page, by axe-core
    assert len(bad_rows) == 1 and "Bram" in bad_rows[0]
    assert upcoming >= 1  # the next dates of the series
    assert new_tab_href.startswith("https://jitsi.invalid/")
    assert (joined.status_code, watched.status_code) == (204, 204)
    assert figures["Aanwezig"].startswith("1 keer") and figures["Bekeken"].startswith("1 van 1")
    assert sorted(p.name for p in shots.iterdir()) == [f"{n}.png" for n in (
        "1-import", "2-home", "3-live-page", "4-review", "5-course-figures")]
