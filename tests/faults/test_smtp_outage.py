"""The SMTP server down when a parent's welcome mail goes out: Huey's scheduled retry sends it once it is back.

tests/sessions/test_invites.py covers the same outage for invitations, calling the task by hand; here the retry
is the one Huey scheduled itself, and the server is stopped and started again on the same port.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from aiosmtpd.controller import Controller

from core.queue import huey
from courses import links
from courses import services as courses
from courses.tasks import send_welcome
from tests.fixtures.smtp import RecordingHandler, free_port


class RestartableSmtp:
    """aiosmtpd on one fixed port that a test stops and starts again; it keeps what arrived across restarts."""

    def __init__(self):
        self.port, self.handler, self._controller = free_port(), RecordingHandler(), None

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, server_hostname="smtp.test")
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_outage(app):
    server = RestartableSmtp()
    saved = {key: app.config.get(key) for key in ("MAIL_TRANSPORT", "SMTP_HOST", "SMTP_PORT", "SMTP_TIMEOUT")}
    app.config.update(MAIL_TRANSPORT="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_TIMEOUT=5)
    app.extensions.pop("ouderkamer.mail", None)
    huey.flush()  # no scheduled retries left over from other tests
    yield server
    server.stop()
    huey.flush()
    app.config.update(saved)
    app.extensions.pop("ouderkamer.mail", None)


def _run_due_retries() -> list[str]:
    """Run every retry Huey scheduled, now instead of after its delay; return their task names."""
    ran = []
    for scheduled in huey.read_schedule(datetime(2100, 1, 1)):
        scheduled.eta = None
        ran.append(scheduled.name)
        huey.execute(scheduled)
    return ran


def test_welcome_mail_with_smtp_down_goes_out_once_after_the_server_returns(db, course, smtp_outage, caplog):
    parent, _created = courses.enrol_parent(course, name="Sanne", email="sanne@example.org")
    with caplog.at_level("CRITICAL", logger="huey"):  # Huey logs the failed attempt with its traceback
        link = links.send_welcome_message(parent)
        db.session.commit()  # immediate mode: the first attempt runs here and fails
    during = list(smtp_outage.handler.messages)
    smtp_outage.start()

    first_round = _run_due_retries()
    second_round = _run_due_retries()

    assert during == []
    assert (first_round, second_round) == ([send_welcome.name], [])
    ((envelope_from, rcpt_tos, message),) = smtp_outage.handler.messages
    assert rcpt_tos == ["sanne@example.org"]
    body = message.get_body(("plain",)).get_content()
    assert link in body


def test_welcome_mail_with_smtp_down_for_every_attempt_gives_up_quietly(db, course, smtp_outage, caplog):
    parent, _created = courses.enrol_parent(course, name="Sanne", email="sanne@example.org")

    with caplog.at_level("CRITICAL", logger="huey"):
        links.send_welcome_message(parent)
        db.session.commit()
        rounds = [_run_due_retries() for _attempt in range(send_welcome.task_class.default_retries + 1)]

    assert rounds == [[send_welcome.name]] * send_welcome.task_class.default_retries + [[]]
    assert smtp_outage.handler.messages == []
    smtp_outage.start()  # a server back after the last attempt gets nothing: the task gave up
    assert _run_due_retries() == []
    assert smtp_outage.handler.messages == []
