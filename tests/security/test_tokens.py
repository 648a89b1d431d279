"""Tokens (ASVS 2.5, 3.5, 6.2): reset links single-use and expiring; every token stored only as a hash and
compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest
from sqlalchemy import String, Text, select

from accounts import services
from accounts.models import PasswordReset
from core import tokens
from core.db import utcnow
from courses import links
from courses.links import course_feed_token, find_feed, parent_feed_token

pytestmark = pytest.mark.unit

NEW = {"password": "a brand new secret", "confirm": "a brand new secret"}


def _every_text_cell(db) -> list[str]:
    cells = []
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | Text)]
        for row in db.session.execute(select(*columns)) if columns else []:
            cells += [v for v in row if isinstance(v, str)]
    return cells


def test_reset_link_works_once(client, db, trainer):
    _user, token = services.start_password_reset(trainer.email)
    db.session.commit()

    first = client.post(f"/password/reset/{token}", data=NEW)
    second = client.post(f"/password/reset/{token}", data={"password": "yet another secret!", "confirm":
                                                          "yet another secret!"})

    assert first.status_code == 302
    assert second.status_code == 404
    assert services.authenticate(trainer.email, NEW["password"]).id == trainer.id


def test_reset_link_expires(client, db, trainer):
    _user, token = services.start_password_reset(trainer.email, valid_for=timedelta(hours=1))
    row = db.session.scalars(select(PasswordReset)).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()

    response = client.post(f"/password/reset/{token}", data=NEW)

    assert response.status_code == 404
    assert services.authenticate(trainer.email, NEW["password"]) is None


def test_using_one_reset_link_spends_every_open_one(client, db, trainer):
    _user, older = services.start_password_reset(trainer.email)
    _user, newer = services.start_password_reset(trainer.email)
    db.session.commit()

    client.post(f"/password/reset/{newer}", data=NEW)

    assert client.get(f"/password/reset/{older}").status_code == 404
    assert services.RESET_VALID_FOR <= timedelta(hours=1)


def test_every_kind_of_token_is_stored_only_as_a_hash(db, trainer, course, create_parent):
    parent = create_parent(course=course)
    personal = links.issue_personal_link(parent).rsplit("/", 1)[1]
    calendar = parent_feed_token(parent)
    course_calendar = course_feed_token(course)
    _row, api = services.create_api_token(trainer)
    _user, reset = services.start_password_reset(trainer.email)
    db.session.commit()
    secrets = {"personal": personal, "calendar": calendar, "course calendar": course_calendar, "api": api,
               "reset": reset}

    cells = _every_text_cell(db)

    assert {name: s for name, s in secrets.items() if any(s in cell for cell in cells)} == {}
    assert {name for name, s in secrets.items() if hashlib.sha256(s.encode()).hexdigest() in cells} == set(secrets)


@pytest.fixture
def compared(monkeypatch):
    """Records every stored hash handed to hmac.compare_digest by core.tokens.same_hash."""
    seen = []
    real = hmac.compare_digest

    def spy(a, b):
        seen.append(b)
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    return seen


def test_every_token_lookup_compares_in_constant_time_hits_and_misses(db, trainer, course, create_parent,
                                                                       compared):
    parent = create_parent(course=course)
    personal = links.issue_personal_link(parent).rsplit("/", 1)[1]
    calendar = parent_feed_token(parent)
    _row, api = services.create_api_token(trainer)
    _user, reset = services.start_password_reset(trainer.email)
    db.session.commit()
    lookups = [(links.find_parent_by_token, personal), (find_feed, calendar),
               (services.find_user_by_api_token, api), (services.find_password_reset, reset)]

    hits = [lookup(token) is not None for lookup, token in lookups]
    misses = [lookup(token + "x") is None for lookup, token in lookups]

    assert hits == [True] * 4
    assert misses == [True] * 4
    assert compared[:4] == [tokens.hash_token(token) for _lookup, token in lookups]
    assert len(compared) == 8  # a miss costs the same comparison, against a hash nothing matches


def test_personal_tokens_are_long_and_random(db, course, create_parent):
    parent = create_parent(course=course)

    issued = {links.issue_personal_link(parent).rsplit("/", 1)[1] for _ in range(20)}

    assert len(issued) == 20
    assert min(len(t) for t in issued) >= 43  # 256 bits, base64url
