"""Mail for accounts, sent by the worker after the request committed."""

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from accounts.models import User
from core import mail
from core.extensions import db
from core.queue import task
from core.urls import external_url


@task(name="accounts.send_password_reset", retries=3, retry_delay=60)
def send_password_reset(user_id: int, token: str) -> None:
    """Mail a password-reset link to a user (network: SMTP or the log)."""
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        return
    link = external_url("accounts.reset_password", token=token)
    with force_locale(user.language):
        subject = _("Nieuw wachtwoord voor Ouderkamer")
        text = render_template("emails/password_reset.txt", user=user, link=link)
        html = render_template("emails/password_reset.html", user=user, link=link, subject=subject)
    mail.send_message(mail.build_message(
        sender=mail.default_sender(), to=[user.email], subject=subject, text=text, html=html, language=user.language,
    ))


@task(name="accounts.send_invitation", retries=3, retry_delay=60)
def send_invitation(user_id: int, token: str, inviter_name: str) -> None:
    """Mail a new trainer or coordinator the link to choose a password (network: SMTP or the log)."""
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        return
    link = external_url("accounts.reset_password", token=token)
    with force_locale(user.language):
        subject = _("Je account voor Ouderkamer")
        values = {"user": user, "link": link, "inviter": inviter_name}
        text = render_template("emails/invitation.txt", **values)
        html = render_template("emails/invitation.html", **values, subject=subject)
    mail.send_message(mail.build_message(
        sender=mail.default_sender(), to=[user.email], subject=subject, text=text, html=html, language=user.language,
    ))


@task(name="accounts.send_password_changed", retries=3, retry_delay=60)
def send_password_changed(user_id: int) -> None:
    """Tell a user their password was just set, so a stranger's change does not go unnoticed (network)."""
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        return
    link = external_url("accounts.request_reset")
    with force_locale(user.language):
        subject = _("Nieuw wachtwoord ingesteld voor Ouderkamer")
        text = render_template("emails/password_changed.txt", user=user, link=link)
        html = render_template("emails/password_changed.html", user=user, link=link, subject=subject)
    mail.send_message(mail.build_message(
        sender=mail.default_sender(), to=[user.email], subject=subject, text=text, html=html, language=user.language,
    ))
