"""Bearer-token authentication for the API, and the token owner's own record."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import g, jsonify, request

from accounts import services
from accounts.models import User
from core import tenancy
from core.api import operation
from core.errors import api_error
from core.extensions import db

USER_SCHEMA = {
    "type": "object",
    "required": ["id", "email", "name", "role"],
    "properties": {
        "id": {"type": "integer"},
        "email": {"type": "string"},
        "name": {"type": "string"},
        "role": {"type": "string", "enum": ["trainer", "coordinator"]},
    },
}


def _unauthorised(message: str):
    response = api_error("unauthorized", message, 401)
    response.headers["WWW-Authenticate"] = 'Bearer realm="ouderkamer"'
    return response


def token_required(view: Callable) -> Callable:
    """Let a request through only with a valid `Authorization: Bearer <token>`; sets g.api_user."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthorised("Send an API token as 'Authorization: Bearer <token>'.")
        user = services.find_user_by_api_token(token.strip())
        if user is None:
            return _unauthorised("This API token is unknown or revoked.")
        db.session.commit()  # records last_used_at
        g.api_user = user
        tenancy.enter(user.organisation_id)
        return view(*args, **kwargs)

    return wrapper


def user_json(user: User) -> dict:
    """The API representation of a trainer or coordinator."""
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role.value}


@operation("/me", summary="The trainer who owns the token", tag="accounts", response=USER_SCHEMA)
@token_required
def me():
    return jsonify(user_json(g.api_user))
