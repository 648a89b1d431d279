"""Prosody room state of a self-hosted Jitsi: participant count and occupants (network calls)."""

from __future__ import annotations

import requests

from core.jitsi.errors import JitsiError
from core.jitsi.rooms import check_room_name
from core.jitsi.settings import JitsiSettings

ROOM_API_TIMEOUT = (3.05, 5.0)


def room_size(
    settings: JitsiSettings, room: str, *, token: str | None = None, timeout=ROOM_API_TIMEOUT
) -> int:
    """Return Prosody's participant count for a room, 0 when it does not exist (network: GET /room-size)."""
    answer = _room_api_get(settings, "/room-size", room, token, timeout)
    if answer is None:
        return 0
    count = answer.get("participants") if isinstance(answer, dict) else None
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise JitsiError(f"unexpected /room-size answer {answer!r}")
    return count


def room_participants(
    settings: JitsiSettings, room: str, *, token: str | None = None, timeout=ROOM_API_TIMEOUT
) -> list[dict[str, str]]:
    """Return the room's occupants as {jid, email, display_name}; [] without a room (network: GET /room)."""
    answer = _room_api_get(settings, "/room", room, token, timeout)
    if answer is None:
        return []
    if not isinstance(answer, list) or not all(isinstance(item, dict) for item in answer):
        raise JitsiError(f"unexpected /room answer {answer!r}")
    keys = ("jid", "email", "display_name")
    return [{key: str(item.get(key) or "") for key in keys} for item in answer]


def _room_api_get(settings: JitsiSettings, path: str, room: str, token: str | None, timeout):
    if not settings.room_api_url:
        raise JitsiError("JITSI_ROOM_API_URL is not set; the room state of this Jitsi cannot be read")
    params = {"room": check_room_name(room), "domain": settings.xmpp_host}
    if token:
        params["token"] = token
    url = settings.room_api_url + path
    try:
        response = requests.get(url, params=params, timeout=timeout)
    except requests.RequestException as exc:
        # Not chained: the request URL inside the exception would carry the token into logs.
        message = str(exc).replace(token, "<token>") if token else str(exc)
        raise JitsiError(f"GET {url} failed: {type(exc).__name__}: {message}") from None
    if response.status_code == 404:  # Prosody answers 404 for a room nobody is in
        return None
    if response.status_code != 200:
        raise JitsiError(
            f"GET {url} answered {response.status_code}: {response.text[:200]}", status=response.status_code
        )
    try:
        return response.json()
    except ValueError:
        raise JitsiError(f"GET {url} answered non-JSON: {response.text[:200]!r}", status=200) from None
