"""`flask demo`: idempotent demo data for newcomers and reviewers.

It lives beside wsgi.py because it touches every domain package; only the composition root imports it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from accounts import services as accounts
from accounts.models import ApiToken, User
from activities import answers
from activities import services as home_activities
from activities.models import HomeActivity
from core.db import utcnow
from core.extensions import db
from core.tokens import hash_token
from core.urls import external_url
from courses import links as personal_links
from courses import services as courses
from courses.links import feed_urls, parent_feed_token
from courses.models import Course, Parent
from recordings import services as recordings
from recordings.models import Recording, RecordingSource
from sessions import scheduling as sessions
from sessions.calendar import join_url
from sessions.models import WorkshopSession

TZ = "Europe/Amsterdam"
PASSWORD = "ouderkamer-demo"
COORDINATOR = ("coordinator@ouderkamer.example", "Carla Coördinator")
TRAINER = ("trainer@ouderkamer.example", "Tim Trainer")
COURSE_TITLE = "Samen lezen thuis (demo)"
SERIES_TITLE = "Voorlezen en praten"
TRIAL_TITLE = "Proefbijeenkomst: probeer de lobby"
PAST_TITLE = "Kennismaking"
DEMO_RECORDING_REF = "demo:past-session"
ACTIVITY_TITLE = "Voorlezen met een knuffel"
ACTIVITY = {
    "body": "Kies samen met je kind een prentenboek. Lees het voor aan een knuffel. Laat je kind de plaatjes aanwijzen.",
    "request_text": "Stuur een foto van jullie leeshoek, of vertel in een spraakbericht wat je kind zei.",
    "translations": {
        "ar": {"title": "القراءة مع دمية", "body": "اختر مع طفلك كتابًا مصورًا. اقرأه لدمية. دع طفلك يشير إلى الصور.",
               "request_text": "أرسل صورة لركن القراءة، أو أخبرنا في رسالة صوتية بما قاله طفلك."},
        "tr": {"title": "Oyuncakla kitap okuma", "body": "Çocuğunla birlikte resimli bir kitap seç. Onu bir oyuncağa "
               "oku. Çocuğun resimleri göstersin.", "request_text": "Okuma köşenizin bir fotoğrafını gönder ya da "
               "çocuğunun ne dediğini sesli mesajla anlat."},
    },
}
DEMO_RESPONSE_KEY = "demo-response-first-parent"
PARENTS = (("Sanne de Vries", "nl", "sanne@ouderkamer.example", "+31612345601"),
           ("Amina El Amrani", "ar", "amina@ouderkamer.example", "+31612345602"),
           ("Elif Yılmaz", "tr", None, "+31612345603"))


def _user(email: str, name: str, coordinator: bool) -> User:
    return accounts.find_user_by_email(email) or accounts.create_user(
        email, name=name, password=PASSWORD, coordinator=coordinator)


def _demo_secret(label: str) -> str:
    # Derived from the secret key, so every run prints the same working token without storing it.
    return hmac.new(current_app.config["SECRET_KEY"].encode(), label.encode(), hashlib.sha256).hexdigest()


def _demo_api_token(user: User) -> str:
    token = accounts.API_TOKEN_PREFIX + "demo_" + _demo_secret("demo-api-token")[:40]
    if db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token))) is None:
        db.session.add(ApiToken(user=user, name="demo", prefix=token[:10], token_hash=hash_token(token)))
    return token


def next_dst_crossing_tuesday(today: date, tzid: str = TZ) -> date:
    """The first Tuesday of a 6-week Tuesday series with three dates on each side of a DST change."""
    tz = ZoneInfo(tzid)
    day = today + timedelta(weeks=3)
    while True:
        before = datetime.combine(day, time(12), tz).utcoffset()
        after = datetime.combine(day + timedelta(days=1), time(12), tz).utcoffset()
        if before != after:
            first_after = day + timedelta(days=1 + (1 - (day + timedelta(days=1)).weekday()) % 7)
            return first_after - timedelta(weeks=3)
        day += timedelta(days=1)


def _course(trainer: User) -> Course:
    existing = db.session.scalar(select(Course).where(Course.title == COURSE_TITLE))
    if existing:
        return existing
    return courses.create_course(title=COURSE_TITLE, trainers=[trainer], timezone=TZ,
                                 description="Zes korte bijeenkomsten over voorlezen, praten en spelen.")


def _session(course: Course, title: str) -> WorkshopSession | None:
    return db.session.scalar(select(WorkshopSession).where(
        WorkshopSession.course_id == course.id, WorkshopSession.title == title))


def _sessions(course: Course) -> None:
    if _session(course, SERIES_TITLE) is None:
        first = next_dst_crossing_tuesday(utcnow().astimezone(ZoneInfo(TZ)).date())
        sessions.schedule_series(course, title=SERIES_TITLE, first_local=datetime.combine(first, time(10)),
                                 timezone=TZ, count=6, recorded=True)
    trial_local = (utcnow() + timedelta(minutes=10)).astimezone(ZoneInfo(TZ)).replace(second=0, microsecond=0)
    trial = _session(course, TRIAL_TITLE)
    if trial is None:
        sessions.schedule_session(course, title=TRIAL_TITLE, starts_local=trial_local, timezone=TZ,
                                  duration_minutes=30, lobby_minutes=15)
    elif trial.starts_at != trial_local.astimezone(ZoneInfo("UTC")):
        # Through the service, so SEQUENCE rises and the parents' calendars get the update.
        sessions.reschedule_session(trial, starts_local=trial_local.replace(tzinfo=None), timezone=TZ)
    if _session(course, PAST_TITLE) is None:
        past_local = (utcnow() - timedelta(weeks=1)).astimezone(ZoneInfo(TZ)).replace(hour=10, minute=0, second=0,
                                                                                       microsecond=0)
        sessions.schedule_session(course, title=PAST_TITLE, starts_local=past_local, timezone=TZ,
                                  recorded=True, allow_past=True)


def _parents(course: Course) -> list[Parent]:
    result = []
    for name, language, email, phone in PARENTS:
        parent = db.session.scalar(select(Parent).where(
            Parent.name == name, Parent.organisation_id == course.organisation_id)) or courses.add_parent(
            name=name, language=language, email=email, phone=phone, organisation_id=course.organisation_id)
        courses.enrol(course, parent)
        result.append(parent)
    return result


def _demo_clip(target: Path) -> bool:
    # A 12-second 720p test picture with a tone, made by ffmpeg itself: no download, no binary in the repo.
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return False
    argv = [ffmpeg, "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=12",
            "-f", "lavfi", "-i", "sine=frequency=440:d=12", "-c:v", "libx264", "-preset", "veryfast",
            "-pix_fmt", "yuv420p", "-g", "60", "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(target)]
    return subprocess.run(argv, check=False, timeout=120).returncode == 0


def _recording(course: Course) -> Recording | None:
    past = _session(course, PAST_TITLE)
    existing = db.session.scalar(select(Recording).where(Recording.source_ref == DEMO_RECORDING_REF))
    if existing is not None or past is None:
        return existing
    with tempfile.TemporaryDirectory() as scratch:
        clip = Path(scratch) / "demo.mp4"
        if not _demo_clip(clip):
            return None
        return recordings.receive_file(past, clip, "kennismaking.mp4", source=RecordingSource.upload,
                                       source_ref=DEMO_RECORDING_REF)


def load_demo(*, with_recording: bool = True) -> dict:
    """Create (or refresh) the demo data and return its description; flushes, the caller commits."""
    _user(*COORDINATOR, coordinator=True)
    trainer = _user(*TRAINER, coordinator=False)
    token = _demo_api_token(trainer)
    course = _course(trainer)
    _sessions(course)
    parents = _parents(course)
    links = {p.id: personal_links.issue_personal_link(p, token=_demo_secret(f"demo-parent-{p.id}")) for p in parents}
    recording = _recording(course) if with_recording else None
    activity = _activity(course, trainer, parents)
    db.session.flush()
    return describe(course, trainer, token, parents, links, recording, activity)


def _activity(course: Course, trainer: User, parents: list[Parent]) -> HomeActivity:
    activity = db.session.scalar(select(HomeActivity).where(HomeActivity.course_id == course.id,
                                                            HomeActivity.title == ACTIVITY_TITLE))
    if activity is None:
        due = utcnow().astimezone(ZoneInfo(TZ)).date() + timedelta(days=7)
        activity = home_activities.create_activity(course, created_by=trainer, title=ACTIVITY_TITLE, session_id=None,
                                                   request_kinds=["photo", "voice", "text"], due_on=due, **ACTIVITY)
    # The first parent has answered already, so the inbox shows one answer and the others to nudge.
    answers.add_response(activity, parents[0], client_key=DEMO_RESPONSE_KEY,
                         text="We hebben elke avond samen voorgelezen. Hij wees alle dieren aan!")
    return activity


def _calendar_links(parent: Parent, trial: WorkshopSession | None) -> dict:
    feed = feed_urls(parent_feed_token(parent))["https"]
    return {"calendar_feed": feed, "trial_join_link": join_url(parent, trial) if trial else None}


def _session_json(s: WorkshopSession, now: datetime) -> dict:
    return {"id": s.id, "title": s.title, "starts_at": s.local_start.isoformat(),
            "trial": s.title == TRIAL_TITLE, "past": s.ends_at <= now}


def describe(course: Course, trainer: User, token: str, parents: list[Parent], links: dict[int, str],
             recording: Recording | None = None, activity: HomeActivity | None = None) -> dict:
    """The demo's JSON contract (see README)."""
    now = utcnow()
    return {
        "base_url": current_app.config["PUBLIC_BASE_URL"],
        "login_url": external_url("accounts.login"),
        "organisation": {"id": course.organisation.id, "name": course.organisation.name},
        "coordinator": {"email": COORDINATOR[0], "password": PASSWORD},
        "trainer": {"email": trainer.email, "password": PASSWORD, "api_token": token},
        "course": {"id": course.id, "title": course.title, "url": external_url("dashboard.course", course_id=course.id),
                   "sessions": [_session_json(s, now) for s in sessions.course_sessions(course)]},
        "recording": None if recording is None else {
            "id": recording.id, "session_id": recording.session_id, "state": recording.state.value,
            "status_url": external_url("recordings.status", recording_id=recording.id)},
        "parents": [{"id": p.id, "name": p.name, "language": p.language, "personal_link": links[p.id],
                     **_calendar_links(p, _session(course, TRIAL_TITLE))} for p in parents],
        "activity": None if activity is None else {
            "id": activity.id, "title": activity.title,
            "inbox_url": external_url("activities.inbox", course_id=course.id, activity_id=activity.id),
            "response_pages": {str(p.id): f"{links[p.id]}/activities/{activity.id}" for p in parents}},
    }


@click.command("demo")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the demo contract).")
@click.option("--if-empty", is_flag=True, help="Only load the demo when there are no accounts yet.")
@click.option("--no-recording", is_flag=True, help="Skip the sample recording of the past session.")
@with_appcontext
def demo_command(as_json: bool, if_empty: bool, no_recording: bool) -> None:
    """Load (or refresh) the demo data and print how to log in."""
    if current_app.config["OUDERKAMER_ENV"] == "production":
        # The demo accounts have a published password (ASVS 2.5.4: no default accounts in production).
        raise click.ClickException("the demo data is not for production (OUDERKAMER_ENV=production)")
    if if_empty and db.session.scalar(select(User.id).limit(1)) is not None:
        click.echo(f"Ouderkamer: {current_app.config['PUBLIC_BASE_URL']} (existing data kept; no demo loaded)")
        return
    info = load_demo(with_recording=not no_recording)
    db.session.commit()
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False))
        return
    click.echo(f"Ouderkamer runs at {info['base_url']}\n"
               f"Log in as trainer:     {info['trainer']['email']} / {PASSWORD}\n"
               f"Log in as coordinator: {info['coordinator']['email']} / {PASSWORD}\n"
               f"Demo course: {info['course']['url']}")
