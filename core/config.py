"""Settings: read from the environment (and an optional `.env`), with embedded defaults, validated at start-up."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from limits import parse_many
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core import jitsi, safefetch, sms

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A setting is missing, malformed or inconsistent; `setting` names it."""

    def __init__(self, setting: str, message: str):
        super().__init__(f"{setting}: {message}")
        self.setting = setting


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    help: str
    kind: str = "str"  # str | int (positive) | int0 (zero or more) | bool | limit (Flask-Limiter string)


#: Every environment variable Ouderkamer reads. The README's configuration table is checked against this list.
SETTINGS: tuple[Setting, ...] = (
    Setting("OUDERKAMER_ENV", "development", "`development` or `production`; production requires SECRET_KEY"),
    Setting("SECRET_KEY", None, "Signs sessions and links; generated into `instance/secret_key` when unset"),
    Setting("PUBLIC_BASE_URL", "http://127.0.0.1:5000", "Absolute base URL used in every link we send"),
    Setting("INSTANCE_PATH", None, "Folder for the SQLite database, queue and local media (default `instance/`)"),
    Setting("DATABASE_URL", None, "SQLAlchemy URL; default SQLite in the instance folder; `postgresql://…` at scale"),
    Setting("REDIS_URL", None, "Redis URL: task queue (RedisHuey), rate-limit storage, shared cache; unset = SQLite queue"),
    Setting("WORKERS", "2", "Worker threads started by `flask worker`", "int"),
    Setting("MEDIA_ROOT", None, "Local media folder when S3 is not configured (default `instance/media`)"),
    Setting("S3_BUCKET", None, "Private bucket; setting it switches media storage to S3"),
    Setting("S3_ENDPOINT_URL", None, "S3-compatible endpoint (MinIO, Garage, Ceph); unset = AWS"),
    Setting("S3_REGION", "us-east-1", "Region name used for signing"),
    Setting("S3_ACCESS_KEY_ID", None, "Access key; unset = boto3's own credential chain"),
    Setting("S3_SECRET_ACCESS_KEY", None, "Secret key; required together with S3_ACCESS_KEY_ID"),
    Setting("S3_ADDRESSING_STYLE", "path", "`path` or `virtual`"),
    Setting("JITSI_BASE_URL", "https://meet.jit.si", "Jitsi Meet host for rooms (public or self-hosted)"),
    Setting("JITSI_APP_ID", None, "Self-hosted token auth: app id (`iss`/`aud`)"),
    Setting("JITSI_APP_SECRET", None, "Self-hosted token auth: HS256 secret; required with JITSI_APP_ID"),
    Setting("JITSI_XMPP_DOMAIN", None, "XMPP domain of a self-hosted Jitsi (token `sub`); default the host of JITSI_BASE_URL"),
    Setting("JITSI_ROOM_API_URL", None, "Prosody HTTP address for room-size polling, e.g. `http://prosody:5280`"),
    Setting("JITSI_TOKEN_GRACE_MINUTES", "60", "Minutes a room token stays valid after the session ends", "int0"),
    Setting("JITSI_LOAD_TIMEOUT_S", "20", "Seconds a live page waits for the Jitsi room before it says the room does "
            "not load (with a new-tab link and Retry)", "int"),
    Setting("JAAS_APP_ID", None, "JaaS tenant (`vpaas-magic-cookie-…`)"),
    Setting("JAAS_KEY_ID", None, "JaaS API key id (`kid`); requires JAAS_APP_ID and a private key"),
    Setting("JAAS_PRIVATE_KEY", None, "JaaS RS256 private key (PEM text)"),
    Setting("JAAS_PRIVATE_KEY_PATH", None, "JaaS RS256 private key file (alternative to JAAS_PRIVATE_KEY)"),
    Setting("JAAS_WEBHOOK_SECRET", None, "Secret that signs JaaS webhooks (`X-Jaas-Signature`)"),
    Setting("JAAS_DOWNLOAD_HOSTS", "api-vo.jitsi.net", "Hosts a JaaS recording link may point at (https only), "
            "comma-separated: exact names or a leading-dot suffix such as `.8x8.vc` for its subdomains"),
    Setting("RECORDING_MAX_UPLOAD_BYTES", "8589934592", "Largest recording a trainer may upload (bytes; 8 GB)", "int"),
    Setting("RECORDING_STALE_HEARTBEAT_S", "300", "Seconds without a heartbeat before a pipeline step is re-queued", "int"),
    Setting("MEDIA_MAX_GOP_S", "10", "Longest source keyframe interval (s) that still allows the fast remux path", "int"),
    Setting("MEDIA_FIRST_PLAYABLE_MAX_GOP_S", "12", "Longest source keyframe interval (s) that still gets a first "
            "playable version by remux before the full ladder (H.264 + AAC sources); 0 turns it off", "int0"),
    Setting("MEDIA_TRANSCODE_TIMEOUT_S", None, "Time limit for one transcode (s); default 120 s plus the duration", "int"),
    Setting("MEDIA_SMALL_LADDER", "false", "Transcode to the 360p rung only (`true`/`false`), for small machines", "bool"),
    Setting("JAAS_WEBHOOK_TOLERANCE_S", "300", "Largest age (s) of a JaaS webhook signature timestamp", "int"),
    Setting("PLAYBACK_URL_TTL_SECONDS", "300", "Seconds a media URL handed to a player stays valid", "int"),
    Setting("RECORDING_KEEP_ORIGINAL", "false", "Keep a recording's original after publishing (`true`/`false`)", "bool"),
    Setting("RESPONSE_MAX_UPLOAD_BYTES", "104857600", "Largest photo, clip or voice file a parent sends with an answer "
            "(or a trainer adds to a home activity), in bytes (100 MB)", "int"),
    Setting("RESPONSE_MAX_SECONDS", "180", "Longest clip or voice message of a home activity or answer (s)", "int"),
    Setting("PHOTO_MAX_SIDE", "2048", "Longest side (px) of a stored photo; larger ones are scaled down", "int"),
    Setting("PHOTO_MAX_BYTES", "1048576", "Largest stored photo after re-encoding (bytes); quality and then size "
            "go down until it fits", "int"),
    Setting("MAIL_FROM", "ouderkamer@localhost", "Organiser mailbox: sender of every mail and ORGANIZER of invites"),
    Setting("MAIL_FROM_NAME", "Ouderkamer", "Display name of the sender"),
    Setting("SMTP_HOST", None, "SMTP server; unset = mail is printed to the log"),
    Setting("MAIL_TRANSPORT", None, "`log`, `smtp` or `memory` (tests); default: smtp when SMTP_HOST is set, else log"),
    Setting("SMTP_PORT", None, "SMTP port; default 25, 587 or 465 by SMTP_SECURITY", "int"),
    Setting("SMTP_TIMEOUT", "10", "Seconds before an SMTP connection gives up", "int"),
    Setting("SMTP_USERNAME", None, "SMTP login; requires SMTP_PASSWORD"),
    Setting("SMTP_PASSWORD", None, "SMTP password"),
    Setting("SMTP_SECURITY", "none", "`none`, `starttls` or `ssl`"),
    Setting("SMS_GATEWAY_URL", None, "HTTP SMS gateway (JSON POST); unset = SMS printed to the log"),
    Setting("SMS_GATEWAY_TOKEN", None, "Bearer token for the SMS gateway"),
    Setting("SMS_SENDER", "Ouderkamer", "SMS sender name or number"),
    Setting("SMS_TIMEOUT", "10", "Seconds before the SMS gateway call gives up", "int"),
    Setting("SMS_TRANSPORT", None, "`log`, `http`, `twilio` or `memory` (tests); default: http when SMS_GATEWAY_URL "
            "is set, twilio when TWILIO_ACCOUNT_SID is set, else log"),
    Setting("TWILIO_ACCOUNT_SID", None, "Twilio account SID (`AC…`): SMS and WhatsApp through Twilio's REST API"),
    Setting("TWILIO_AUTH_TOKEN", None, "Twilio auth token; required with TWILIO_ACCOUNT_SID"),
    Setting("TWILIO_MESSAGING_SERVICE_SID", None, "Twilio Messaging Service (`MG…`) that picks the sender; "
            "unset = SMS_SENDER / WHATSAPP_FROM"),
    Setting("TWILIO_API_URL", "https://api.twilio.com", "Base URL of the Twilio-compatible REST API"),
    Setting("WHATSAPP_FROM", None, "WhatsApp sender number (E.164, e.g. `+3197010000000`), sent as `whatsapp:+…`"),
    Setting("WHATSAPP_TEMPLATES", None, "Approved WhatsApp templates as JSON (or a JSON file path): "
            "`{\"reminder\": {\"nl\": \"HX…\"}}` (Content SID per message kind and language)"),
    Setting("RATELIMIT_STORAGE_URI", None, "Rate-limit storage; default Redis when REDIS_URL is set, else memory"),
    Setting("RATELIMIT_LOGIN", "10 per minute", "Login attempts per client address", "limit"),
    Setting("RATELIMIT_LOGIN_ADDRESS_ACCOUNT", "20 per hour", "Failed logins per client address and e-mail address",
            "limit"),
    Setting("RATELIMIT_LOGIN_SLOWDOWN_AFTER", "5",
            "Failed logins per e-mail address, from any address, before each further attempt waits 1, 2, 4 … s", "int"),
    Setting("RATELIMIT_LOGIN_SLOWDOWN_MAX_S", "30", "Longest wait (s) between login attempts on one e-mail address",
            "int"),
    Setting("RATELIMIT_PASSWORD_RESET", "5 per minute;30 per hour",
            "Reset requests and new-password posts per client address", "limit"),
    Setting("RATELIMIT_PERSONAL_LINK", "60 per minute",
            "Requests per personal link and page (route map, lobby): per link, not per address", "limit"),
    Setting("RATELIMIT_FEED", "60 per minute", "Calendar feed requests per calendar token", "limit"),
    Setting("RATELIMIT_LINK_MISSES", "30 per minute",
            "Unknown personal, calendar or reset links per client address (guessing)", "limit"),
    Setting("PROXY_COUNT", "0", "Reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted", "int0"),
    Setting("LANGUAGES", "nl,en,ar,tr", "Languages offered to parents; the first is the default"),
)

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
SESSION_LIFETIME = timedelta(hours=12)
SQLITE_PRAGMA_HINT = "use sqlite:///path or postgresql://user@host/db"


def _env(name: str, env: dict[str, str]) -> str | None:
    value = env.get(name)
    return value.strip() if value is not None and value.strip() != "" else None


def read_settings(env: dict[str, str] | None = None) -> dict[str, str | None]:
    """Return every setting from `env` (default os.environ), empty strings counted as unset."""
    env = dict(os.environ) if env is None else env
    return {s.name: _env(s.name, env) or s.default for s in SETTINGS}


def _check_url(setting: str, value: str | None, schemes: tuple[str, ...]) -> None:
    if value is None:
        return
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise ConfigError(setting, f"{value!r} is not a valid URL (expected {' or '.join(schemes)})")


def _check_database(value: str | None) -> None:
    if value is None:
        return
    try:
        url = make_url(value)
    except ArgumentError:
        raise ConfigError("DATABASE_URL", f"cannot parse {value!r}; {SQLITE_PRAGMA_HINT}") from None
    if url.get_backend_name() not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError("DATABASE_URL", f"unsupported database {url.get_backend_name()!r}; {SQLITE_PRAGMA_HINT}")
    if url.get_backend_name() == "postgresql" and not url.database:
        raise ConfigError("DATABASE_URL", "no database name in the PostgreSQL URL")


def _check_pairs(s: dict[str, str | None]) -> None:
    required_with = [
        ("S3_ENDPOINT_URL", "S3_BUCKET"),
        ("S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"),
        ("S3_SECRET_ACCESS_KEY", "S3_ACCESS_KEY_ID"),
        ("JITSI_APP_ID", "JITSI_APP_SECRET"),
        ("JITSI_APP_SECRET", "JITSI_APP_ID"),
        ("JAAS_KEY_ID", "JAAS_APP_ID"),
        ("JAAS_APP_ID", "JAAS_KEY_ID"),
        ("SMTP_USERNAME", "SMTP_PASSWORD"),
        ("SMTP_PASSWORD", "SMTP_USERNAME"),
        ("SMTP_USERNAME", "SMTP_HOST"),
        ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"),
        ("TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID"),
        ("TWILIO_MESSAGING_SERVICE_SID", "TWILIO_ACCOUNT_SID"),
    ]
    for present, needed in required_with:
        if s[present] and not s[needed]:
            raise ConfigError(needed, f"must be set when {present} is set")
    if s["JAAS_KEY_ID"] and not (s["JAAS_PRIVATE_KEY"] or s["JAAS_PRIVATE_KEY_PATH"]):
        raise ConfigError("JAAS_PRIVATE_KEY", "must be set (or JAAS_PRIVATE_KEY_PATH) when JAAS_KEY_ID is set")
    if s["JAAS_PRIVATE_KEY_PATH"] and not Path(s["JAAS_PRIVATE_KEY_PATH"]).is_file():
        raise ConfigError("JAAS_PRIVATE_KEY_PATH", f"no readable file at {s['JAAS_PRIVATE_KEY_PATH']!r}")
    if s["MAIL_TRANSPORT"] == "smtp" and not s["SMTP_HOST"]:
        raise ConfigError("SMTP_HOST", "must be set when MAIL_TRANSPORT is smtp")
    if s["SMS_TRANSPORT"] == "http" and not s["SMS_GATEWAY_URL"]:
        raise ConfigError("SMS_GATEWAY_URL", "must be set when SMS_TRANSPORT is http")
    if s["SMS_TRANSPORT"] == "twilio" and not s["TWILIO_ACCOUNT_SID"]:
        raise ConfigError("TWILIO_ACCOUNT_SID", "must be set when SMS_TRANSPORT is twilio")
    if s["JAAS_APP_ID"] and s["JITSI_APP_ID"]:
        raise ConfigError("JAAS_APP_ID", "choose either JaaS (JAAS_*) or self-hosted tokens (JITSI_APP_*), not both")


def _check_limit(name: str, value: str | None) -> None:
    try:
        parse_many(value or "")
    except ValueError:
        raise ConfigError(name, f"{value!r} is not a rate limit such as '10 per minute;50 per hour'") from None


def _check_choices_and_numbers(s: dict[str, str | None]) -> None:
    choices = {"S3_ADDRESSING_STYLE": ("path", "virtual"), "SMTP_SECURITY": ("none", "starttls", "ssl"),
               "OUDERKAMER_ENV": ("development", "production"), "MAIL_TRANSPORT": (None, "log", "smtp", "memory"),
               "SMS_TRANSPORT": (None, "log", "http", "twilio", "memory")}
    for name, allowed in choices.items():
        if s[name] not in allowed:
            raise ConfigError(name, f"{s[name]!r} is not one of {', '.join(allowed)}")
    for setting in SETTINGS:
        value = s[setting.name]
        if setting.kind.startswith("int") and value is not None:
            if not str(value).isdigit() or (setting.kind == "int" and int(value) <= 0):
                raise ConfigError(setting.name, f"{value!r} is not a {'positive ' * (setting.kind == 'int')}whole number")
    for setting in SETTINGS:
        if setting.kind == "bool" and str(s[setting.name]).lower() not in BOOLEANS:
            raise ConfigError(setting.name, f"{s[setting.name]!r} is not true or false")
    for setting in SETTINGS:
        if setting.kind == "limit":
            _check_limit(setting.name, s[setting.name])
    langs = [x.strip() for x in (s["LANGUAGES"] or "").split(",") if x.strip()]
    if not langs or any(not x.isalpha() for x in langs):
        raise ConfigError("LANGUAGES", "give a comma-separated list of language codes, e.g. nl,en,ar,tr")


def _check_whatsapp(s: dict[str, str | None]) -> None:
    if s["WHATSAPP_FROM"] and not E164.match(s["WHATSAPP_FROM"]):
        raise ConfigError("WHATSAPP_FROM", f"{s['WHATSAPP_FROM']!r} is not an E.164 number, e.g. +3197010000000")
    try:
        sms.parse_whatsapp_templates(s["WHATSAPP_TEMPLATES"])
    except ValueError as exc:
        raise ConfigError("WHATSAPP_TEMPLATES", str(exc)) from None


def _check_download_hosts(value: str | None) -> None:
    try:
        hosts = safefetch.parse_hosts(value)
    except ValueError as exc:
        raise ConfigError("JAAS_DOWNLOAD_HOSTS", str(exc)) from None
    if not hosts:
        raise ConfigError("JAAS_DOWNLOAD_HOSTS", "give at least one host, e.g. api-vo.jitsi.net")


def validate(s: dict[str, str | None]) -> None:
    """Raise ConfigError naming the first bad setting; returns None when the settings are usable."""
    _check_database(s["DATABASE_URL"])
    _check_url("REDIS_URL", s["REDIS_URL"], ("redis", "rediss", "unix"))
    _check_url("PUBLIC_BASE_URL", s["PUBLIC_BASE_URL"], ("http", "https"))
    _check_url("S3_ENDPOINT_URL", s["S3_ENDPOINT_URL"], ("http", "https"))
    _check_url("JITSI_BASE_URL", s["JITSI_BASE_URL"], ("http", "https"))
    _check_url("SMS_GATEWAY_URL", s["SMS_GATEWAY_URL"], ("http", "https"))
    _check_url("TWILIO_API_URL", s["TWILIO_API_URL"], ("http", "https"))
    _check_pairs(s)
    _check_whatsapp(s)
    _check_download_hosts(s["JAAS_DOWNLOAD_HOSTS"])
    _check_choices_and_numbers(s)
    try:
        jitsi.settings_from_config(s)
    except jitsi.JitsiConfigError as exc:
        raise ConfigError(exc.setting, str(exc).removeprefix(f"{exc.setting}: ")) from None
    if s["OUDERKAMER_ENV"] == "production" and (not s["SECRET_KEY"] or len(s["SECRET_KEY"]) < 32):
        raise ConfigError("SECRET_KEY", "production needs a random SECRET_KEY of at least 32 characters")


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy URL for a DATABASE_URL: plain postgresql:// uses psycopg 3, the driver we install."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _persistent_secret(instance: Path) -> str:
    # A generated key kept on disk, so sessions and signed links survive restarts without any setup.
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def flask_config(s: dict[str, str | None]) -> dict:
    """Turn validated settings into the Flask config mapping (with derived values)."""
    instance = Path(s["INSTANCE_PATH"] or PROJECT_ROOT / "instance").resolve()
    instance.mkdir(parents=True, exist_ok=True)
    cfg: dict = {k: v for k, v in s.items()}
    for setting in SETTINGS:
        if setting.kind.startswith("int") and cfg[setting.name] is not None:
            cfg[setting.name] = int(cfg[setting.name])
    for setting in SETTINGS:
        if setting.kind == "bool":
            cfg[setting.name] = BOOLEANS[str(cfg[setting.name]).lower()]
    cfg["INSTANCE_PATH"] = str(instance)
    cfg["SECRET_KEY"] = s["SECRET_KEY"] or _persistent_secret(instance)
    cfg["SQLALCHEMY_DATABASE_URI"] = sqlalchemy_url(s["DATABASE_URL"] or f"sqlite:///{instance / 'ouderkamer.sqlite'}")
    cfg["MEDIA_ROOT"] = s["MEDIA_ROOT"] or str(instance / "media")
    cfg["PUBLIC_BASE_URL"] = s["PUBLIC_BASE_URL"].rstrip("/")
    cfg["LANGUAGES"] = [x.strip() for x in s["LANGUAGES"].split(",") if x.strip()]
    cfg["RATELIMIT_STORAGE_URI"] = s["RATELIMIT_STORAGE_URI"] or s["REDIS_URL"] or "memory://"
    cfg["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True  # Redis down: limit per process rather than fail requests
    cfg["RATELIMIT_HEADERS_ENABLED"] = True  # on a 429 only (core.ratelimits.headers_on_refusals_only): Retry-After
    https = cfg["PUBLIC_BASE_URL"].startswith("https://")
    # Test each pooled connection before use: after a database restart the app reconnects instead of failing.
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["SESSION_COOKIE_SAMESITE"] = "Lax"
    cfg["SESSION_COOKIE_SECURE"] = https
    # __Host-: the browser keeps the cookie to this exact host, over https only (ASVS 3.4.4).
    cfg["SESSION_COOKIE_NAME"] = "__Host-session" if https else "session"
    cfg["REMEMBER_COOKIE_HTTPONLY"] = True
    cfg["REMEMBER_COOKIE_SAMESITE"] = "Lax"
    cfg["REMEMBER_COOKIE_SECURE"] = https
    # Flask checks the session cookie's signature age against this, so a copied cookie stops working (ASVS 3.3.2).
    cfg["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME
    cfg["HSTS"] = https and s["OUDERKAMER_ENV"] == "production"
    cfg["BABEL_TRANSLATION_DIRECTORIES"] = str(PROJECT_ROOT / "translations")
    cfg["BABEL_DEFAULT_LOCALE"] = "nl"
    cfg["BABEL_DEFAULT_TIMEZONE"] = "Europe/Amsterdam"
    cfg["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024  # forms and API bodies; media uploads stream separately
    return cfg


def load_config(overrides: dict | None = None, env: dict[str, str] | None = None) -> dict:
    """Read, validate and derive the configuration; overrides apply last (tests)."""
    settings = read_settings(env)
    settings.update({k: v for k, v in (overrides or {}).items() if k in settings})
    validate(settings)
    cfg = flask_config(settings)
    cfg.update(overrides or {})
    return cfg
