"""Login, logout, password reset, the trainer's API tokens and the coordinator's trainer management."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from accounts import services, tasks
from accounts.access import coordinator_required
from accounts.forms import (
    ApiTokenForm,
    EmptyForm,
    InviteForm,
    LoginForm,
    ResetPasswordForm,
    ResetRequestForm,
    RoleForm,
)
from accounts.models import ApiToken, Role, User
from core import tenancy
from core.errors import DomainError, press_button
from core.extensions import db, limiter, login_manager
from core.queue import enqueue_after_commit
from core.ratelimits import LoginSlowdown, client_address, configured, login_address_account_key

bp = Blueprint("accounts", __name__)
login_slowdown = LoginSlowdown(limiter)


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    # "<user id>:<session nonce>": a session from before a logout or password change no longer matches.
    user_id, _, nonce = session_id.partition(":")
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    if user is None or not user.active or not hmac.compare_digest(user.session_nonce, nonce):
        return None
    tenancy.enter(user.organisation_id, replace=False)  # a parent page resolved first keeps the parent's scope
    return user


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an absolute or scheme-relative "next" would be an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("dashboard.home")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(configured("RATELIMIT_LOGIN"), methods=["POST"], key_func=client_address)
@limiter.limit(configured("RATELIMIT_LOGIN_ADDRESS_ACCOUNT"), methods=["POST"], key_func=login_address_account_key,
               deduct_when=lambda response: response.status_code == 400)  # failed logins only
def login():
    # Per account there is no lock, which a stranger could set off: a slow-down (core.ratelimits.LoginSlowdown).
    form = LoginForm()
    if form.validate_on_submit():
        wait = login_slowdown.wait(form.email.data)
        if wait:  # answered without looking at the password
            form.password.errors.append(ngettext(
                "Te veel mislukte pogingen met dit e-mailadres. Probeer het over %(num)d seconde opnieuw.",
                "Te veel mislukte pogingen met dit e-mailadres. Probeer het over %(num)d seconden opnieuw.", wait))
            return render_template("accounts/login.html", form=form), 429, {"Retry-After": str(wait)}
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            login_slowdown.succeeded(form.email.data)
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        login_slowdown.failed(form.email.data)
        form.password.errors.append(_("Dit e-mailadres en wachtwoord horen niet bij elkaar."))
    return render_template("accounts/login.html", form=form), 200 if not form.errors else 400


@bp.route("/logout", methods=["POST"])
def logout():
    if EmptyForm().validate_on_submit():
        if current_user.is_authenticated:
            services.end_sessions(current_user)
            db.session.commit()
        logout_user()
        flash(_("Je bent uitgelogd."), "info")
    response = redirect(url_for("core.home"))
    response.headers["Clear-Site-Data"] = '"cache", "storage"'  # nothing of the session stays in the browser
    return response


@bp.route("/password/reset", methods=["GET", "POST"])
@limiter.limit(configured("RATELIMIT_PASSWORD_RESET"), methods=["POST"], key_func=client_address)
def request_reset():
    form = ResetRequestForm()
    if form.validate_on_submit():
        started = services.start_password_reset(form.email.data)
        if started is not None:
            user, token = started
            enqueue_after_commit(db.session, tasks.send_password_reset, user.id, token)
        db.session.commit()
        # The same answer whether or not the address exists, so the form cannot be used to find accounts.
        flash(_("Als dit adres bij ons bekend is, krijg je een e-mail met een link."), "info")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/request_reset.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(configured("RATELIMIT_PASSWORD_RESET"), methods=["POST"], key_func=client_address)
def reset_password(token: str):
    if services.find_password_reset(token) is None:
        return render_template("accounts/reset_invalid.html"), 404
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            user = services.finish_password_reset(token, form.password.data)
        except DomainError as exc:
            form.password.errors.append(str(exc.message))
        else:
            enqueue_after_commit(db.session, tasks.send_password_changed, user.id)  # ASVS 2.2.3
            db.session.commit()
            flash(_("Je wachtwoord is gewijzigd. Log in met je nieuwe wachtwoord."), "info")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/reset_password.html", form=form)


@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    form = ApiTokenForm()
    new_token = None
    if form.validate_on_submit():
        _row, new_token = services.create_api_token(current_user, name=form.name.data or "")
        db.session.commit()
    rows = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == current_user.id).order_by(ApiToken.created_at.desc())
    ).all()
    return render_template("accounts/tokens.html", form=form, rows=rows, new_token=new_token, empty=EmptyForm())


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    row = db.get_or_404(ApiToken, token_id)
    if row.user_id != current_user.id:
        abort(404)
    press_button(EmptyForm(), lambda: services.revoke_api_token(row), done=_("De sleutel is ingetrokken."))
    return redirect(url_for("accounts.tokens"))


def _render_trainers(form: InviteForm, status: int = 200):
    search = request.args.get("q", "").strip()[:100]
    staff, counts = services.list_staff(current_user.organisation_id, search=search,
                                        page=request.args.get("page", 1, type=int))
    return render_template("accounts/trainers.html", form=form, staff=staff, counts=counts, search=search,
                           empty=EmptyForm(), role_form=RoleForm()), status


@bp.route("/trainers", methods=["GET", "POST"])
@coordinator_required
def trainers():
    form = InviteForm()
    if not form.validate_on_submit():
        return _render_trainers(form, 400 if form.errors else 200)
    try:
        user, token = services.invite_user(form.email.data, name=form.name.data, coordinator=form.coordinator.data,
                                           organisation=current_user.organisation)
    except DomainError as exc:
        db.session.rollback()
        getattr(form, exc.field or "email").errors.append(str(exc.message))
        return _render_trainers(form, 400)
    enqueue_after_commit(db.session, tasks.send_invitation, user.id, token, current_user.name)
    db.session.commit()
    flash(_("%(name)s heeft een uitnodiging per e-mail gekregen.", name=user.name), "info")
    return redirect(url_for("accounts.trainers"))


def _change_user(user: User, change) -> None:
    try:
        change(user)
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(_("De wijziging is opgeslagen."), "info")


@bp.route("/trainers/<int:user_id>/deactivate", methods=["POST"], endpoint="deactivate_trainer",
          defaults={"active": False})
@bp.route("/trainers/<int:user_id>/activate", methods=["POST"], endpoint="activate_trainer", defaults={"active": True})
@coordinator_required
def set_trainer_active(user_id: int, active: bool):
    user = db.get_or_404(User, user_id)  # first: another organisation's user is unknown, whatever the form says
    if EmptyForm().validate_on_submit():
        _change_user(user, lambda user: services.set_user_active(user, active, by=current_user))
    return redirect(url_for("accounts.trainers"))


@bp.route("/trainers/<int:user_id>/role", methods=["POST"])
@coordinator_required
def change_role(user_id: int):
    user = db.get_or_404(User, user_id)
    form = RoleForm()
    if form.validate_on_submit():
        _change_user(user, lambda user: services.set_user_role(user, Role(form.role.data), by=current_user))
    return redirect(url_for("accounts.trainers"))
