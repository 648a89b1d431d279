"""The coordinator's audit page in Chromium: no serious axe-core violations, in Dutch and English, at 360 px."""

from __future__ import annotations

import pytest

from accounts import audit
from core.extensions import db as _db
from tests.conftest import PASSWORD
from tests.test_accessibility import axe_js, serious_violations  # noqa: F401  (axe_js is a fixture)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("language", ["nl", "en"])
def test_audit_page_has_no_serious_violations(live_server, page, axe_js, coordinator, course,  # noqa: F811
                                              create_parent, language):
    parent = create_parent("Sanne", course=course)
    audit.record("parent.updated", parent=parent, course_id=course.id, fields=["email", "phone"])
    _db.session.commit()
    page.goto(f"{live_server}/login")
    if language != "nl":
        page.locator(f"form.language-switch button[lang={language}]").click()
    page.locator("input[name=email]").fill(coordinator.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form:not(.language-switch) button[type=submit]").click()

    response = page.goto(f"{live_server}/audit")

    assert response.status == 200
    assert page.locator("html").get_attribute("lang") == language
    assert page.locator("tbody tr").count() == 2  # the enrolment by the fixture, and the change
    violations = serious_violations(page, axe_js)
    assert violations == [], "\n".join(violations)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
