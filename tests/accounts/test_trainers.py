"""Coordinators manage trainers: the list, invitations, (de)activation and roles, with their authorisation."""

import re
from datetime import timedelta

import pytest

from accounts import services
from accounts.models import PasswordReset, Role, User
from core.db import utcnow
from core.mail import get_mail_transport

NEW_ACCOUNT = {"name": "Nieuwe Trainer", "email": "Nieuw@Example.org"}

#: (endpoint, method) -> (url template, form data, status a coordinator gets)
ROUTES = {
    ("accounts.trainers", "GET"): ("/trainers", None, 200),
    ("accounts.trainers", "POST"): ("/trainers", NEW_ACCOUNT, 302),
    ("accounts.deactivate_trainer", "POST"): ("/trainers/{other}/deactivate", {}, 302),
    ("accounts.activate_trainer", "POST"): ("/trainers/{other}/activate", {}, 302),
    ("accounts.change_role", "POST"): ("/trainers/{other}/role", {"role": "coordinator"}, 302),
}


@pytest.fixture
def other(create_user):
    return create_user("other@example.org", name="Andere Trainer")


def _send(client, method, url, data, other):
    return client.open(url.format(other=other.id), method=method, data=data)


def _mail_outbox(app):
    with app.app_context():
        return list(get_mail_transport().outbox)


def test_matrix_covers_every_trainers_route(app):
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules() if rule.rule.startswith("/trainers")
              for method in rule.methods - {"HEAD", "OPTIONS"}}

    assert routes == set(ROUTES)


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_trainers_route_sends_anonymous_to_login(client, other, route):
    url, data, _status = ROUTES[route]

    response = _send(client, route[1], url, data, other)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_trainers_route_refuses_a_trainer(client, auth, db, trainer, other, route):
    auth.login(trainer.email)
    url, data, _status = ROUTES[route]

    response = _send(client, route[1], url, data, other)

    assert response.status_code == 403
    assert db.session.scalar(db.select(db.func.count(User.id))) == 2
    db.session.refresh(other)
    assert (other.active, other.role) == (True, Role.trainer)


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_trainers_route_lets_a_coordinator_in(client, auth, coordinator, other, route):
    auth.login(coordinator.email)
    url, data, status = ROUTES[route]

    response = _send(client, route[1], url, data, other)

    assert response.status_code == status
    if status == 302:
        assert response.headers["Location"] == "/trainers"


def test_trainers_page_lists_every_account_with_course_count(client, auth, coordinator, course, other):
    auth.login(coordinator.email)

    page = client.get("/trainers").get_data(as_text=True)

    rows = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(\d+)</td>", page)
    assert rows == [
        ("Andere Trainer", "other@example.org", "Trainer", "ja", "0"),
        ("Test Coordinator", "coordinator@example.org", "Coördinator", "ja", "0"),
        ("Test Trainer", "trainer@example.org", "Trainer", "ja", "1"),
    ]


def test_trainers_nav_link_only_for_coordinators(client, auth, coordinator, trainer):
    auth.login(trainer.email)
    as_trainer = client.get("/courses").get_data(as_text=True)
    auth.logout()
    auth.login(coordinator.email)
    as_coordinator = client.get("/courses").get_data(as_text=True)

    assert 'href="/trainers"' not in as_trainer
    assert 'href="/trainers"' in as_coordinator


def test_create_account_sends_one_invitation_whose_link_sets_the_password(app, client, auth, db, coordinator):
    auth.login(coordinator.email)

    response = client.post("/trainers", data={**NEW_ACCOUNT, "coordinator": "y"})

    outbox = _mail_outbox(app)
    assert response.headers["Location"] == "/trainers"
    assert [m["To"] for m in outbox] == ["nieuw@example.org"]
    body = outbox[0].get_body(preferencelist=("plain",)).get_content()
    path = re.search(r"http://ouderkamer\.test(/password/reset/\S+)", body).group(1)
    user = services.find_user_by_email("nieuw@example.org")
    assert (user.name, user.role, user.active) == ("Nieuwe Trainer", Role.coordinator, True)
    reset = db.session.scalar(db.select(PasswordReset).where(PasswordReset.user_id == user.id))
    assert reset.expires_at > utcnow() + timedelta(days=6, hours=23)

    auth.logout()
    chosen = client.post(path, data={"password": "my own secret 1", "confirm": "my own secret 1"})

    assert chosen.headers["Location"] == "/login"
    assert auth.login("nieuw@example.org", "my own secret 1").headers["Location"] == "/home"
    assert client.get(path).status_code == 404


def test_create_account_without_the_coordinator_box_makes_a_trainer(client, auth, coordinator):
    auth.login(coordinator.email)

    client.post("/trainers", data=NEW_ACCOUNT)

    assert services.find_user_by_email("nieuw@example.org").role is Role.trainer


def test_create_account_with_a_known_email_is_refused_on_the_field(app, client, auth, db, coordinator, other):
    auth.login(coordinator.email)

    response = client.post("/trainers", data={"name": "Dubbel", "email": "OTHER@example.org"})

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(r'<p class="error" id="email-error">Er is al een account met dit e-mailadres.</p>', page)
    assert db.session.scalar(db.select(db.func.count(User.id))) == 2
    assert db.session.scalar(db.select(db.func.count(PasswordReset.id))) == 0
    assert _mail_outbox(app) == []


def test_deactivated_user_cannot_log_in_and_their_api_token_stops(client, auth, db, coordinator, other):
    _row, token = services.create_api_token(other)
    db.session.commit()
    auth.login(coordinator.email)

    client.post(f"/trainers/{other.id}/deactivate")
    auth.logout()

    db.session.refresh(other)
    assert other.active is False
    assert auth.login(other.email).status_code == 400
    api = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401


def test_deactivating_ends_a_running_session(app, client, auth, db, coordinator, other):
    theirs = app.test_client()
    theirs.post("/login", data={"email": other.email, "password": "correct horse battery"})
    auth.login(coordinator.email)

    client.post(f"/trainers/{other.id}/deactivate")

    assert theirs.get("/courses").headers["Location"].startswith("/login")


def test_reactivated_user_can_log_in_again(client, auth, db, coordinator, other):
    auth.login(coordinator.email)

    client.post(f"/trainers/{other.id}/deactivate")
    client.post(f"/trainers/{other.id}/activate")
    auth.logout()

    assert auth.login(other.email).headers["Location"] == "/home"


def test_coordinator_cannot_deactivate_themselves(client, auth, db, coordinator):
    auth.login(coordinator.email)

    response = client.post(f"/trainers/{coordinator.id}/deactivate", follow_redirects=True)

    db.session.refresh(coordinator)
    assert coordinator.active is True
    assert "Je kunt je eigen account niet uitzetten of wijzigen." in response.get_data(as_text=True)


def test_coordinator_cannot_change_their_own_role(client, auth, db, coordinator):
    auth.login(coordinator.email)

    response = client.post(f"/trainers/{coordinator.id}/role", data={"role": "trainer"}, follow_redirects=True)

    db.session.refresh(coordinator)
    assert coordinator.role is Role.coordinator
    assert "Je kunt je eigen account niet uitzetten of wijzigen." in response.get_data(as_text=True)


def test_change_role_makes_a_trainer_coordinator_and_back(client, auth, db, coordinator, other):
    auth.login(coordinator.email)

    client.post(f"/trainers/{other.id}/role", data={"role": "coordinator"})
    db.session.refresh(other)
    promoted = other.role
    client.post(f"/trainers/{other.id}/role", data={"role": "trainer"})
    db.session.refresh(other)

    assert (promoted, other.role) == (Role.coordinator, Role.trainer)


def test_change_role_to_an_unknown_role_changes_nothing(client, auth, db, coordinator, other):
    auth.login(coordinator.email)

    client.post(f"/trainers/{other.id}/role", data={"role": "admin"})

    db.session.refresh(other)
    assert other.role is Role.trainer


def test_trainers_route_for_unknown_user_is_404(client, auth, coordinator):
    auth.login(coordinator.email)

    assert client.post("/trainers/999999/deactivate").status_code == 404


@pytest.mark.parametrize("route", sorted(r for r in ROUTES if r[1] == "POST"))
def test_trainers_form_without_csrf_token_is_refused(app, client, auth, db, coordinator, other, monkeypatch, route):
    auth.login(coordinator.email)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    url, data, _status = ROUTES[route]

    response = _send(client, "POST", url, data, other)

    assert response.status_code == 400
    assert "The CSRF token is missing." in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(User.id))) == 2
    db.session.refresh(other)
    assert (other.active, other.role) == (True, Role.trainer)


def test_the_trainers_list_is_paged_and_searchable_above_50(client, auth, db, coordinator):
    from accounts import services
    from accounts.models import User
    from tests.fixtures.factories import PASSWORD

    for n in range(60):
        services.create_user(f"t{n:02d}@example.org", name=f"Trainer {n:02d}", password=PASSWORD)
    db.session.commit()
    auth.login(coordinator.email)

    first = client.get("/trainers").get_data(as_text=True)
    second = client.get("/trainers?page=2").get_data(as_text=True)
    found = client.get("/trainers?q=Trainer 07").get_data(as_text=True)

    assert first.count("@example.org</td>") == 50 and "Pagina 1 van 2" in first
    assert second.count("@example.org</td>") == db.session.query(User).count() - 50
    assert found.count("@example.org</td>") == 1 and "t07@example.org" in found


def test_the_trainers_list_costs_the_same_statements_for_10_or_60_people(app, client, auth, db, coordinator):
    from accounts import services
    from tests.fixtures.factories import PASSWORD
    from tests.fixtures.sql import count_statements

    auth.login(coordinator.email)
    counts = []
    for total in (10, 60):
        while db.session.query(services.User).count() < total:
            n = db.session.query(services.User).count()
            services.create_user(f"p{n:03d}@example.org", name=f"Person {n:03d}", password=PASSWORD)
        db.session.commit()
        counts.append(count_statements(db, lambda: client.get("/trainers")))

    assert counts[0] == counts[1]
