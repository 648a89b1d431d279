"""Account rules: creating trainers, logging in, API tokens and password resets."""

from __future__ import annotations

import functools
from datetime import timedelta

import phonenumbers
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from accounts.models import ApiToken, Organisation, PasswordReset, Role, User, new_session_nonce
from core.db import utcnow
from core.errors import DomainError
from core.extensions import db
from core.tokens import hash_token, new_token, same_hash

MIN_PASSWORD_LENGTH = 12  # ASVS 2.1.1
RESET_VALID_FOR = timedelta(hours=1)
INVITATION_VALID_FOR = timedelta(days=7)
API_TOKEN_PREFIX = "ok_"
#: A stored hash that no token matches, compared when nothing was found so every miss costs the same work.
_NO_MATCH = "0" * 64
# Checked against when the e-mail is unknown, so a login takes as long whether or not the account exists.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class AccountError(DomainError):
    """An account rule was broken."""


#: The organisation that an installation with one organisation (and the migration of older data) puts everything in.
DEFAULT_ORGANISATION = "Ouderkamer"


def create_organisation(name: str, *, language: str = "nl", retention_days: int = 60,
                        sender_name: str = "") -> Organisation:
    """Add an organisation (a VVE provider, the tenant); flushes."""
    name = " ".join((name or "").split())
    if not name or len(name) > 200:
        raise AccountError(_l("Geef de organisatie een naam (hoogstens 200 tekens)."), field="name")
    if db.session.scalar(select(Organisation.id).where(func.lower(Organisation.name) == name.lower())):
        raise AccountError(_l("Er is al een organisatie met deze naam."), field="name")
    if language not in current_app.config["LANGUAGES"]:
        raise AccountError(_l("Onbekende taal."), field="language")
    if not 1 <= retention_days <= 365:
        raise AccountError(_l("Bewaar opnames tussen 1 en 365 dagen."), field="retention_days")
    organisation = Organisation(name=name, language=language, retention_days=retention_days,
                                sender_name=" ".join(sender_name.split())[:100])
    db.session.add(organisation)
    db.session.flush()
    return organisation


def default_organisation() -> Organisation:
    """The first organisation, made on first use: a one-organisation installation never has to name it; flushes."""
    organisation = db.session.scalars(select(Organisation).order_by(Organisation.id)).first()
    return organisation or create_organisation(DEFAULT_ORGANISATION)


def find_organisation(key: str) -> Organisation | None:
    """An organisation by id or (case-insensitive) name."""
    if key.isdigit():
        return db.session.get(Organisation, int(key))
    return db.session.scalar(select(Organisation).where(func.lower(Organisation.name) == key.strip().lower()))


def list_organisations() -> list[Organisation]:
    """Every organisation, by name."""
    return list(db.session.scalars(select(Organisation).order_by(Organisation.name)))


def normalise_email(email: str) -> str:
    """Trim and lower-case an e-mail address."""
    return email.strip().lower()


def find_user_by_email(email: str) -> User | None:
    """The user with this e-mail address, if any."""
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def _hash(password: str) -> str:
    # Tests set a cheap method; production uses werkzeug's default (scrypt).
    return generate_password_hash(password, method=current_app.config.get("PASSWORD_HASH_METHOD", "scrypt"))


@functools.cache
def _breached_passwords() -> frozenset[str]:
    # The 30,000 most common passwords of public breaches, as zxcvbn ships them (ASVS 2.1.7).
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # loaded on the first password change, not at start-up

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password_rules(password: str) -> None:
    """Raise AccountError when a password is too short or one of the commonly breached passwords."""
    if len(" ".join(password.split())) < MIN_PASSWORD_LENGTH:
        raise AccountError(_l("Gebruik minstens %(n)d tekens.", n=MIN_PASSWORD_LENGTH), field="password")
    if password.lower() in _breached_passwords():
        raise AccountError(_l("Dit wachtwoord staat in lijsten van gelekte wachtwoorden. Kies een ander."),
                           field="password")


def create_user(email: str, *, name: str, password: str, coordinator: bool = False,
                organisation: Organisation | None = None) -> User:
    """Add a trainer (or coordinator) to an organisation (default: the first one); flushes."""
    email = normalise_email(email)
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise AccountError(_l("Dit is geen e-mailadres."), field="email")
    if not name.strip():
        raise AccountError(_l("Vul een naam in."), field="name")
    if find_user_by_email(email):
        raise AccountError(_l("Er is al een account met dit e-mailadres."), field="email")
    check_password_rules(password)
    role = Role.coordinator if coordinator else Role.trainer
    organisation = organisation or default_organisation()
    user = User(email=email, name=name.strip(), password_hash=_hash(password), role=role,
                organisation_id=organisation.id)
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user whose e-mail and password match, else None."""
    user = find_user_by_email(email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def set_user_phone(user: User, raw: str) -> None:
    """Store the trainer's phone number as E.164 (Dutch numbers may omit +31), or clear it when empty; flushes."""
    raw = raw.strip()
    number = None
    if raw:
        try:
            number = phonenumbers.parse(raw, "NL")
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise AccountError(_l("Dit telefoonnummer klopt niet: %(phone)s", phone=raw), field="phone")
    user.phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) if number else None
    db.session.flush()


def set_password(user: User, password: str) -> None:
    """Replace a user's password and end their sessions everywhere; flushes."""
    check_password_rules(password)
    user.password_hash = _hash(password)
    end_sessions(user)


def end_sessions(user: User) -> None:
    """End every login session of the user (logout, password change); flushes."""
    user.session_nonce = new_session_nonce()
    db.session.flush()


def create_api_token(user: User, *, name: str = "") -> tuple[ApiToken, str]:
    """Issue an API token; returns the row and the token, which is never shown again. Flushes."""
    token = new_token(API_TOKEN_PREFIX)
    row = ApiToken(user=user, name=name, prefix=token[:10], token_hash=hash_token(token))
    db.session.add(row)
    db.session.flush()
    return row, token


def _find_by_token(model: type[ApiToken] | type[PasswordReset], token: str) -> ApiToken | PasswordReset | None:
    # By the token's hash, then compared in constant time, also when no row matched.
    row = db.session.scalar(select(model).where(model.token_hash == hash_token(token)))
    return row if same_hash(token, row.token_hash if row else _NO_MATCH) else None


def find_user_by_api_token(token: str) -> User | None:
    """The active user owning this unrevoked API token; records its use. Flushes."""
    row = _find_by_token(ApiToken, token)
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    row.last_used_at = utcnow()
    db.session.flush()
    return row.user


def revoke_api_token(row: ApiToken) -> None:
    """Revoke an API token; flushes."""
    row.revoked_at = row.revoked_at or utcnow()
    db.session.flush()


def start_password_reset(email: str, *, valid_for: timedelta = RESET_VALID_FOR) -> tuple[User, str] | None:
    """Create a single-use reset token for an active user; returns (user, token) or None. Flushes."""
    user = find_user_by_email(email)
    if user is None or not user.active:
        return None
    token = new_token()
    db.session.add(PasswordReset(user=user, token_hash=hash_token(token), expires_at=utcnow() + valid_for))
    db.session.flush()
    return user, token


def find_password_reset(token: str) -> PasswordReset | None:
    """The unused, unexpired reset for this token, else None."""
    row = _find_by_token(PasswordReset, token)
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


def finish_password_reset(token: str, password: str) -> User:
    """Set a new password with a reset token and spend every open token of that user; flushes."""
    row = find_password_reset(token)
    if row is None:
        raise AccountError(_l("Deze link werkt niet meer. Vraag een nieuwe aan."))
    set_password(row.user, password)
    now = utcnow()
    for other in db.session.scalars(select(PasswordReset).where(PasswordReset.user_id == row.user_id)):
        other.used_at = other.used_at or now
    db.session.flush()
    return row.user


def invite_user(email: str, *, name: str, organisation: Organisation, coordinator: bool = False) -> tuple[User, str]:
    """Add a trainer or coordinator to an organisation without a known password; returns (user, set-password token).
    Flushes."""
    # A random password nobody knows: the invitee chooses their own through the set-password link.
    user = create_user(email, name=name, password=new_token(), coordinator=coordinator, organisation=organisation)
    _user, token = start_password_reset(user.email, valid_for=INVITATION_VALID_FOR)
    return user, token


def _trainer_course_counts(user_ids: list[int]) -> dict[int, int]:
    # accounts sits below courses and may not import it; the link table is looked up by name instead.
    link = db.metadata.tables.get("course_trainers")
    if link is None or not user_ids:
        return {}
    rows = db.session.execute(select(link.c.user_id, func.count()).where(link.c.user_id.in_(user_ids))
                              .group_by(link.c.user_id))
    return {user_id: count for user_id, count in rows}


STAFF_PER_PAGE = 50


def list_staff(organisation_id: int, *, search: str = "", page: int = 1, per_page: int = STAFF_PER_PAGE):
    """One page of the organisation's trainers and coordinators by name (those whose name or e-mail contains
    `search`), and the number of courses each of them runs: (pagination, {user id: count}); three queries."""
    query = select(User).where(User.organisation_id == organisation_id)
    if search:
        query = query.where(User.name.icontains(search, autoescape=True) |
                            User.email.icontains(search, autoescape=True))
    staff = db.paginate(query.order_by(User.name, User.email, User.id), page=page, per_page=per_page,
                        error_out=False)
    return staff, _trainer_course_counts([user.id for user in staff.items])


def set_user_active(user: User, active: bool, *, by: User) -> None:
    """Deactivate or reactivate an account (never one's own); deactivating spends open reset links. Flushes."""
    if user.id == by.id:
        raise AccountError(_l("Je kunt je eigen account niet uitzetten of wijzigen."))
    user.active = active
    if not active:
        now = utcnow()
        for row in db.session.scalars(select(PasswordReset).where(PasswordReset.user_id == user.id)):
            row.used_at = row.used_at or now
    db.session.flush()


def set_user_role(user: User, role: Role, *, by: User) -> None:
    """Make someone a trainer or a coordinator (never oneself); flushes."""
    if user.id == by.id:
        raise AccountError(_l("Je kunt je eigen account niet uitzetten of wijzigen."))
    user.role = role
    db.session.flush()
