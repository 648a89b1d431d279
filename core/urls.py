"""Absolute links built from PUBLIC_BASE_URL, inside or outside a request."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app
from werkzeug.routing import IntegerConverter

#: The largest id the database holds (a 32-bit INTEGER primary key on PostgreSQL).
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """`<int:…>` in routes: a number too large to be an id becomes 0, which no row has, so the view answers 404.

    Rejecting it in the converter instead would make Werkzeug answer 405 when the same path exists for another
    method, and passing it on would overflow the database's integer column (a 500).
    """

    def to_python(self, value: str) -> int:
        return int(value) if len(value) <= len(str(MAX_ID)) and int(value) <= MAX_ID else 0


def external_url(endpoint: str, **values) -> str:
    """An absolute URL for an endpoint, based on the configured public base URL (not the request's host)."""
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    return adapter.build(endpoint, values, force_external=True)
