"""Session cookies and authentication (ASVS 2.1, 3.2, 3.3, 3.4): flags, logout, password change, lifetime."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from itsdangerous import TimestampSigner

from accounts import services
from accounts.models import User
from core import mail
from core.config import load_config

pytestmark = pytest.mark.unit


def _session_cookie_header(response) -> str:
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    return header


def test_session_cookie_is_httponly_and_samesite_lax(auth, trainer):
    response = auth.login(trainer.email)

    header = _session_cookie_header(response)
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" not in header  # the test app's PUBLIC_BASE_URL is http


def test_session_cookie_is_secure_behind_https(app, auth, trainer, monkeypatch):
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)

    header = _session_cookie_header(auth.login(trainer.email))

    assert "Secure" in header


@pytest.mark.parametrize(("base_url", "secure"), [("https://ouders.example.nl", True), ("http://127.0.0.1:5000", False)])
def test_cookies_are_secure_exactly_when_the_public_url_is_https(tmp_path, base_url, secure):
    config = load_config(env={"INSTANCE_PATH": str(tmp_path), "PUBLIC_BASE_URL": base_url})

    assert (config["SESSION_COOKIE_SECURE"], config["REMEMBER_COOKIE_SECURE"]) == (secure, secure)
    assert (config["SESSION_COOKIE_HTTPONLY"], config["REMEMBER_COOKIE_HTTPONLY"]) == (True, True)
    assert (config["SESSION_COOKIE_SAMESITE"], config["REMEMBER_COOKIE_SAMESITE"]) == ("Lax", "Lax")
    assert config["PERMANENT_SESSION_LIFETIME"] <= timedelta(hours=12)
    assert config["SESSION_COOKIE_NAME"] == ("__Host-session" if secure else "session")  # __Host- needs https


def test_logout_ends_the_session_even_for_a_copied_cookie(client, auth, trainer):
    auth.login(trainer.email)
    copied = client.get_cookie("session").value
    assert client.get("/courses").status_code == 200

    client.post("/logout")
    client.set_cookie("session", copied)
    replayed = client.get("/courses")

    assert replayed.status_code == 302
    assert replayed.headers["Location"].startswith("/login")


def test_a_password_reset_ends_every_other_session(app, client, auth, db, trainer):
    auth.login(trainer.email)
    _user, token = services.start_password_reset(trainer.email)
    db.session.commit()

    other = app.test_client()
    other.post(f"/password/reset/{token}", data={"password": "a brand new secret", "confirm": "a brand new secret"})

    assert client.get("/courses").status_code == 302


def test_a_session_cookie_older_than_the_lifetime_is_refused(app, client, auth, trainer, monkeypatch):
    auth.login(trainer.email)
    fresh = client.get_cookie("session").value
    serializer = app.session_interface.get_signing_serializer(app)
    data = serializer.loads(fresh)
    lifetime = app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time() - lifetime - 60))
    stale = serializer.dumps(data)
    monkeypatch.undo()

    client.set_cookie("session", stale)
    refused = client.get("/courses")
    client.set_cookie("session", fresh)
    accepted = client.get("/courses")

    assert refused.status_code == 302
    assert accepted.status_code == 200


@pytest.mark.parametrize("password", ["elf tekens!", "  twaalf  ", "password1234", "QAZWSXEDCRFV"])
def test_short_or_breached_passwords_are_refused(db, trainer, password):
    with pytest.raises(services.AccountError) as info:
        services.set_password(trainer, password)

    assert info.value.field == "password"


def test_a_long_uncommon_password_is_accepted_and_a_128_character_one_too(db, trainer):
    services.set_password(trainer, "twaalf tekens")
    services.set_password(trainer, "x" * 128)

    assert services.authenticate(trainer.email, "x" * 128).id == trainer.id


def test_unknown_and_wrong_password_get_the_same_answer(client, trainer):
    unknown = client.post("/login", data={"email": "nobody@example.org", "password": "whatever password"})
    wrong = client.post("/login", data={"email": trainer.email, "password": "whatever password"})

    assert unknown.status_code == wrong.status_code == 400
    assert unknown.data == wrong.data.replace(trainer.email.encode(), b"nobody@example.org")


def test_a_new_password_is_announced_by_mail(app, client, db, trainer):
    _user, token = services.start_password_reset(trainer.email)
    db.session.commit()
    outbox = mail.get_mail_transport().outbox
    outbox.clear()

    client.post(f"/password/reset/{token}", data={"password": "a brand new secret", "confirm": "a brand new secret"})

    [message] = outbox
    assert message["To"] == trainer.email
    assert message["Subject"] == "Nieuw wachtwoord ingesteld voor Ouderkamer"
    assert "http://ouderkamer.test/password/reset\n" in message.get_body(preferencelist=("plain",)).get_content()


def test_logout_asks_the_browser_to_clear_what_it_kept(client, auth, trainer):
    auth.login(trainer.email)

    response = client.post("/logout")

    assert response.headers["Clear-Site-Data"] == '"cache", "storage"'


def test_passwords_are_hashed_with_scrypt_outside_tests(app, db, trainer, monkeypatch):
    monkeypatch.delitem(app.config, "PASSWORD_HASH_METHOD")

    services.set_password(trainer, "a brand new secret")

    assert trainer.password_hash.startswith("scrypt:")


def test_the_demo_accounts_cannot_be_loaded_in_production(app, db, runner, monkeypatch):
    monkeypatch.setitem(app.config, "OUDERKAMER_ENV", "production")

    result = runner.invoke(args=["demo", "--no-recording"])

    assert result.exit_code == 1
    assert "not for production" in result.output
    assert db.session.query(User).count() == 0
