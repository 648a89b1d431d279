"""Jitsi rooms: names, URLs, IFrame setup, join tokens (HS256 self-hosted, RS256 JaaS), JaaS webhook
signatures and Prosody room state. The three modes and every claim follow the shared jitsi.md reference."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import jwt
import requests
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import current_app

PUBLIC, TOKEN, JAAS = "public", "token", "jaas"
MODES = (PUBLIC, TOKEN, JAAS)
DEFAULT_BASE_URL = "https://meet.jit.si"
DEFAULT_GRACE_MINUTES = 60
JAAS_BASE_URL = "https://8x8.vc"
JAAS_SCRIPT_URL = "https://8x8.vc/libs/external_api.min.js"
ROOM_PREFIX = "ouderkamer"
#: Lower-case ASCII letters and digits only: Prosody compares room names in lower case (jitsi.md §0).
ROOM_NAME = re.compile(r"[a-z0-9]{1,200}")
#: Browser and Prosody clocks drift; our lobby page is the real gate at opening time, so nbf may be early.
NBF_LEEWAY_S = 60
ROOM_API_TIMEOUT = (3.05, 5.0)
SIGNATURE_TOLERANCE_S = 300
MIN_SECRET_BYTES = 32  # below the HS256 digest size PyJWT warns, and such a secret is guessable offline
MIN_RSA_BITS = 2048
HASH_PREFIXES = ("config.", "interfaceConfig.", "devices.", "userInfo.", "appData.")

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


class JitsiError(Exception):
    """A Jitsi call or value failed; `status` is the HTTP status of the answer, if there was one."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class JitsiConfigError(JitsiError):
    """The Jitsi settings are missing, malformed or inconsistent; `setting` names the config key."""

    def __init__(self, setting: str, message: str):
        super().__init__(f"{setting}: {message}")
        self.setting = setting


class JitsiSignatureError(JitsiError):
    """A JaaS webhook signature is missing, malformed, stale or wrong."""


@dataclass(frozen=True)
class JitsiSettings:
    """Where rooms live and how tokens are signed; validated on construction (raises JitsiConfigError)."""

    mode: str = PUBLIC
    base_url: str = DEFAULT_BASE_URL
    xmpp_domain: str = ""  # empty: the host of base_url
    app_id: str = ""
    app_secret: str = field(default="", repr=False)
    jaas_app_id: str = ""
    jaas_key_id: str = ""
    jaas_private_key: str = field(default="", repr=False)
    jaas_webhook_secret: str = field(default="", repr=False)
    token_grace_minutes: int = DEFAULT_GRACE_MINUTES
    room_api_url: str = ""

    def __post_init__(self):
        _check_common(self)
        if self.mode == TOKEN:
            _check_token_mode(self)
        if self.mode == JAAS:
            _check_jaas_mode(self)

    @property
    def web_url(self) -> str:
        """The base URL that serves rooms and external_api.js in this mode."""
        return JAAS_BASE_URL if self.mode == JAAS else self.base_url

    @property
    def domain(self) -> str:
        """The Jitsi host (with port, if any) the IFrame API connects to."""
        return urlsplit(self.web_url).netloc

    @property
    def xmpp_host(self) -> str:
        """The XMPP domain of a self-hosted Jitsi: the token `sub` and the room API's `domain`."""
        return (self.xmpp_domain or urlsplit(self.base_url).hostname or "").lower()

    @property
    def jaas_kid(self) -> str:
        """The JaaS token `kid`: `<AppID>/<keyId>`."""
        return f"{self.jaas_app_id}/{self.jaas_key_id}"


def _check_common(s: JitsiSettings) -> None:
    if s.mode not in MODES:
        raise JitsiConfigError("mode", f"{s.mode!r} is not one of {', '.join(MODES)}")
    _check_http_url("JITSI_BASE_URL", s.base_url, root_only=True)
    if s.room_api_url:
        _check_http_url("JITSI_ROOM_API_URL", s.room_api_url, root_only=False)
    if s.room_api_url and s.mode == JAAS:
        raise JitsiConfigError("JITSI_ROOM_API_URL", "JaaS has no Prosody room API; use its webhooks instead")
    if not isinstance(s.token_grace_minutes, int) or s.token_grace_minutes < 0:
        raise JitsiConfigError(
            "JITSI_TOKEN_GRACE_MINUTES", f"{s.token_grace_minutes!r} is not a whole number >= 0"
        )
    if s.xmpp_domain and not re.fullmatch(r"[a-z0-9.-]+", s.xmpp_domain):
        raise JitsiConfigError("JITSI_XMPP_DOMAIN", f"{s.xmpp_domain!r} is not a lower-case host name")


def _check_http_url(setting: str, url: str, *, root_only: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise JitsiConfigError(setting, f"{url!r} is not an http(s) URL")
    if root_only and parts.path not in ("", "/"):
        raise JitsiConfigError(setting, f"{url!r} must not have a path: rooms live at the root of the host")


def _check_token_mode(s: JitsiSettings) -> None:
    if not s.app_id:
        raise JitsiConfigError("JITSI_APP_ID", "is required for self-hosted token auth")
    if len(s.app_secret.encode()) < MIN_SECRET_BYTES:
        raise JitsiConfigError("JITSI_APP_SECRET", f"must be at least {MIN_SECRET_BYTES} bytes (random)")


def _check_jaas_mode(s: JitsiSettings) -> None:
    if not s.jaas_app_id:
        raise JitsiConfigError("JAAS_APP_ID", "is required for JaaS")
    if not s.jaas_key_id or "/" in s.jaas_key_id:
        raise JitsiConfigError("JAAS_KEY_ID", "is required for JaaS: the API key id, without the AppID")
    _rsa_key(s.jaas_private_key)


@functools.lru_cache(maxsize=4)
def _rsa_key(pem: str) -> rsa.RSAPrivateKey:
    # Cached: loading checks the key, which costs tens of milliseconds, and get_jitsi() runs on every join.
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise JitsiConfigError("JAAS_PRIVATE_KEY", f"not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_RSA_BITS:
        raise JitsiConfigError("JAAS_PRIVATE_KEY", f"JaaS needs an RSA key of at least {MIN_RSA_BITS} bits")
    return key


def settings_from_config(config: Mapping) -> JitsiSettings:
    """Build JitsiSettings from config keys (reads JAAS_PRIVATE_KEY_PATH if set); raises JitsiConfigError."""
    jaas_app_id, app_id = _text(config, "JAAS_APP_ID"), _text(config, "JITSI_APP_ID")
    mode = JAAS if jaas_app_id else TOKEN if app_id else PUBLIC
    _check_stray_keys(config, mode)
    return JitsiSettings(
        mode=mode,
        base_url=(_text(config, "JITSI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
        xmpp_domain=_text(config, "JITSI_XMPP_DOMAIN").lower(),
        app_id=app_id,
        app_secret=_text(config, "JITSI_APP_SECRET"),
        jaas_app_id=jaas_app_id,
        # The console shows the full kid; accept it pasted whole as well as the bare key id.
        jaas_key_id=_text(config, "JAAS_KEY_ID").removeprefix(f"{jaas_app_id}/"),
        jaas_private_key=_private_key_text(config) if mode == JAAS else "",
        jaas_webhook_secret=_text(config, "JAAS_WEBHOOK_SECRET"),
        token_grace_minutes=_whole_number(config, "JITSI_TOKEN_GRACE_MINUTES", DEFAULT_GRACE_MINUTES),
        room_api_url=_text(config, "JITSI_ROOM_API_URL").rstrip("/"),
    )


def get_jitsi() -> JitsiSettings:
    """Return the JitsiSettings of the current app's config (reads the JaaS key file, if configured)."""
    return settings_from_config(current_app.config)


def _text(config: Mapping, key: str) -> str:
    value = config.get(key)
    return "" if value is None else str(value).strip()


def _whole_number(config: Mapping, key: str, default: int) -> int:
    value = _text(config, key)
    if not value:
        return default
    if not value.isdigit():
        raise JitsiConfigError(key, f"{value!r} is not a whole number >= 0")
    return int(value)


def _check_stray_keys(config: Mapping, mode: str) -> None:
    if _text(config, "JAAS_APP_ID") and _text(config, "JITSI_APP_ID"):
        raise JitsiConfigError(
            "JAAS_APP_ID", "choose JaaS (JAAS_*) or self-hosted tokens (JITSI_APP_*), not both"
        )
    owners = {"JITSI_APP_SECRET": ("JITSI_APP_ID", TOKEN), "JAAS_WEBHOOK_SECRET": ("JAAS_APP_ID", JAAS)}
    owners |= dict.fromkeys(
        ("JAAS_KEY_ID", "JAAS_PRIVATE_KEY", "JAAS_PRIVATE_KEY_PATH"), ("JAAS_APP_ID", JAAS)
    )
    for key, (needed, owner_mode) in owners.items():
        if _text(config, key) and mode != owner_mode:
            raise JitsiConfigError(needed, f"must be set when {key} is set")


def _private_key_text(config: Mapping) -> str:
    inline, path = _text(config, "JAAS_PRIVATE_KEY"), _text(config, "JAAS_PRIVATE_KEY_PATH")
    if inline and path:
        raise JitsiConfigError("JAAS_PRIVATE_KEY", "set JAAS_PRIVATE_KEY or JAAS_PRIVATE_KEY_PATH, not both")
    if path:
        try:
            return Path(path).read_text()
        except OSError as exc:
            raise JitsiConfigError("JAAS_PRIVATE_KEY_PATH", f"cannot read {path!r}: {exc.strerror}") from None
    # Environment files often carry a PEM on one line with literal \n escapes.
    return inline.replace("\\n", "\n") if "\n" not in inline else inline


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
    url = f"{settings.web_url}/{_room_path(settings, room)}"
    if token:
        url += "?" + urlencode({"jwt": token})
    if hash_config:
        url += "#" + url_hash(hash_config)
    return url


def _room_path(settings: JitsiSettings, room: str) -> str:
    # JaaS rooms live under the tenant: `<AppID>/<room>`, both in the URL and as the IFrame roomName.
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
    options: dict = {"roomName": _room_path(settings, room)}
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
    key = _rsa_key(settings.jaas_private_key)
    return jwt.encode(claims, key, algorithm="RS256", headers={"typ": "JWT", "kid": settings.jaas_kid})


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


def jaas_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Return the base64 HMAC-SHA256 JaaS sends as `v1` for this timestamp and raw body (pure)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def verify_jaas_signature(
    secret: str,
    header_value: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: int = SIGNATURE_TOLERANCE_S,
) -> int:
    """Check an `X-Jaas-Signature` header on the raw body; return its `t`, else raise JitsiSignatureError."""
    if not secret:
        raise JitsiSignatureError("no JaaS webhook secret is configured; refusing every delivery")
    timestamp, signatures = _parse_signature_header(header_value)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise JitsiSignatureError(f"timestamp {timestamp} is more than {tolerance_s} s from now")
    expected = jaas_signature(secret, timestamp, body).encode()
    if not any(hmac.compare_digest(expected, candidate.encode()) for candidate in signatures):
        raise JitsiSignatureError("signature does not match the body")
    return timestamp


def _parse_signature_header(header_value: str | None) -> tuple[int, list[str]]:
    timestamps, signatures = [], []
    for part in (header_value or "").split(","):
        scheme, sep, value = part.strip().partition("=")
        if not sep or not value:
            raise JitsiSignatureError(f"malformed signature header {header_value!r}")
        if scheme == "t":
            timestamps.append(value)
        elif scheme == "v1":  # every other scheme is ignored: no downgrade to a weaker one
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        raise JitsiSignatureError(f"signature header needs exactly one numeric t=, got {header_value!r}")
    if not signatures:
        raise JitsiSignatureError("signature header has no v1= signature")
    return int(timestamps[0]), signatures


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
