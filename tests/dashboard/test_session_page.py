"""The trainer's session page: attendance and answers of exactly the session's invitees."""

from __future__ import annotations

from sessions.calendar_models import RsvpAnswer, upsert_rsvp
from sessions.scheduling import course_sessions
from tests.dashboard.helpers import cells


def test_session_page_attendance_sums_minutes_between_joined_and_left_per_invitee(client, auth, trainer,
                                                                                  figures_course):
    first, second, _later = course_sessions(figures_course)
    auth.login(trainer.email)

    whole, chosen = (client.get(f"/sessions/{s.id}").get_data(as_text=True) for s in (first, second))

    assert cells(whole, "attendance") == [["Anna", "ja", "35"], ["Bram", "ja", "50"], ["Cees", "nee", "0"]]
    assert cells(chosen, "attendance") == [["Anna", "nee", "0"], ["Bram", "nee", "0"]]  # Anna only clicked


def test_session_page_lists_each_invitees_answer(client, auth, trainer, db, figures_course):
    _first, second, _later = course_sessions(figures_course)
    anna = second.invitees[0]
    upsert_rsvp(second.id, anna.id, RsvpAnswer.coming)
    db.session.commit()
    auth.login(trainer.email)

    html = client.get(f"/sessions/{second.id}").get_data(as_text=True)

    assert [row[:2] for row in cells(html, "rsvps")] == [["Anna", "✅ komt"], ["Bram", "nog geen antwoord"]]
    assert "Komt: 1 · Kan niet: 0 · Nog geen antwoord: 1" in html
