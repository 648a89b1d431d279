"""`flask trainers create` and `flask tokens create`."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from accounts import services
from core.errors import DomainError
from core.extensions import db

trainers_cli = AppGroup("trainers", help="Manage trainer and coordinator accounts.")
tokens_cli = AppGroup("tokens", help="Manage API tokens.")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@trainers_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="Full name shown to parents.")
@click.option("--coordinator", is_flag=True, help="Give the account the coordinator role.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def create_trainer(email: str, name: str, coordinator: bool, password_stdin: bool) -> None:
    """Create a trainer (or coordinator) account."""
    try:
        user = services.create_user(email, name=name, password=_read_password(password_stdin),
                                    coordinator=coordinator)
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc.message)) from None
    db.session.commit()
    click.echo(f"Created {user.role.value} {user.email} (id {user.id}).")


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="cli", help="A label to recognise the token by.")
def create_token(email: str, name: str) -> None:
    """Create an API token for a trainer and print it once."""
    user = services.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No account with e-mail {email!r}.")
    _row, token = services.create_api_token(user, name=name)
    db.session.commit()
    click.echo(token)
