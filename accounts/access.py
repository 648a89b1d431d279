"""Who may use the coordinator's pages: the one place the check lives."""

from __future__ import annotations

import functools

from flask import abort
from flask_login import current_user, login_required


def coordinator_required(view):
    """Let only logged-in coordinators through; anyone else logged in gets 403."""

    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_coordinator:
            abort(403)
        return view(*args, **kwargs)

    return wrapper
