"""Personal links: the parent's key to the route map (only the token's SHA-256 is stored)."""

from __future__ import annotations

from sqlalchemy import select

from core.db import utcnow
from core.extensions import db
from core.queue import enqueue_after_commit
from core.tokens import hash_token, new_token, same_hash
from core.urls import external_url
from courses.models import Parent
from courses.tasks import send_welcome

#: A stored hash that no token matches, compared when nothing was found so every miss costs the same work.
_NO_MATCH = "0" * 64


def issue_personal_link(parent: Parent, *, token: str | None = None) -> str:
    """Give the parent a new personal link (replacing any old one) and return its absolute URL; flushes."""
    token = token or new_token()
    parent.link_token_hash = hash_token(token)
    parent.link_issued_at = utcnow()
    db.session.flush()
    return external_url("parents.route_map", token=token)


def revoke_personal_link(parent: Parent) -> None:
    """Make the parent's personal link stop working; flushes."""
    parent.link_token_hash = None
    db.session.flush()


def find_parent_by_token(token: str) -> Parent | None:
    """The parent whose personal link carries `token`, or None for an unknown, old or revoked token."""
    digest = hash_token(token)
    parent = db.session.scalars(select(Parent).where(Parent.link_token_hash == digest)).first()
    stored = parent.link_token_hash if parent is not None else _NO_MATCH
    return parent if same_hash(token, stored) else None


def send_welcome_message(parent: Parent) -> str:
    """Issue a fresh personal link and enqueue one welcome message per channel after commit; returns the link."""
    link = issue_personal_link(parent)
    for channel in parent.channels:
        enqueue_after_commit(db.session, send_welcome, parent.id, link, channel)
    return link
