"""Fixtures for the parents' side of courses: personal links and the route map."""

from __future__ import annotations

import pytest

from courses import links


@pytest.fixture
def create_link(db):
    """Issue a personal link for a parent and commit; returns (token, url)."""
    def make(parent, token: str | None = None):
        url = links.issue_personal_link(parent, token=token)
        db.session.commit()
        return url.rsplit("/", 1)[1], url

    return make
