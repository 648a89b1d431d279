"""The parent portal's front door: the one token-to-parent resolver, the parent's page language, private pages.

A parent has no account: a personal link (`/p/<token>`) or the calendar token in their invites and messages is the
credential. Every parent-facing route finds its parent through `parent_or_404`, which scopes the request to the
parent's organisation (core.tenancy) and answers the same 404 for unknown, old, revoked and reset tokens.

Links arrive through SMS, WhatsApp and mail, where a sentence's full stop, a closing bracket, a line break or angle
brackets stick to them: `ForgivingLinks` takes those off a parent link's path before routing (tokens are URL-safe
base64 and never contain them). A dead link's 404 is in the browser's language with what to do next (core.errors).
"""

from __future__ import annotations

import re

from flask import abort, current_app, g, make_response, render_template, request, session
from flask_babel import force_locale

from courses.links import find_feed, find_parent_by_token, resolve_parent
from courses.models import Parent
from sessions.rsvp import find_rsvp_link

#: Paths that carry a parent's link: personal link pages, calendar links, one-tap RSVP links.
LINK_PREFIXES = ("/p/", "/c/", "/r/")
# Matched on the WSGI path (UTF-8 bytes as latin-1), so a no-break or zero-width space is its UTF-8 bytes.
_SPACE = r"\s|\xc2\xa0|\xe2\x80\x8b"
#: What a message or a paste adds at the end of a link: punctuation, spaces (also a literal %20), brackets, slashes.
_TRAILING = re.compile(rf"(?:[.,;:!?)\]}}>'\"/]|%20|{_SPACE})+$")
#: Never part of a link: whitespace and angle brackets anywhere in it (a link broken over two lines, <https://...>).
_INSIDE = re.compile(rf"(?:[<>]|{_SPACE})+")


def forgiving_path(path: str) -> str:
    """A parent link's WSGI path without what messages and pastes add to it; other paths unchanged."""
    if not path.startswith(LINK_PREFIXES):
        return path
    cleaned = _TRAILING.sub("", _INSIDE.sub("", path))
    return cleaned if len(cleaned) > 3 else path


class ForgivingLinks:
    """WSGI middleware: route a parent link's cleaned path (forgiving_path), so the view, the rate limits and the
    pages' own links all see the clean token."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        environ["PATH_INFO"] = forgiving_path(environ.get("PATH_INFO", ""))
        return self.wsgi_app(environ, start_response)


def known_link() -> bool:
    """True when this request's personal link, calendar token or RSVP code is valid (one indexed read), so the
    guessing limit (core.ratelimits) never refuses it."""
    args = request.view_args or {}
    if "token" in args and request.blueprint == "feeds":  # /c/ links carry the calendar token only
        return find_feed(args["token"]) is not None
    if "token" in args:
        return find_parent_by_token(args["token"]) is not None or find_feed(args["token"]) is not None
    if request.blueprint == "rsvp" and {"feed_id", "session_id", "code"} <= args.keys():
        return find_rsvp_link(args["feed_id"], args["session_id"], args["code"]) is not None
    return False


def parent_or_404(token: str, *, calendar: bool = True, personal: bool = True) -> Parent:
    """The parent behind a personal link and/or a calendar token (courses.links.resolve_parent); 404 otherwise."""
    parent = resolve_parent(token, calendar=calendar, personal=personal)
    if parent is None:
        abort(404)
    g.link_parent = parent  # a later 404 (a removed recording) can then name the parent's organisation
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
