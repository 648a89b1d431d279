"""Jitsi settings: the three modes (public, self-hosted token, JaaS), read from config and validated."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import current_app

from core.jitsi.errors import JitsiConfigError

PUBLIC, TOKEN, JAAS = "public", "token", "jaas"
MODES = (PUBLIC, TOKEN, JAAS)
DEFAULT_BASE_URL = "https://meet.jit.si"
DEFAULT_GRACE_MINUTES = 60
JAAS_BASE_URL = "https://8x8.vc"
JAAS_SCRIPT_URL = "https://8x8.vc/libs/external_api.min.js"
MIN_SECRET_BYTES = 32  # below the HS256 digest size PyJWT warns, and such a secret is guessable offline
MIN_RSA_BITS = 2048


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
    rsa_key(s.jaas_private_key)


@functools.lru_cache(maxsize=4)
def rsa_key(pem: str) -> rsa.RSAPrivateKey:
    """Load and check the JaaS PEM private key (RSA, at least MIN_RSA_BITS); raise JitsiConfigError if unusable."""
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
