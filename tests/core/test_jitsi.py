"""core.jitsi: room names, URLs, tokens per mode (decoded with PyJWT), webhook signatures, room state."""

import base64
import dataclasses
import hashlib
import hmac
import re
import socket
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask

from core.jitsi import (
    FEATURE_NAMES,
    JitsiConfigError,
    JitsiError,
    JitsiSettings,
    JitsiSignatureError,
    check_room_name,
    features_for,
    get_jitsi,
    iframe_setup,
    jaas_signature,
    mint_token,
    new_room_name,
    room_participants,
    room_size,
    room_url,
    settings_from_config,
    url_hash,
    verify_jaas_signature,
)

APP_ID = "ouderkamer"
APP_SECRET = "s3cr3t-" + "x" * 40
TENANT = "vpaas-magic-cookie-0123456789abcdef"
KEY_ID = "a1b2c3"
ROOM = "ouderkamerabcdefghijklmnopqrstuvwxyz"
WEBHOOK_SECRET = "whsec_test_secret"
BODY = (
    b'{"idempotencyKey":"5f1c","eventType":"ROOM_CREATED","fqn":"vpaas-magic-cookie-0123456789abcdef/room"}'
)

ALL_FALSE = dict.fromkeys(FEATURE_NAMES, "false")
PARENT_FEATURES = ALL_FALSE | dict.fromkeys(
    ("flip", "room", "screen-sharing", "send-groupchat", "send-private-message"), "true"
)
TRAINER_FEATURES = PARENT_FEATURES | dict.fromkeys(
    ("create-polls", "file-upload", "list-visitors", "livestreaming", "lobby", "moderation", "recording"),
    "true",
)


def _pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def token_settings():
    return JitsiSettings(
        mode="token", base_url="https://meet.example.org", app_id=APP_ID, app_secret=APP_SECRET
    )


@pytest.fixture
def jaas_settings(rsa_key):
    return JitsiSettings(mode="jaas", jaas_app_id=TENANT, jaas_key_id=KEY_ID, jaas_private_key=_pem(rsa_key))


@pytest.fixture
def window():
    """A session that opened five minutes ago and ends in an hour, in whole seconds."""
    now = datetime.now(UTC).replace(microsecond=0)
    return {"opens_at": now - timedelta(minutes=5), "ends_at": now + timedelta(hours=1), "now": now}


def _mint(settings, window, *, moderator=False, **overrides):
    person = {"room": ROOM, "user_id": "p-17", "name": "Ayşe Kaya", "email": "fatma@example.org"}
    return mint_token(settings, moderator=moderator, **(person | window | overrides))


def _unix(moment):
    return int(moment.timestamp())


# Room names


def test_new_room_name_lower_case_ascii_and_unique_across_10k_draws():
    names = [new_room_name() for _ in range(10_000)]

    assert len(set(names)) == 10_000
    assert [n for n in names if not re.fullmatch(r"ouderkamer[a-z2-7]{26}", n)] == []


@pytest.mark.parametrize("room", ["Ouderkamer1", "kamer-1", "kamer 1", "kämer", "", "a/b"])
def test_check_room_name_rejects_anything_but_lower_case_ascii(room):
    with pytest.raises(JitsiError):
        check_room_name(room)


# Tokens


def test_mint_token_public_mode_returns_none(window):
    assert _mint(JitsiSettings(), window) is None


def test_mint_token_self_hosted_parent_has_exact_header_and_claims(token_settings, window):
    token = _mint(token_settings, window)

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, APP_SECRET, algorithms=["HS256"], audience=APP_ID, issuer=APP_ID)
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert claims == {
        "iss": APP_ID,
        "aud": APP_ID,
        "sub": "meet.example.org",
        "room": ROOM,
        "nbf": _unix(window["opens_at"]) - 60,
        "exp": _unix(window["ends_at"]) + 60 * 60,
        "context": {
            "user": {
                "id": "p-17",
                "name": "Ayşe Kaya",
                "email": "fatma@example.org",
                "moderator": "false",
            },
            "features": PARENT_FEATURES,
        },
    }


def test_mint_token_jaas_trainer_has_exact_header_and_claims(jaas_settings, rsa_key, window):
    token = _mint(jaas_settings, window, moderator=True, user_id="t-3", name="Anne de Vries", email="a@x.nl")

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, rsa_key.public_key(), algorithms=["RS256"], audience="jitsi", issuer="chat")
    assert header == {"alg": "RS256", "typ": "JWT", "kid": f"{TENANT}/{KEY_ID}"}
    assert claims == {
        "iss": "chat",
        "aud": "jitsi",
        "sub": TENANT,
        "room": ROOM,
        "nbf": _unix(window["opens_at"]) - 60,
        "exp": _unix(window["ends_at"]) + 60 * 60,
        "context": {
            "user": {"id": "t-3", "name": "Anne de Vries", "email": "a@x.nl", "moderator": "true"},
            "features": TRAINER_FEATURES,
        },
    }


def test_mint_token_self_hosted_signature_fails_with_another_secret(token_settings, window):
    token = _mint(token_settings, window)

    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another-secret-" + "y" * 40, algorithms=["HS256"], audience=APP_ID)


@pytest.mark.parametrize("mode", ["token", "jaas"])
def test_mint_token_parent_is_no_moderator_and_cannot_record_or_stream(
    mode, token_settings, jaas_settings, window
):
    settings = token_settings if mode == "token" else jaas_settings

    claims = jwt.decode(_mint(settings, window), options={"verify_signature": False})

    user, features = claims["context"]["user"], claims["context"]["features"]
    assert (user["moderator"], features["recording"], features["livestreaming"]) == (
        "false",
        "false",
        "false",
    )


@pytest.mark.parametrize("mode", ["token", "jaas"])
def test_mint_token_trainer_is_moderator_and_may_record_and_stream(
    mode, token_settings, jaas_settings, window
):
    settings = token_settings if mode == "token" else jaas_settings

    claims = jwt.decode(_mint(settings, window, moderator=True), options={"verify_signature": False})

    user, features = claims["context"]["user"], claims["context"]["features"]
    assert (user["moderator"], features["recording"], features["livestreaming"]) == ("true", "true", "true")


def test_features_for_lists_every_feature_as_a_string_flag():
    assert (features_for(moderator=False), features_for(moderator=True)) == (
        PARENT_FEATURES,
        TRAINER_FEATURES,
    )


def test_mint_token_exp_is_session_end_plus_configured_grace(window):
    settings = JitsiSettings(mode="token", app_id=APP_ID, app_secret=APP_SECRET, token_grace_minutes=15)

    claims = jwt.decode(_mint(settings, window), APP_SECRET, algorithms=["HS256"], audience=APP_ID)

    assert claims["exp"] == _unix(window["ends_at"]) + 15 * 60


def test_mint_token_user_values_are_always_strings(token_settings, window):
    token = _mint(token_settings, window, user_id=42, name="", email=None)

    user = jwt.decode(token, options={"verify_signature": False})["context"]["user"]
    assert user == {"id": "42", "name": "", "email": "", "moderator": "false"}


def test_mint_token_sub_is_the_xmpp_domain_when_it_differs_from_the_web_host(window):
    settings = JitsiSettings(
        mode="token",
        base_url="https://video.example.org",
        xmpp_domain="meet.jitsi",
        app_id=APP_ID,
        app_secret=APP_SECRET,
    )

    claims = jwt.decode(_mint(settings, window), options={"verify_signature": False})

    assert claims["sub"] == "meet.jitsi"


def test_mint_token_before_the_room_opens_raises(token_settings, window):
    early = window["opens_at"] - timedelta(minutes=2)

    with pytest.raises(JitsiError, match="not be valid yet"):
        _mint(token_settings, window | {"now": early})


def test_mint_token_within_clock_leeway_before_opening_succeeds(token_settings, window):
    just_before = window["opens_at"] - timedelta(seconds=60)

    token = _mint(token_settings, window | {"now": just_before})

    assert jwt.decode(token, options={"verify_signature": False})["nbf"] == _unix(just_before)


def test_mint_token_after_the_grace_period_raises(token_settings, window):
    late = window["ends_at"] + timedelta(minutes=60)

    with pytest.raises(JitsiError, match="already be expired"):
        _mint(token_settings, window | {"now": late})


def test_mint_token_naive_datetime_raises_value_error(token_settings, window):
    with pytest.raises(ValueError, match="timezone-aware"):
        _mint(token_settings, window | {"opens_at": datetime(2030, 1, 1, 9, 0)})


def test_mint_token_end_before_opening_raises_value_error(token_settings, window):
    with pytest.raises(ValueError, match="not after"):
        _mint(token_settings, window | {"ends_at": window["opens_at"]})


def test_mint_token_upper_case_room_raises(token_settings, window):
    with pytest.raises(JitsiError, match="invalid room name"):
        _mint(token_settings, window, room="Ouderkamer")


# URLs and the IFrame API


def test_room_url_public_is_host_and_room():
    assert room_url(JitsiSettings(), ROOM) == f"https://meet.jit.si/{ROOM}"


def test_room_url_self_hosted_carries_the_token_in_the_query(token_settings):
    assert room_url(token_settings, ROOM, token="aa.bb.cc") == f"https://meet.example.org/{ROOM}?jwt=aa.bb.cc"


def test_room_url_jaas_puts_the_room_under_the_tenant(jaas_settings):
    assert room_url(jaas_settings, ROOM) == f"https://8x8.vc/{TENANT}/{ROOM}"


def test_room_url_hash_config_is_json_then_uri_encoded():
    config = {"config.prejoinConfig.enabled": False, "userInfo.displayName": "Jan Jansen"}

    url = room_url(JitsiSettings(), ROOM, hash_config=config)

    assert (
        url
        == f"https://meet.jit.si/{ROOM}#config.prejoinConfig.enabled=false&userInfo.displayName=%22Jan%20Jansen%22"
    )


def test_url_hash_encodes_non_ascii_names_as_utf8():
    assert url_hash({"userInfo.displayName": "Ayşe"}) == "userInfo.displayName=%22Ay%C5%9Fe%22"


def test_url_hash_rejects_keys_jitsi_ignores():
    with pytest.raises(ValueError, match="jwt"):
        url_hash({"jwt": "aa.bb.cc"})


def test_iframe_setup_self_hosted_has_domain_script_and_options(token_settings):
    setup = iframe_setup(token_settings, ROOM, token="aa.bb.cc", display_name="Jan", lang="nl")

    assert setup == {
        "domain": "meet.example.org",
        "script_url": "https://meet.example.org/external_api.js",
        "options": {"roomName": ROOM, "jwt": "aa.bb.cc", "userInfo": {"displayName": "Jan"}, "lang": "nl"},
    }


def test_iframe_setup_jaas_room_name_includes_the_tenant(jaas_settings):
    setup = iframe_setup(jaas_settings, ROOM, config_overwrite={"prejoinConfig": {"enabled": False}})

    assert setup == {
        "domain": "8x8.vc",
        "script_url": "https://8x8.vc/libs/external_api.min.js",
        "options": {"roomName": f"{TENANT}/{ROOM}", "configOverwrite": {"prejoinConfig": {"enabled": False}}},
    }


def test_iframe_setup_public_with_a_port_keeps_it_in_the_domain():
    settings = JitsiSettings(base_url="http://localhost:8443")

    assert iframe_setup(settings, ROOM)["domain"] == "localhost:8443"


# Webhook signatures


def _header(timestamp, body=BODY, secret=WEBHOOK_SECRET):
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).digest()
    return f"t={timestamp},v1={base64.b64encode(digest).decode()}"


def test_jaas_signature_is_base64_hmac_sha256_of_timestamp_dot_body():
    assert f"t=1700000000,v1={jaas_signature(WEBHOOK_SECRET, 1700000000, BODY)}" == _header(1700000000)


def test_verify_jaas_signature_accepts_a_correct_signature():
    assert verify_jaas_signature(WEBHOOK_SECRET, _header(1700000000), BODY, now=1700000010) == 1700000000


def test_verify_jaas_signature_ignores_other_schemes_and_accepts_any_matching_v1():
    header = f"t=1700000000,v0=zzz,v1=bm9wZQ==,{_header(1700000000).split(',')[1]}"

    assert verify_jaas_signature(WEBHOOK_SECRET, header, BODY, now=1700000000) == 1700000000


def test_verify_jaas_signature_rejects_a_changed_body():
    with pytest.raises(JitsiSignatureError, match="does not match"):
        verify_jaas_signature(WEBHOOK_SECRET, _header(1700000000), BODY + b" ", now=1700000000)


def test_verify_jaas_signature_rejects_a_wrong_signature():
    with pytest.raises(JitsiSignatureError, match="does not match"):
        verify_jaas_signature(WEBHOOK_SECRET, "t=1700000000,v1=bm9wZQ==", BODY, now=1700000000)


def test_verify_jaas_signature_rejects_a_wrong_secret():
    header = _header(1700000000, secret="someone-elses-secret")

    with pytest.raises(JitsiSignatureError, match="does not match"):
        verify_jaas_signature(WEBHOOK_SECRET, header, BODY, now=1700000000)


@pytest.mark.parametrize("age_s", [301, -301, 86_400])
def test_verify_jaas_signature_rejects_a_replayed_or_future_timestamp(age_s):
    with pytest.raises(JitsiSignatureError, match="300 s"):
        verify_jaas_signature(WEBHOOK_SECRET, _header(1700000000), BODY, now=1700000000 + age_s)


def test_verify_jaas_signature_honours_a_custom_tolerance():
    header = _header(1700000000)

    assert verify_jaas_signature(WEBHOOK_SECRET, header, BODY, now=1700000500, tolerance_s=600) == 1700000000


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        "t=abc,v1=x",
        "v1=eHh4",
        "t=1700000000",
        "t=1700000000,v0=eHh4",
        "t=1,t=2,v1=eHh4",
        "t=,v1=",
    ],
)
def test_verify_jaas_signature_rejects_a_malformed_header(header):
    with pytest.raises(JitsiSignatureError):
        verify_jaas_signature(WEBHOOK_SECRET, header, BODY, now=1700000000)


def test_verify_jaas_signature_without_a_secret_refuses_everything():
    with pytest.raises(JitsiSignatureError, match="no JaaS webhook secret"):
        verify_jaas_signature("", _header(1700000000, secret=""), BODY, now=1700000000)


# Settings from config


def test_settings_from_config_empty_is_public_meet_jit_si():
    settings = settings_from_config({"JITSI_BASE_URL": None, "JITSI_APP_ID": None})

    assert settings == JitsiSettings(mode="public", base_url="https://meet.jit.si", token_grace_minutes=60)


def test_settings_from_config_app_id_and_secret_mean_token_mode():
    config = {
        "JITSI_BASE_URL": "https://meet.example.org/",
        "JITSI_APP_ID": APP_ID,
        "JITSI_APP_SECRET": APP_SECRET,
        "JITSI_TOKEN_GRACE_MINUTES": "30",
        "JITSI_ROOM_API_URL": "http://prosody:5280/",
        "JITSI_XMPP_DOMAIN": "Meet.Jitsi",
    }

    settings = settings_from_config(config)

    assert settings == JitsiSettings(
        mode="token",
        base_url="https://meet.example.org",
        xmpp_domain="meet.jitsi",
        app_id=APP_ID,
        app_secret=APP_SECRET,
        token_grace_minutes=30,
        room_api_url="http://prosody:5280",
    )


def test_settings_from_config_jaas_accepts_a_full_kid_and_an_escaped_one_line_pem(rsa_key):
    one_line_pem = _pem(rsa_key).replace("\n", "\\n")
    config = {"JAAS_APP_ID": TENANT, "JAAS_KEY_ID": f"{TENANT}/{KEY_ID}", "JAAS_PRIVATE_KEY": one_line_pem}

    settings = settings_from_config(config | {"JAAS_WEBHOOK_SECRET": WEBHOOK_SECRET})

    assert (settings.mode, settings.jaas_kid, settings.jaas_private_key) == (
        "jaas",
        f"{TENANT}/{KEY_ID}",
        _pem(rsa_key),
    )


def test_settings_from_config_jaas_reads_the_key_file(rsa_key, tmp_path):
    key_file = tmp_path / "jaas.pem"
    key_file.write_text(_pem(rsa_key))

    settings = settings_from_config(
        {"JAAS_APP_ID": TENANT, "JAAS_KEY_ID": KEY_ID, "JAAS_PRIVATE_KEY_PATH": key_file}
    )

    assert settings.jaas_private_key == _pem(rsa_key)


def _small_rsa_pem():
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))


def _ec_pem():
    return _pem(ec.generate_private_key(ec.SECP256R1()))


JAAS = {"JAAS_APP_ID": TENANT, "JAAS_KEY_ID": KEY_ID}
TOKEN = {"JITSI_APP_ID": APP_ID, "JITSI_APP_SECRET": APP_SECRET}


@pytest.mark.parametrize(
    ("config", "setting"),
    [
        ({"JITSI_APP_ID": APP_ID}, "JITSI_APP_SECRET"),
        ({"JITSI_APP_SECRET": APP_SECRET}, "JITSI_APP_ID"),
        (TOKEN | {"JITSI_APP_SECRET": "short"}, "JITSI_APP_SECRET"),
        (TOKEN | {"JAAS_APP_ID": TENANT}, "JAAS_APP_ID"),
        ({"JAAS_KEY_ID": KEY_ID}, "JAAS_APP_ID"),
        ({"JAAS_PRIVATE_KEY_PATH": "/nonexistent.pem"}, "JAAS_APP_ID"),
        ({"JAAS_WEBHOOK_SECRET": WEBHOOK_SECRET}, "JAAS_APP_ID"),
        ({"JAAS_APP_ID": TENANT}, "JAAS_KEY_ID"),
        (JAAS, "JAAS_PRIVATE_KEY"),
        (JAAS | {"JAAS_PRIVATE_KEY": "not a pem"}, "JAAS_PRIVATE_KEY"),
        (JAAS | {"JAAS_PRIVATE_KEY": "x", "JAAS_PRIVATE_KEY_PATH": "/x.pem"}, "JAAS_PRIVATE_KEY"),
        (JAAS | {"JAAS_PRIVATE_KEY_PATH": "/nonexistent/jaas.pem"}, "JAAS_PRIVATE_KEY_PATH"),
        (JAAS | {"JAAS_PRIVATE_KEY": "ec"}, "JAAS_PRIVATE_KEY"),
        (JAAS | {"JAAS_PRIVATE_KEY": "rsa1024"}, "JAAS_PRIVATE_KEY"),
        ({"JITSI_BASE_URL": "meet.example.org"}, "JITSI_BASE_URL"),
        ({"JITSI_BASE_URL": "https://example.org/jitsi"}, "JITSI_BASE_URL"),
        ({"JITSI_ROOM_API_URL": "prosody:5280"}, "JITSI_ROOM_API_URL"),
        ({"JITSI_TOKEN_GRACE_MINUTES": "-5"}, "JITSI_TOKEN_GRACE_MINUTES"),
        ({"JITSI_XMPP_DOMAIN": "meet jitsi"}, "JITSI_XMPP_DOMAIN"),
    ],
)
def test_settings_from_config_rejects_invalid_combinations(config, setting):
    generated = {"ec": _ec_pem, "rsa1024": _small_rsa_pem}
    if config.get("JAAS_PRIVATE_KEY") in generated:
        config = config | {"JAAS_PRIVATE_KEY": generated[config["JAAS_PRIVATE_KEY"]]()}

    with pytest.raises(JitsiConfigError) as caught:
        settings_from_config(config)

    assert caught.value.setting == setting


def test_settings_from_config_rejects_a_room_api_with_jaas(rsa_key):
    config = JAAS | {"JAAS_PRIVATE_KEY": _pem(rsa_key), "JITSI_ROOM_API_URL": "http://prosody:5280"}

    with pytest.raises(JitsiConfigError) as caught:
        settings_from_config(config)

    assert caught.value.setting == "JITSI_ROOM_API_URL"


def test_get_jitsi_reads_the_current_app_config():
    app = Flask(__name__)
    app.config.update(TOKEN | {"JITSI_BASE_URL": "https://meet.example.org"})

    with app.app_context():
        settings = get_jitsi()

    assert (settings.mode, settings.app_id, settings.domain) == ("token", APP_ID, "meet.example.org")


def test_settings_repr_hides_secrets(jaas_settings):
    settings = JitsiSettings(mode="token", app_id=APP_ID, app_secret=APP_SECRET, jaas_webhook_secret="hush")

    shown = repr(settings) + repr(jaas_settings)

    assert [secret for secret in (APP_SECRET, "hush", "PRIVATE KEY") if secret in shown] == []


# Prosody room state


def _focus(room):
    return {"jid": f"{room}@conference.meet.jitsi/focus", "email": "", "display_name": ""}


def _occupant(room, resource, name, email=""):
    return {"jid": f"{room}@conference.meet.jitsi/{resource}", "email": email, "display_name": name}


@pytest.fixture
def room_settings(prosody_stub):
    return JitsiSettings(
        mode="token",
        base_url="https://meet.example.org",
        xmpp_domain="meet.jitsi",
        app_id=APP_ID,
        app_secret=APP_SECRET,
        room_api_url=prosody_stub.url,
    )


def test_room_size_counts_participants_without_the_focus(prosody_stub, room_settings):
    prosody_stub.rooms[ROOM] = [_focus(ROOM), _occupant(ROOM, "a1", "Anne"), _occupant(ROOM, "b2", "Bilal")]

    size = room_size(room_settings, ROOM)

    assert size == 2
    assert prosody_stub.requests == [("/room-size", {"room": ROOM, "domain": "meet.jitsi"})]


def test_room_size_of_a_room_nobody_is_in_is_zero(prosody_stub, room_settings):
    assert room_size(room_settings, ROOM) == 0


def test_room_participants_lists_occupants_without_the_focus(prosody_stub, room_settings):
    anne = _occupant(ROOM, "a1", "Anne", "anne@example.org")
    prosody_stub.rooms[ROOM] = [_focus(ROOM), anne, _occupant(ROOM, "b2", "Bilal")]

    participants = room_participants(room_settings, ROOM)

    assert participants == [anne, _occupant(ROOM, "b2", "Bilal")]
    assert prosody_stub.requests == [("/room", {"room": ROOM, "domain": "meet.jitsi"})]


def test_room_participants_of_a_room_nobody_is_in_is_empty(prosody_stub, room_settings):
    assert room_participants(room_settings, ROOM) == []


def test_room_size_sends_the_token_when_prosody_verifies_it(prosody_stub, room_settings):
    prosody_stub.required_token = "aa.bb.cc"
    prosody_stub.rooms[ROOM] = [_focus(ROOM), _occupant(ROOM, "a1", "Anne")]

    assert room_size(room_settings, ROOM, token="aa.bb.cc") == 1


def test_room_size_with_a_rejected_token_raises_with_status_403(prosody_stub, room_settings):
    prosody_stub.required_token = "aa.bb.cc"

    with pytest.raises(JitsiError) as caught:
        room_size(room_settings, ROOM, token="wrong")

    assert caught.value.status == 403


def test_room_size_non_json_answer_raises(prosody_stub, room_settings):
    prosody_stub.rooms[ROOM] = [_focus(ROOM)]
    prosody_stub.raw_body = b"<html>proxy error</html>"

    with pytest.raises(JitsiError, match="non-JSON"):
        room_size(room_settings, ROOM)


def test_room_size_timeout_raises_jitsi_error(prosody_stub, room_settings):
    prosody_stub.delay_s = 0.5

    with pytest.raises(JitsiError, match="ReadTimeout"):
        room_size(room_settings, ROOM, timeout=(1.0, 0.1))


def test_room_size_connection_refused_raises_without_leaking_the_token(token_settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings = dataclasses.replace(token_settings, room_api_url=f"http://127.0.0.1:{closed_port}")

    with pytest.raises(JitsiError, match="ConnectionError") as caught:
        room_size(settings, ROOM, token="secret.token.value")

    assert "secret.token.value" not in str(caught.value)


def test_room_size_without_a_room_api_url_raises(token_settings):
    with pytest.raises(JitsiError, match="JITSI_ROOM_API_URL"):
        room_size(token_settings, ROOM)
