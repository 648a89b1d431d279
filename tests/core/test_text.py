"""Control characters in typed text: refused in titles and names, kept out of calendars and mail headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import ical, mail
from core.text import has_control_chars, replace_control_chars

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("value", ["Titel\nX", "Titel\r\nX", "Titel\tX", "Titel\x00", "Titel\x0bX", "Titel\x7f",
                                   "Titel\x85X", "Titel\u2028X", "Titel\u2029X", "\u202eTitel", "Titel\u2066X\u2069"])
def test_single_line_text_with_a_control_character_is_refused(value):
    assert has_control_chars(value) is True


@pytest.mark.parametrize("value", ["Voorlezen met een knuffel", "القراءة مع دمية", "Çocuklarla oyun", "Titel – 2",
                                   "Zoë\u200f", ""])
def test_ordinary_single_line_text_is_allowed(value):
    assert has_control_chars(value) is False


def test_multi_line_text_keeps_line_ends_and_tabs_but_not_other_controls():
    assert [has_control_chars(v, multi_line=True) for v in ("Een\r\nTwee\n\tDrie", "Een\x0bTwee", "Een\x00")] == [
        False, True, True]


def test_replace_control_chars_gives_text_that_passes_the_check():
    single = replace_control_chars("Titel\r\nX\x0bY\u202e")
    multi = replace_control_chars("Een\r\nTwee\rDrie\x0bVier\tVijf", multi_line=True)

    assert (single, multi) == ("Titel X Y ", "Een\nTwee\nDrie Vier\tVijf")
    assert not has_control_chars(single)
    assert not has_control_chars(multi, multi_line=True)


def test_calendar_of_texts_with_control_characters_is_valid_and_on_one_line():
    start = datetime(2027, 3, 25, 18, 30, tzinfo=UTC)
    spec = ical.EventSpec(uid="ouderkamer-session-1@ouderkamer.test", sequence=0, summary="Titel\r\nX\x0bY",
                          starts_at=start, ends_at=start + timedelta(hours=1), stamp=start,
                          organizer=ical.Person("trainer@example.org", "Tr\x0bainer"),
                          description="Een\r\nTwee\x0bDrie", attendee=ical.Person("sanne@example.org", "San\nne"))

    body = ical.to_bytes(ical.build_invite([spec], "REQUEST"))

    event = ical.parse(body).walk("VEVENT")[0]
    assert (str(event["SUMMARY"]), str(event["DESCRIPTION"])) == ("Titel X Y", "Een\nTwee Drie")
    assert (event["ATTENDEE"].params["CN"], event["ORGANIZER"].params["CN"]) == ("San ne", "Tr ainer")
    assert [c for c in body.replace(b"\r\n", b"").decode() if has_control_chars(c, multi_line=True) or c in "\r\n"] == []


def test_mail_subject_with_a_line_break_is_sent_on_one_line(app):
    with app.app_context():
        message = mail.build_message(sender="ouderkamer@example.org", to=["sanne@example.org"],
                                     subject="Uitnodiging: Titel\r\nBcc: x@example.net", text="Hallo")

    assert str(message["Subject"]) == "Uitnodiging: Titel Bcc: x@example.net"
    assert "Bcc" not in message.keys()
