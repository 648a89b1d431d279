"""Login, password-reset and API-token forms."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mailadres"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Wachtwoord"), validators=[DataRequired(), Length(max=200)])


class ResetRequestForm(FlaskForm):
    email = EmailField(_l("E-mailadres"), validators=[DataRequired(), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("Nieuw wachtwoord"), validators=[DataRequired(), Length(min=10, max=200)])
    confirm = PasswordField(
        _l("Herhaal het wachtwoord"),
        validators=[DataRequired(), EqualTo("password", message=_l("De wachtwoorden zijn niet gelijk."))],
    )


class ApiTokenForm(FlaskForm):
    name = StringField(_l("Naam van de sleutel"), validators=[Length(max=100)])


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for buttons that change state."""
