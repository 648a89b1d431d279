"""`flask orgs create|list`, `flask trainers create|set-phone` and `flask tokens create`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask.cli import AppGroup

from accounts import services
from core.errors import DomainError
from core.extensions import db

trainers_cli = AppGroup("trainers", help="Manage trainer and coordinator accounts.")
tokens_cli = AppGroup("tokens", help="Manage API tokens.")
orgs_cli = AppGroup("orgs", help="Manage organisations (the VVE providers this installation serves).")


@contextmanager
def _committed() -> Iterator[None]:
    """Commit what the block changed; on a DomainError roll back and stop the command with its message."""
    try:
        yield
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc.message)) from None
    db.session.commit()


@orgs_cli.command("create")
@click.argument("name")
@click.option("--language", default="nl", show_default=True, help="Default language of new courses.")
@click.option("--retention-days", default=60, show_default=True, type=int,
              help="Default days a new course keeps its recordings.")
@click.option("--sender-name", default="", help="Sender name parents see on mail and SMS.")
def create_organisation(name: str, language: str, retention_days: int, sender_name: str) -> None:
    """Create an organisation; its first coordinator follows with `flask trainers create --org`."""
    with _committed():
        organisation = services.create_organisation(name, language=language, retention_days=retention_days,
                                                    sender_name=sender_name)
    click.echo(f"Created organisation {organisation.name!r} (id {organisation.id}).")


@orgs_cli.command("list")
def list_organisations() -> None:
    """List the organisations with their ids."""
    for organisation in services.list_organisations():
        click.echo(f"{organisation.id}\t{organisation.name}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@trainers_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="Full name shown to parents.")
@click.option("--coordinator", is_flag=True, help="Give the account the coordinator role.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--org", "org", default=None,
              help="The organisation (id or name); default the first one, made when there is none.")
def create_trainer(email: str, name: str, coordinator: bool, password_stdin: bool, org: str | None) -> None:
    """Create a trainer (or coordinator) account in an organisation."""
    organisation = services.find_organisation(org) if org else services.default_organisation()
    if organisation is None:
        raise click.ClickException(f"No organisation {org!r}; see `flask orgs list`.")
    with _committed():
        user = services.create_user(email, name=name, password=_read_password(password_stdin),
                                    coordinator=coordinator, organisation=organisation)
    click.echo(f"Created {user.role.value} {user.email} (id {user.id}) in {organisation.name!r}.")


@trainers_cli.command("set-phone")
@click.argument("email")
@click.argument("phone")
def set_phone(email: str, phone: str) -> None:
    """Set the phone number parents may call or WhatsApp when they cannot get in ("" clears it)."""
    user = services.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No account with e-mail {email!r}.")
    with _committed():
        services.set_user_phone(user, phone)
    click.echo(f"{user.email}: {user.phone or 'no phone number'}")


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
