"""Login, password-reset, API-token and trainer-management forms."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mailadres"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Wachtwoord"), validators=[DataRequired(), Length(max=200)])


class ResetRequestForm(FlaskForm):
    email = EmailField(_l("E-mailadres"), validators=[DataRequired(), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("Nieuw wachtwoord"), validators=[DataRequired(), Length(min=12, max=200)])
    confirm = PasswordField(
        _l("Herhaal het wachtwoord"),
        validators=[DataRequired(), EqualTo("password", message=_l("De wachtwoorden zijn niet gelijk."))],
    )


class ApiTokenForm(FlaskForm):
    name = StringField(_l("Naam van de sleutel"), validators=[Length(max=100)])


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for buttons that change state."""


class InviteForm(FlaskForm):
    name = StringField(_l("Naam"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(_l("E-mailadres"), validators=[DataRequired(), Length(max=254)])
    coordinator = BooleanField(_l("Coördinator (ziet alle cursussen en beheert trainers)"))


class RoleForm(FlaskForm):
    role = SelectField(_l("Rol"), choices=[SelectChoice("trainer", _l("Trainer")),
                                           SelectChoice("coordinator", _l("Coördinator"))],
                       validators=[DataRequired()])
