"""`flask trainers create` and `flask tokens create`."""

from accounts import services
from accounts.models import Role, User


def test_trainers_create_reads_the_password_from_stdin(runner, db):
    result = runner.invoke(args=["trainers", "create", "New@Example.org", "--name", "Nieuw", "--coordinator",
                                 "--password-stdin"], input="a long password\n")

    user = db.session.query(User).one()
    assert result.exit_code == 0, result.output
    assert (user.email, user.name, user.role) == ("new@example.org", "Nieuw", Role.coordinator)
    assert services.authenticate("new@example.org", "a long password").id == user.id


def test_trainers_create_refuses_a_short_password_and_saves_nothing(runner, db):
    result = runner.invoke(args=["trainers", "create", "x@example.org", "--name", "X", "--password-stdin"],
                           input="short\n")

    assert result.exit_code == 1
    assert "Gebruik minstens 12 tekens." in result.output
    assert db.session.query(User).count() == 0


def test_trainers_create_refuses_a_duplicate(runner, trainer, db):
    result = runner.invoke(args=["trainers", "create", trainer.email, "--name", "Dup", "--password-stdin"],
                           input="a long password\n")

    assert result.exit_code == 1
    assert db.session.query(User).count() == 1


def test_tokens_create_prints_a_working_token(runner, trainer):
    result = runner.invoke(args=["tokens", "create", trainer.email])

    token = result.output.strip()
    assert result.exit_code == 0
    assert services.find_user_by_api_token(token).email == trainer.email


def test_tokens_create_for_unknown_email_fails_clearly(runner, db):
    result = runner.invoke(args=["tokens", "create", "ghost@example.org"])

    assert result.exit_code == 1
    assert "No account with e-mail 'ghost@example.org'." in result.output
