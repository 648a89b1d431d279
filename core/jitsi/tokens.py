"""Join tokens: HS256 for self-hosted Jitsi, RS256 for JaaS, with a validity window and per-role features."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime

import jwt

from core.jitsi.errors import JitsiError
from core.jitsi.rooms import check_room_name
from core.jitsi.settings import JAAS, PUBLIC, TOKEN, JitsiSettings, rsa_key

#: Browser and Prosody clocks drift; our lobby page is the real gate at opening time, so nbf may be early.
NBF_LEEWAY_S = 60

#: Every feature name the Jitsi client knows (jitsi.md §2.4). Each token lists all of them: with a map present
#: only keys set to "true" count, and without one the outcome depends on the Prosody version.
FEATURE_NAMES = (
    "branding", "calendar", "create-polls", "file-upload", "flip", "inbound-call", "livestreaming",
    "live-translation", "lobby", "moderation", "outbound-call", "recording", "room", "screen-sharing",
    "send-groupchat", "send-private-message", "list-visitors", "sip-inbound-call", "sip-outbound-call",
    "transcription",
)  # fmt: skip
#: Everyone may take part in the conversation. `room` has no documented effect; withholding it must not be
#: what keeps a parent out. Telephony, transcription, translation, branding and calendar stay off for all:
#: paid or third-party services we do not offer.
PARENT_FEATURES = frozenset({"flip", "room", "screen-sharing", "send-groupchat", "send-private-message"})
#: Trainers (moderators) also run the session, which includes recording it for the app.
TRAINER_FEATURES = PARENT_FEATURES | {
    "create-polls", "file-upload", "list-visitors", "livestreaming", "lobby", "moderation", "recording",
}  # fmt: skip


def mint_token(
    settings: JitsiSettings,
    *,
    room: str,
    user_id: str | int,
    name: str,
    email: str | None,
    moderator: bool,
    opens_at: datetime,
    ends_at: datetime,
    now: datetime | None = None,
) -> str | None:
    """Return a signed join token for one person and room (None in public mode); pure, mint it at join time.

    :param opens_at: when the room opens for this person (session start minus the lobby lead time).
    :param ends_at: the session end; the token stays valid `token_grace_minutes` longer for reconnects.
    """
    if settings.mode == PUBLIC:
        return None
    window = _token_window(settings, opens_at, ends_at, now)
    user = {"id": str(user_id), "name": name or "", "email": email or "", "moderator": _flag(moderator)}
    claims = _base_claims(settings, check_room_name(room)) | window
    claims["context"] = {"user": user, "features": features_for(moderator=moderator)}
    if settings.mode == TOKEN:
        return jwt.encode(claims, settings.app_secret, algorithm="HS256", headers={"typ": "JWT"})
    key = rsa_key(settings.jaas_private_key)
    return jwt.encode(claims, key, algorithm="RS256", headers={"typ": "JWT", "kid": settings.jaas_kid})


#: A cached token is handed out until this many seconds before its `exp`, then a fresh one is minted.
TOKEN_REFRESH_BEFORE_EXP_S = 300


def cached_token(settings: JitsiSettings, cache, **claims) -> str | None:
    """`mint_token(settings, **claims)`, minted once and kept in `cache` (core.cache) until shortly before `exp`.

    The cache key covers every input of the token and a fingerprint of the signing key, so a changed name,
    window or key mints anew; a lobby polled every few seconds signs one token per person and session window.
    """
    if settings.mode == PUBLIC:
        return None
    now = claims.get("now")
    window = _token_window(settings, claims["opens_at"], claims["ends_at"], now)
    current = time.time() if now is None else _unix(now)
    ttl = window["exp"] - TOKEN_REFRESH_BEFORE_EXP_S - current
    signing = settings.app_secret if settings.mode == TOKEN else settings.jaas_private_key + settings.jaas_kid
    inputs = [settings.mode, settings.app_id, settings.jaas_app_id, settings.xmpp_host,
              hashlib.sha256(signing.encode()).hexdigest(), claims["room"], str(claims["user_id"]), claims["name"],
              claims["email"], bool(claims["moderator"]), window]
    key = "jitsi-token:" + hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    if ttl > 0:
        (found,) = cache.get_many([key])
        if found:
            return found
    token = mint_token(settings, **claims)
    if ttl > 0:
        cache.set(key, token, ttl)
    return token


def features_for(*, moderator: bool) -> dict[str, str]:
    """Return the full `context.features` map: every feature name, "true" or "false", by role."""
    granted = TRAINER_FEATURES if moderator else PARENT_FEATURES
    return {name: _flag(name in granted) for name in FEATURE_NAMES}


def _flag(value: bool) -> str:
    # Strings, not booleans: token_affiliation and JaaS both read "true"/"false" (jitsi.md §2.4).
    return "true" if value else "false"


def _base_claims(settings: JitsiSettings, room: str) -> dict:
    if settings.mode == JAAS:
        return {"iss": "chat", "aud": "jitsi", "sub": settings.jaas_app_id, "room": room}
    return {"iss": settings.app_id, "aud": settings.app_id, "sub": settings.xmpp_host, "room": room}


def _token_window(
    settings: JitsiSettings, opens_at: datetime, ends_at: datetime, now: datetime | None
) -> dict:
    if _unix(ends_at) <= _unix(opens_at):
        raise ValueError(f"ends_at {ends_at} is not after opens_at {opens_at}")
    nbf = _unix(opens_at) - NBF_LEEWAY_S
    exp = _unix(ends_at) + settings.token_grace_minutes * 60
    current = time.time() if now is None else _unix(now)
    if current < nbf:
        raise JitsiError(f"the room opens at {opens_at.isoformat()}; a token now would not be valid yet")
    if current >= exp:
        raise JitsiError(f"the session ended at {ends_at.isoformat()}; a token now would already be expired")
    return {"nbf": nbf, "exp": exp}


def _unix(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} must be timezone-aware")
    return int(moment.timestamp())
