"""A parent's own fields: name, e-mail, mobile number and language, checked and normalised in one place."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l

from core.errors import DomainError, raise_all
from core.text import has_control_chars

PHONE_REGION = "NL"
MAX_NAME = 200  # Parent.name


class CourseError(DomainError):
    """A course rule was broken."""


def normalise_email(raw: str | None) -> str | None:
    """A lower-cased, syntactically valid address (no DNS check), or None when empty."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise CourseError(_l("Dit e-mailadres klopt niet: %(email)s", email=raw), field="email") from None


def normalise_phone(raw: str | None) -> str | None:
    """A mobile number as E.164 (Dutch numbers may omit +31), or None when empty."""
    raw = (raw or "").strip()
    if not raw:
        return None
    error = CourseError(_l("Dit telefoonnummer klopt niet: %(phone)s", phone=raw), field="phone")
    try:
        number = phonenumbers.parse(raw, PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise error from None
    if not phonenumbers.is_valid_number(number):
        raise error
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_language(language: str) -> str:
    if language not in current_app.config["LANGUAGES"]:
        raise CourseError(_l("Kies een van de talen: %(langs)s", langs=", ".join(current_app.config["LANGUAGES"])),
                          field="language")
    return language


@dataclass
class ParentData:
    """Checked and normalised parent fields."""

    name: str
    email: str | None
    phone: str | None
    language: str


def clean_parent(*, name: str, email: str | None, phone: str | None, language: str) -> ParentData:
    """Validate and normalise a parent's fields; CourseError (or DomainErrors: every problem at once)."""
    errors = _name_errors(name)
    values = {}
    for key, check, raw in (("email", normalise_email, email), ("phone", normalise_phone, phone),
                            ("language", check_language, language)):
        try:
            values[key] = check(raw)
        except CourseError as exc:
            errors.append(exc)
    if not errors and values["email"] is None and values["phone"] is None:
        errors.append(CourseError(_l("Vul een e-mailadres of een mobiel nummer in."), field="email"))
    raise_all(errors)
    return ParentData(name.strip(), values["email"], values["phone"], values["language"])


def _name_errors(name: str) -> list[CourseError]:
    if not (name or "").strip():
        return [CourseError(_l("Vul een naam in."), field="name")]
    if len(name.strip()) > MAX_NAME:
        return [CourseError(_l("Een naam mag hoogstens %(n)d tekens hebben.", n=MAX_NAME), field="name")]
    if has_control_chars(name.strip()):  # a name is one line; PostgreSQL text cannot even hold NUL
        return [CourseError(_l("Deze naam bevat een teken dat niet kan."), field="name")]
    return []
