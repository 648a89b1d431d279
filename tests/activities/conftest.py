"""Fixtures for the home-activity tests."""

from __future__ import annotations

import pytest

from core.mail import get_mail_transport
from core.sms import get_sms_transport


@pytest.fixture
def outboxes(app):
    """The mail and SMS outboxes, emptied: (mails, texts)."""
    mail, sms = get_mail_transport(), get_sms_transport()
    mail.clear()
    sms.clear()
    return mail.outbox, sms.outbox
