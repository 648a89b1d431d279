"""The demo login in a real browser: log in, see the course, log out."""

import json

import pytest

pytestmark = pytest.mark.e2e


def test_demo_trainer_logs_in_sees_the_course_and_logs_out(runner, live_server, page):
    info = json.loads(runner.invoke(args=["demo", "--json", "--no-recording"]).output)

    page.goto(live_server + "/")
    page.get_by_role("link", name="Inloggen voor trainers").click()
    page.get_by_label("E-mailadres").fill(info["trainer"]["email"])
    page.get_by_label("Wachtwoord").fill(info["trainer"]["password"])
    page.get_by_role("button", name="Inloggen").click()
    page.get_by_role("link", name=info["course"]["title"]).click()
    heading = page.get_by_role("heading", level=1).inner_text()
    sessions_listed = page.locator("section[aria-labelledby=sessions-heading] table tbody tr").count()
    page.get_by_role("button", name="Uitloggen").click()
    after_logout = page.url

    assert heading == info["course"]["title"]
    assert sessions_listed == len(info["course"]["sessions"])
    assert after_logout == live_server + "/"
    assert page.goto(live_server + "/courses").url.startswith(live_server + "/login")


def test_language_switch_turns_the_login_page_english(live_server, page, db):
    page.goto(live_server + "/login")

    page.get_by_role("button", name="English").click()

    assert page.get_by_role("heading", level=1).inner_text() == "Log in"
    assert page.locator("html").get_attribute("lang") == "en"
