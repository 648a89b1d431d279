"""Jitsi rooms: names, URLs, IFrame setup, join tokens (HS256 self-hosted, RS256 JaaS), JaaS webhook
signatures and Prosody room state. The three modes and every claim follow the shared jitsi.md reference.

`settings` reads and checks the config, `rooms` names rooms and builds URLs, `tokens` mints join tokens,
`webhooks` checks JaaS signatures, `prosody` reads room state; all speak plain values.
"""

from core.jitsi.errors import JitsiConfigError, JitsiError, JitsiSignatureError
from core.jitsi.prosody import ROOM_API_TIMEOUT, room_participants, room_size
from core.jitsi.rooms import (
    HASH_PREFIXES,
    ROOM_NAME,
    ROOM_PREFIX,
    check_room_name,
    iframe_setup,
    new_room_name,
    room_url,
    url_hash,
)
from core.jitsi.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_GRACE_MINUTES,
    JAAS,
    JAAS_BASE_URL,
    JAAS_SCRIPT_URL,
    MIN_RSA_BITS,
    MIN_SECRET_BYTES,
    MODES,
    PUBLIC,
    TOKEN,
    JitsiSettings,
    get_jitsi,
    settings_from_config,
)
from core.jitsi.tokens import (
    FEATURE_NAMES,
    NBF_LEEWAY_S,
    PARENT_FEATURES,
    TRAINER_FEATURES,
    cached_token,
    features_for,
    mint_token,
)
from core.jitsi.webhooks import SIGNATURE_TOLERANCE_S, jaas_signature, verify_jaas_signature

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_GRACE_MINUTES",
    "FEATURE_NAMES",
    "HASH_PREFIXES",
    "JAAS",
    "JAAS_BASE_URL",
    "JAAS_SCRIPT_URL",
    "MIN_RSA_BITS",
    "MIN_SECRET_BYTES",
    "MODES",
    "NBF_LEEWAY_S",
    "PARENT_FEATURES",
    "PUBLIC",
    "ROOM_API_TIMEOUT",
    "ROOM_NAME",
    "ROOM_PREFIX",
    "SIGNATURE_TOLERANCE_S",
    "TOKEN",
    "TRAINER_FEATURES",
    "JitsiConfigError",
    "JitsiError",
    "JitsiSettings",
    "JitsiSignatureError",
    "cached_token",
    "check_room_name",
    "features_for",
    "get_jitsi",
    "iframe_setup",
    "jaas_signature",
    "mint_token",
    "new_room_name",
    "room_participants",
    "room_size",
    "room_url",
    "settings_from_config",
    "url_hash",
    "verify_jaas_signature",
]
