"""Every word in the parent's language: each parent page, rendered in Arabic and Turkish, shows no Dutch UI string
(catalogue check: every msgid a page renders is translated), shows the titles the trainer wrote in that language,
and keeps every trainer-entered text inside a direction-isolated element (<bdi>, or dir="auto"/"ltr"/"rtl").
The calendar feed's events carry the parent's language too, with the join link labelled."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from babel.messages.pofile import read_po
from flask import render_template
from flask_babel import force_locale, gettext
from icalendar import Calendar

from activities import tasks as activity_tasks
from core import mail
from core.db import utcnow
from core.extensions import db as _db
from courses import services as courses
from courses.links import issue_personal_link, parent_feed_token
from courses.tasks import welcome_sms_text
from recordings import notify
from sessions import calendar, invite_messages, reminder_messages, scheduling
from sessions.rsvp import rsvp_urls
from sessions.scheduling import course_sessions
from tests.activities.helpers import make_activity

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "every-word-parent-link-" + "e" * 24
COURSE_TITLE = "Samen lezen thuis (demo)"  # Dutch only: shown as it is, isolated
COURSE_TEXT = "Voorlezen, praten en spelen."
SESSION_TITLE = "Voorlezen met de kinderen"
SESSION_IN = {"ar": "القراءة مع الأطفال", "tr": "Çocuklarla okuma"}
ACTIVITY_TITLE = "Een boek kiezen"
ACTIVITY_TEXTS = ["Lees samen een prentenboek.", "Stuur een foto van jullie leeshoek."]  # make_activity's
CANCELLED_TITLE = "Knutselen met karton"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Texts(HTMLParser):
    """The page's text nodes, each with whether an ancestor isolates its direction (<bdi> or a dir attribute)."""

    def __init__(self):
        super().__init__()
        self.stack: list[bool] = []
        self.skip = 0
        self.nodes: list[tuple[str, bool]] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "title"):
            self.skip += 1
        if tag not in VOID:
            self.stack.append(tag == "bdi" or any(name == "dir" for name, _ in attrs))

    def handle_endtag(self, tag):
        if tag in ("script", "style", "title"):
            self.skip -= 1
        if tag not in VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if data.strip() and not self.skip:
            self.nodes.append((" ".join(data.split()), any(self.stack[1:])))  # the <html dir> itself does not count


def _texts(html: str) -> Texts:
    parser = Texts()
    parser.feed(html)
    return parser


def _dutch_fragments(language: str) -> list[str]:
    """The Dutch UI strings (msgids, split at their placeholders) a page in `language` must not show."""
    with open(ROOT / "translations" / language / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalogue = read_po(f)
    fragments = set()
    for message in catalogue:
        if not message.id or isinstance(message.id, tuple):
            continue
        for part in re.split(r"%\(\w+\)[sd]|%[sd]", message.id):
            part = " ".join(part.split()).strip(" .,:;!?()–-")
            if len(part) >= 12 and " " in part:  # whole phrases: single words may be names or shared
                fragments.add(part)
    return sorted(fragments)


@pytest.fixture
def world(db, create_course, create_parent, create_workshop_session, local_storage, published):
    """A course with Dutch-only texts, a session with Arabic and Turkish titles, an activity, a recording."""
    course = create_course(COURSE_TITLE, description=COURSE_TEXT)
    course.publish_automatically = True
    session = create_workshop_session(course=course, title=SESSION_TITLE)
    session.translations = {lang: {"title": title} for lang, title in SESSION_IN.items()}
    _db.session.commit()
    activity = make_activity(course, title=ACTIVITY_TITLE, kinds=("text",))
    return course, session, activity


def _problems(name: str, html: str, dutch: list[str], trainer_texts: list[str]) -> list[str]:
    """A page's or HTML mail's Dutch UI strings and trainer texts outside a direction-isolated element."""
    nodes = _texts(html).nodes
    ui_text = " ".join(text for text, isolated in nodes if not isolated)
    return ([f"{name}: Dutch UI string {fragment!r}" for fragment in dutch if fragment in ui_text]
            + [f"{name}: trainer text not isolated: {text!r}" for text, isolated in nodes
               if not isolated and any(t in text for t in trainer_texts)])


def _plain_problems(name: str, text: str, dutch: list[str], trainer_texts: list[str], language: str) -> list[str]:
    """The same for plain text (SMS, text mails, subjects): trainer text with Latin letters inside an Arabic text
    must sit between U+2068 and U+2069; in Turkish (left to right, like the Dutch) it needs nothing."""
    outside = re.sub("\u2068[^\u2069]*\u2069", " ", text)
    problems = []
    for trainer_text in trainer_texts:
        if language == "ar" and re.search("[A-Za-z]", trainer_text) and trainer_text in outside:
            problems.append(f"{name}: trainer text not isolated: {trainer_text!r}")
        outside = outside.replace(trainer_text, " ")
    return problems + [f"{name}: Dutch UI string {fragment!r}" for fragment in dutch if fragment in outside]


@pytest.mark.parametrize("language", ["ar", "tr"])
def test_parent_pages_show_no_dutch_and_isolate_every_trainer_text(client, world, create_parent, create_workshop_session,
                                                                  local_storage, published, language):
    course, session, activity = world
    parent = create_parent("Amina", course=course, language=language, email=f"amina-{language}@example.org")
    issue_personal_link(parent, token=TOKEN)
    cancelled = create_workshop_session(course=course, title=CANCELLED_TITLE)
    scheduling.cancel_session(cancelled, reason="De trainer is ziek.")
    feed_token = parent_feed_token(parent)
    rsvp = urlsplit(rsvp_urls(parent, session)["yes"]).path
    _db.session.commit()
    recording = published(local_storage)  # of the fixtures' default course; enrol the parent there too
    courses.enrol(recording.course, parent)
    _db.session.commit()
    dutch = _dutch_fragments(language)
    trainer_texts = [COURSE_TITLE, COURSE_TEXT, SESSION_TITLE, ACTIVITY_TITLE, recording.course.title,
                     SESSION_IN[language], CANCELLED_TITLE, *ACTIVITY_TEXTS]
    paths = {"route map": f"/p/{TOKEN}", "lobby": f"/p/{TOKEN}/s/{session.id}",
             "activity": f"/p/{TOKEN}/activities/{activity.id}", "watch": f"/p/{TOKEN}/watch/{recording.uuid}",
             "rsvp": rsvp, "join page": f"/c/{feed_token}/join/{cancelled.id}", "my data": f"/p/{TOKEN}/data",
             "deletion": f"/p/{TOKEN}/delete", "dead link": "/p/an-old-link-" + "x" * 30}

    # The parent's pages follow the parent's language; the dead link (no parent) follows the browser's.
    responses = {name: client.get(path, headers={"Accept-Language": language}) for name, path in paths.items()}

    pages = {name: response.get_data(as_text=True) for name, response in responses.items()}
    problems = [f"{name}: HTTP {r.status_code}" for name, r in responses.items()
                if r.status_code != (404 if name == "dead link" else 200)]
    for name, html in pages.items():
        problems += _problems(name, html, dutch, trainer_texts)
    assert problems == [], "\n".join(problems)
    assert SESSION_IN[language] in pages["lobby"] and SESSION_TITLE not in pages["lobby"]
    assert SESSION_IN[language] in pages["route map"] and SESSION_IN[language] in pages["rsvp"]
    # One date and time format per locale: the pages say when as the messages do.
    assert calendar.local_when(session, language) in pages["rsvp"]
    assert calendar.local_date(session.starts_at, session.timezone, language) in pages["route map"]
    time = calendar.local_time(session.starts_at, session.timezone, language)  # "7:00 م" in Arabic, not "19:00"
    assert time in pages["route map"] and time in pages["rsvp"]


def _mail_parts(message) -> tuple[str, str, str]:
    """An e-mail's subject, text and HTML."""
    parts = {part.get_content_type(): part.get_content() for part in message.walk()
             if part.get_content_type() in ("text/plain", "text/html")}
    return str(message["Subject"]), parts["text/plain"], parts["text/html"]


@pytest.mark.parametrize("language", ["ar", "tr"])
def test_every_parent_message_speaks_the_parents_language_and_isolates_trainer_text(app, world, create_parent,
                                                                                     language):
    course, session, activity = world
    session.cancellation_reason = "De trainer is ziek."
    parent = create_parent("Amina", course=course, language=language, email=f"amina-{language}@example.org")
    link = "https://ouderkamer.test/p/" + TOKEN
    recording = SimpleNamespace(session=session, course=course)  # what the "recording ready" message reads
    earlier = {session.id: (session.starts_at - timedelta(days=1), session.ends_at - timedelta(days=1))}
    mails, texts = {}, {}
    with app.test_request_context():
        for kind, method, previous in (("invite", "REQUEST", None), ("change", "REQUEST", earlier),
                                       ("cancel", "CANCEL", None)):
            session.sequence = 1 if kind == "change" else 0
            about = invite_messages.about_session(session, parent, method, previous)
            mails[kind] = invite_messages.mail_message(about, parent, calendar.invite_ics(session, parent, method),
                                                       method)
            texts[f"{kind} sms"] = invite_messages.sms_text(about, parent)
            texts[f"{kind} whatsapp"] = " ".join(invite_messages.whatsapp_variables(about, parent).values())
        mails["reminder"] = reminder_messages.reminder_mail(session, parent, session.starts_at - timedelta(hours=2))
        texts["reminder sms"] = reminder_messages.reminder_text(session, parent)
        with force_locale(language):
            subject = gettext("Je persoonlijke link voor Ouderkamer")
            mails["welcome"] = mail.build_message(
                sender="o@example.org", to=[parent.email], subject=subject,
                text=render_template("emails/welcome.txt", parent=parent, link=link),
                html=render_template("emails/welcome.html", parent=parent, link=link, subject=subject))
            texts["welcome sms"] = welcome_sms_text(parent, link)
            mails["recording ready"] = notify.ready_message(recording, parent, link)
            texts["recording ready sms"] = notify.ready_sms_text(recording, link)
            mails["nudge"] = activity_tasks.nudge_message(activity, parent, link)
            texts["nudge sms"] = activity_tasks.nudge_sms_text(activity, parent, link)
    dutch = _dutch_fragments(language)
    trainer_texts = [SESSION_TITLE, ACTIVITY_TITLE, COURSE_TITLE, "De trainer is ziek.", *ACTIVITY_TEXTS]

    problems = []
    for name, message in mails.items():
        subject, text, html = _mail_parts(message)
        problems += _problems(f"{name} mail", html, dutch, trainer_texts)
        problems += _plain_problems(f"{name} mail text", text, dutch, trainer_texts, language)
        problems += _plain_problems(f"{name} subject", subject, dutch, trainer_texts, language)
        texts[f"{name} text"] = text
    for name, text in texts.items():
        problems += _plain_problems(name, text, dutch, trainer_texts, language)
    assert problems == [], "\n".join(problems)
    # The session's title as the trainer gave it in this language, the date in the locale's one format.
    when = calendar.local_when(session, language)
    for name in ("invite", "reminder"):
        assert SESSION_IN[language] in _mail_parts(mails[name])[2] and when in _mail_parts(mails[name])[1], name
    assert SESSION_IN[language] in texts["invite sms"] and SESSION_TITLE not in texts["reminder sms"]
    invite_ics = next(p for p in mails["invite"].walk() if p.get_content_type() == "text/calendar")
    [event] = Calendar.from_ical(invite_ics.get_payload(decode=True)).walk("VEVENT")
    assert str(event["SUMMARY"]) == SESSION_IN[language]


def test_the_calendar_feed_speaks_the_parents_language_with_a_labelled_join_link(client, world, create_parent):
    _course, session, _activity = world
    parent = create_parent("Elif", course=_course, language="tr", email="elif@example.org")
    token = parent_feed_token(parent)
    _db.session.commit()

    body = client.get(f"/c/{token}.ics").get_data()

    [event] = Calendar.from_ical(body).walk("VEVENT")
    description = str(event["DESCRIPTION"])
    assert str(event["SUMMARY"]) == SESSION_IN["tr"]
    assert description.startswith("Buluşmaya katılın: http")


def test_a_trainer_gives_the_course_title_in_arabic_and_sees_what_is_still_missing(client, auth, trainer, course):
    auth.login(trainer.email)
    form = client.get(f"/courses/{course.id}/edit").get_data(as_text=True)
    values = {"title": course.title, "description": "", "language": "nl", "timezone": "Europe/Amsterdam",
              "retention_days": "60", "reminder_offsets": ["1440", "60"], "title_ar": "  القراءة معًا ",
              "description_ar": "", "title_tr": "", "csrf_token": re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                                                                            form).group(1)}

    saved = client.post(f"/courses/{course.id}/edit", data=values)
    page = client.get(f"/courses/{course.id}").get_data(as_text=True)
    _db.session.refresh(course)

    assert saved.status_code == 302
    assert course.translations == {"ar": {"title": "القراءة معًا"}}
    assert 'name="title_tr"' in form and 'name="description_ar"' in form
    assert re.search(r"Vertaling ontbreekt \(ouders zien dan het Nederlands\): EN, TR\b", page)


def test_a_trainer_gives_a_series_its_titles_per_language_when_planning_and_editing(client, auth, trainer, course):
    auth.login(trainer.email)
    first = datetime.combine(utcnow().date() + timedelta(days=8), datetime.min.time()).replace(hour=10)
    planned = client.post(f"/courses/{course.id}/sessions/new", data={
        "title": SESSION_TITLE, "description": "", "kind": "workshop", "starts_at": first.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": "11:00", "timezone": "Europe/Amsterdam", "lobby_minutes": "15", "repeat": "weekly", "count": "3",
        "invite": "course", "title_ar": f" {SESSION_IN['ar']} ", "description_tr": "Birlikte okuyoruz."})
    dates = sorted(course_sessions(course), key=lambda s: s.starts_at)
    form = client.get(f"/sessions/{dates[1].id}/edit").get_data(as_text=True)

    edited = client.post(f"/sessions/{dates[1].id}/edit", data={
        "title": SESSION_TITLE, "description": "", "starts_at": dates[1].local_start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": "11:00", "timezone": "Europe/Amsterdam", "scope": "following", "title_ar": SESSION_IN["ar"],
        "title_tr": SESSION_IN["tr"], "description_tr": "Birlikte okuyoruz."})
    _db.session.expire_all()

    assert (planned.status_code, edited.status_code) == (302, 302)
    assert 'name="title_tr"' in form and f'value="{SESSION_IN["ar"]}"' in form
    first_only = {"ar": {"title": SESSION_IN["ar"]}, "tr": {"description": "Birlikte okuyoruz."}}
    following = {"ar": {"title": SESSION_IN["ar"]}, "tr": {"title": SESSION_IN["tr"], "description": "Birlikte okuyoruz."}}
    assert [s.translations for s in dates] == [first_only, following, following]
    assert [s.sequence for s in dates] == [0, 1, 1]  # the translated dates are announced as a change


#: The informal "you" in Turkish: its pronouns, second-person verb endings and "your" on the words parents meet.
INFORMAL_TR = re.compile(
    r"\b(sen|senin|sana|seni|senden|sende|sensin)\b"
    r"|\b\w+(ebilirsin|abilirsin|iyorsun|ıyorsun|uyorsun|üyorsun|misin|mısın|musun|müsün|mezsin|mazsın)\b"
    r"|\b(cevabın|cevabını|cevabına|cevapların|mesajın|mesajını|sesli mesajın|fotoğrafın|telefonundan|kursundan)\b",
    re.IGNORECASE)


def test_turkish_speaks_to_everyone_formally():
    with open(ROOT / "translations" / "tr" / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalogue = read_po(f)
    informal = [(message.id, text) for message in catalogue if message.id
                for text in (message.string if isinstance(message.string, tuple) else (message.string,))
                if text and INFORMAL_TR.search(text)]
    assert informal == []
