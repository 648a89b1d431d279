"""Forms for scheduling, moving and cancelling live sessions, and the parent's lobby choices."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from courses.forms import TimeZoneField
from sessions.models import SessionKind

KIND_LABELS = {
    SessionKind.workshop: _l("Workshop met trainer"),
    SessionKind.parents_meetup: _l("Ouders onder elkaar (zonder trainer)"),
    SessionKind.one_to_one: _l("Gesprek één op één"),
}


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class WhenForm(FlaskForm):
    starts_at = DateTimeLocalField(_l("Begint op"), format="%Y-%m-%dT%H:%M", validators=[InputRequired()])
    ends_at = TimeField(_l("Eindtijd"), validators=[InputRequired()])
    timezone = TimeZoneField(_l("Tijdzone"), validators=[DataRequired()])


class ScheduleForm(WhenForm):
    title = StringField(_l("Titel"), validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("Beschrijving"), validators=[Optional(), Length(max=5000)])
    kind = SelectField(_l("Soort"), choices=[SelectChoice(k.value, label) for k, label in KIND_LABELS.items()],
                       default=SessionKind.workshop.value)
    recorded = BooleanField(_l("Deze bijeenkomst wordt opgenomen"))
    lobby_minutes = IntegerField(_l("Lobby open (minuten voor de start)"), default=15, validators=[InputRequired()])
    repeat = RadioField(_l("Herhalen"), choices=[SelectChoice("once", _l("Eén keer")), SelectChoice("weekly", _l("Elke week"))],
                        default="once")
    count = IntegerField(_l("Aantal keer"), validators=[Optional()])
    until = DateField(_l("Of tot en met"), validators=[Optional()])
    invite = RadioField(_l("Uitnodigen"), choices=[SelectChoice("course", _l("De hele cursus")),
                                                   SelectChoice("chosen", _l("Gekozen ouders"))], default="course")
    invitees = MultiCheckboxField(_l("Ouders"), coerce=int, validate_choice=False)


class MoveForm(WhenForm):
    pass


class ConsentForm(FlaskForm):
    choice = RadioField(_l("Opname"), choices=[SelectChoice("consent", _l("Ik vind opnemen goed")),
                                               SelectChoice("object", _l("Ik wil niet opgenomen worden"))],
                        validators=[InputRequired()])
