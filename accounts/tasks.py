"""Mail for accounts, sent by the worker after the request committed."""

from flask import render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from accounts.models import User
from core import mail
from core.extensions import db
from core.queue import task
from core.urls import external_url


def _mail_user(user_id: int, template: str, subject, **values) -> None:
    """Mail an active user `emails/<template>.txt` + `.html` in their language, with `user` and `values` in the
    templates; nothing when the user is gone or deactivated (network: SMTP or the log)."""
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        return
    with force_locale(user.language):
        subject = str(subject)
        text = render_template(f"emails/{template}.txt", user=user, **values)
        html = render_template(f"emails/{template}.html", user=user, **values, subject=subject)
    mail.send_message(mail.build_message(
        sender=mail.default_sender(), to=[user.email], subject=subject, text=text, html=html, language=user.language,
    ))


@task(name="accounts.send_password_reset", retries=3, retry_delay=60)
def send_password_reset(user_id: int, token: str) -> None:
    """Mail a password-reset link to a user (network: SMTP or the log)."""
    _mail_user(user_id, "password_reset", _l("Nieuw wachtwoord voor Ouderkamer"),
               link=external_url("accounts.reset_password", token=token))


@task(name="accounts.send_invitation", retries=3, retry_delay=60)
def send_invitation(user_id: int, token: str, inviter_name: str) -> None:
    """Mail a new trainer or coordinator the link to choose a password (network: SMTP or the log)."""
    _mail_user(user_id, "invitation", _l("Je account voor Ouderkamer"),
               link=external_url("accounts.reset_password", token=token), inviter=inviter_name)


@task(name="accounts.send_password_changed", retries=3, retry_delay=60)
def send_password_changed(user_id: int) -> None:
    """Tell a user their password was just set, so a stranger's change does not go unnoticed (network)."""
    _mail_user(user_id, "password_changed", _l("Nieuw wachtwoord ingesteld voor Ouderkamer"),
               link=external_url("accounts.request_reset"))
