"""Room names, browser URLs with a config hash, and the IFrame API setup for a room."""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Mapping
from urllib.parse import quote, urlencode

from core.jitsi.errors import JitsiError
from core.jitsi.settings import JAAS, JAAS_SCRIPT_URL, JitsiSettings

ROOM_PREFIX = "ouderkamer"
#: Lower-case ASCII letters and digits only: Prosody compares room names in lower case (jitsi.md §0).
ROOM_NAME = re.compile(r"[a-z0-9]{1,200}")
HASH_PREFIXES = ("config.", "interfaceConfig.", "devices.", "userInfo.", "appData.")


def new_room_name() -> str:
    """Return a fresh unguessable room name: lower-case ASCII letters and digits, 128 random bits."""
    random_part = base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()
    return ROOM_PREFIX + random_part


def check_room_name(room: str) -> str:
    """Return `room` unchanged if it is lower-case ASCII letters and digits, else raise JitsiError."""
    if not isinstance(room, str) or not ROOM_NAME.fullmatch(room):
        raise JitsiError(f"invalid room name {room!r}: use lower-case ASCII letters and digits only")
    return room


def room_url(
    settings: JitsiSettings, room: str, *, token: str | None = None, hash_config: Mapping | None = None
) -> str:
    """Return a room's browser URL, with `?jwt=` and a `#config…` hash when given; never mail a token URL."""
    url = f"{settings.web_url}/{room_path(settings, room)}"
    if token:
        url += "?" + urlencode({"jwt": token})
    if hash_config:
        url += "#" + url_hash(hash_config)
    return url


def room_path(settings: JitsiSettings, room: str) -> str:
    """The room's path on the host, also its IFrame roomName: JaaS rooms live under the tenant, `<AppID>/<room>`."""
    return (
        f"{settings.jaas_app_id}/{check_room_name(room)}" if settings.mode == JAAS else check_room_name(room)
    )


def url_hash(params: Mapping) -> str:
    """Return `config.x=<json>&userInfo.y=<json>…` for a Jitsi URL hash (values JSON- then URI-encoded)."""
    for key in params:
        if not key.startswith(HASH_PREFIXES):
            raise ValueError(f"{key!r} cannot go in a Jitsi URL hash; keys start with one of {HASH_PREFIXES}")
    return "&".join(
        f"{key}={quote(json.dumps(value, ensure_ascii=False), safe='')}" for key, value in params.items()
    )


def iframe_setup(
    settings: JitsiSettings,
    room: str,
    *,
    token: str | None = None,
    display_name: str | None = None,
    email: str | None = None,
    lang: str | None = None,
    config_overwrite: Mapping | None = None,
) -> dict:
    """Return {"domain", "script_url", "options"} for `new JitsiMeetExternalAPI(domain, options)`."""
    options: dict = {"roomName": room_path(settings, room)}
    if token:
        options["jwt"] = token
    user_info = {k: v for k, v in (("displayName", display_name), ("email", email)) if v}
    if user_info:
        options["userInfo"] = user_info
    if lang:
        options["lang"] = lang
    if config_overwrite:
        options["configOverwrite"] = dict(config_overwrite)
    return {"domain": settings.domain, "script_url": _script_url(settings), "options": options}


def _script_url(settings: JitsiSettings) -> str:
    return JAAS_SCRIPT_URL if settings.mode == JAAS else f"{settings.base_url}/external_api.js"
