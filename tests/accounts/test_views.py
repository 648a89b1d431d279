"""Login, logout, password reset and API tokens through the pages."""

import re

from accounts import services
from accounts.models import ApiToken, PasswordReset
from core.mail import get_mail_transport


def test_login_with_right_password_opens_the_course_list(client, auth, course):
    response = auth.login("trainer@example.org")
    page = client.get("/courses")

    assert response.status_code == 302
    assert response.headers["Location"] == "/home"
    assert "Voorlezen" in page.get_data(as_text=True)


def test_login_with_wrong_password_is_refused_with_a_message(client, auth, trainer):
    response = auth.login("trainer@example.org", "wrong password!")

    assert response.status_code == 400
    assert "Dit e-mailadres en wachtwoord horen niet bij elkaar." in response.get_data(as_text=True)
    assert client.get("/courses").status_code == 302


def test_login_ignores_an_offsite_next_parameter(client, trainer):
    response = client.post("/login?next=//evil.example/x", data={"email": trainer.email, "password": "correct horse battery"})

    assert response.headers["Location"] == "/home"


def test_logout_ends_the_session(client, auth, trainer):
    auth.login(trainer.email)

    auth.logout()

    assert client.get("/courses").headers["Location"].startswith("/login")


def _reset_link(app) -> str:
    with app.app_context():
        message = get_mail_transport().outbox[-1]
    body = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"http://ouderkamer\.test(/password/reset/\S+)", body).group(1)


def test_password_reset_link_works_once(app, client, auth, trainer, db):
    client.post("/password/reset", data={"email": "Trainer@Example.org"})
    path = _reset_link(app)

    first = client.post(path, data={"password": "a brand new secret", "confirm": "a brand new secret"})
    second = client.get(path)

    assert first.headers["Location"] == "/login"
    assert second.status_code == 404
    assert auth.login(trainer.email, "a brand new secret").status_code == 302


def test_password_reset_for_unknown_address_sends_nothing_and_says_the_same(app, client, db):
    response = client.post("/password/reset", data={"email": "nobody@example.org"}, follow_redirects=True)

    with app.app_context():
        sent = len(get_mail_transport().outbox)
    assert sent == 0
    assert "Als dit adres bij ons bekend is" in response.get_data(as_text=True)
    assert db.session.query(PasswordReset).count() == 0


def test_api_token_is_shown_once_and_stored_hashed(client, auth, trainer, db):
    auth.login(trainer.email)

    response = client.post("/account/tokens", data={"name": "laptop"})
    token = re.search(r'id="new-token">([^<]+)<', response.get_data(as_text=True)).group(1)
    listing = client.get("/account/tokens").get_data(as_text=True)

    row = db.session.query(ApiToken).one()
    assert token not in listing
    assert row.token_hash != token and len(row.token_hash) == 64
    assert services.find_user_by_api_token(token).id == trainer.id


def test_revoked_api_token_no_longer_authenticates(client, auth, trainer, db):
    _row, token = services.create_api_token(trainer)
    db.session.commit()
    auth.login(trainer.email)

    client.post(f"/account/tokens/{_row.id}/revoke")

    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_trainer_cannot_open_another_trainers_course(client, auth, create_user, create_course):
    other = create_user("other@example.org", name="Other")
    course = create_course("Niet van jou", trainers=[other])
    create_user("me@example.org", name="Me")
    auth.login("me@example.org")

    assert client.get(f"/courses/{course.id}").status_code == 403


def test_coordinator_sees_every_course(client, auth, coordinator, course):
    auth.login(coordinator.email)

    assert client.get(f"/courses/{course.id}").status_code == 200
    assert "Voorlezen" in client.get("/courses").get_data(as_text=True)


def test_forms_require_a_csrf_token_when_protection_is_on(app, client, trainer):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = client.post("/login", data={"email": trainer.email, "password": "correct horse battery"})
    finally:
        app.config["WTF_CSRF_ENABLED"] = False

    assert response.status_code == 400
