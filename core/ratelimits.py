"""Rate-limit keys and configured limits (Flask-Limiter; Redis storage when REDIS_URL is set).

Personal links and calendar feeds are counted per token, not per address: a school or a mosque behind one
NAT address can bring thirty parents to the same lobby at once, each polling their own link. Guessing is
counted per address instead, by the misses limit: only requests on a token route that end in a 404.
"""

from __future__ import annotations

import hashlib

from flask import current_app, request
from flask_limiter import ApplicationLimit


def client_address() -> str:
    """The client's address (the proxy's X-Forwarded-For when PROXY_COUNT trusts it)."""
    return request.remote_addr or "unknown"


def link_token() -> str | None:
    """The personal-link, calendar, reset token or RSVP code in the URL of this request, if any."""
    args = request.view_args or {}
    return args.get("token") or args.get("code")


def limit_key() -> str:
    """The default key: a hash of the token on token routes (keys reach the logs, tokens must not), else the address."""
    token = link_token()
    if token:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return "addr:" + client_address()


def login_account_key() -> str:
    """The e-mail address a login names (hashed), so one account is not tried from many addresses."""
    email = (request.form.get("email") or "").strip().lower()
    return "account:" + hashlib.sha256(email.encode()).hexdigest()[:32]


def configured(name: str):
    """A limit read from the app config when a request is checked, so settings and tests can change it."""
    return lambda: current_app.config[name]


def _is_miss(response) -> bool:
    return response.status_code == 404


#: Wrong personal, calendar, reset or RSVP links per client address, whatever the token.
LINK_MISSES = ApplicationLimit(limit_provider=configured("RATELIMIT_LINK_MISSES"), key_function=client_address,
                               scope="link-misses", exempt_when=lambda: link_token() is None,
                               deduct_when=_is_miss)
