"""The parent portal's front door: the one token-to-parent resolver, the parent's page language, private pages.

A parent has no account: a personal link (`/p/<token>`) or the calendar token in their invites and messages is the
credential. Every parent-facing route finds its parent through `parent_or_404`, which scopes the request to the
parent's organisation (core.tenancy) and answers the same 404 for unknown, old, revoked and reset tokens.
"""

from __future__ import annotations

from flask import abort, current_app, g, make_response, render_template, session
from flask_babel import force_locale

from courses.links import resolve_parent
from courses.models import Parent


def parent_or_404(token: str, *, calendar: bool = True, personal: bool = True) -> Parent:
    """The parent behind a personal link and/or a calendar token (courses.links.resolve_parent); 404 otherwise."""
    parent = resolve_parent(token, calendar=calendar, personal=personal)
    if parent is None:
        abort(404)
    return parent


def route_map_token(token: str) -> str | None:
    """`token` when it is a personal link (which opens the route map), else None (a calendar token does not)."""
    return token if resolve_parent(token, calendar=False) is not None else None


def page_language(parent: Parent) -> str:
    """The language of the parent's pages: their switch choice, else their own, else the first configured."""
    languages = current_app.config["LANGUAGES"]
    g.page_languages = languages
    g.parent_language = parent.language
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    return parent.language if parent.language in languages else languages[0]


def private(response):
    """Mark a parent's response as personal: never cached, never indexed."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def render_private(language: str, template: str, **context):
    """Render a parent's page in `language` as a private response."""
    with force_locale(language):
        return private(make_response(render_template(template, **context)))
