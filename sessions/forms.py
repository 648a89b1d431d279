"""Forms for scheduling, editing and cancelling live sessions, and the parent's lobby choices."""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
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

from courses.forms import ConfirmForm, TimeZoneField, translation_fields, typed_translations
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
    #: Asked only when the local time occurs twice (the night the clocks go back): "0" the first, "1" the second.
    fold = RadioField(_l("Welke tijd bedoel je?"), choices=[], validate_choice=False, validators=[Optional()])
    #: Set by "Toch opslaan" on the warnings step (double booking, past the course's end).
    confirmed = HiddenField()

    def fold_choice(self) -> int | None:
        """The occurrence the trainer picked for a time that occurs twice, or None."""
        return int(self.fold.data) if self.fold.data in ("0", "1") else None


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


SCOPE_CHOICES = [SelectChoice("one", _l("Alleen deze datum")),
                 SelectChoice("following", _l("Deze en de volgende datums")),
                 SelectChoice("all", _l("De hele reeks (alle datums die nog komen)"))]


class EditForm(WhenForm):
    title = StringField(_l("Titel"), validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("Beschrijving"), validators=[Optional(), Length(max=5000)])
    recorded = BooleanField(_l("Deze bijeenkomst wordt opgenomen"))
    scope = RadioField(_l("Wijzigen voor"), choices=SCOPE_CHOICES, default="one")


def other_languages() -> list[str]:
    """The parents' languages a trainer may give a title and description in besides the Dutch."""
    return [lang for lang in current_app.config["LANGUAGES"] if lang != "nl"]


def with_translations(form_class: type[FlaskForm]) -> type[FlaskForm]:
    """`form_class` plus `title_<lang>` and `description_<lang>` for each other parent language (like the course's)."""
    return type(f"Translated{form_class.__name__}", (form_class,), translation_fields(other_languages()))


def form_translations(form) -> dict:
    """The per-language titles and descriptions typed in a with_translations() form (empty ones left out)."""
    return typed_translations(form, other_languages())


def fill_translations(form, translations: dict | None) -> None:
    """Show stored per-language texts in a with_translations() form (not on a submitted one)."""
    if form.is_submitted():
        return
    for lang, texts in (translations or {}).items():
        for name, text in texts.items():
            if f"{name}_{lang}" in form:
                form[f"{name}_{lang}"].data = text


class CancelForm(ConfirmForm):
    reason = TextAreaField(_l("Reden (mag leeg blijven; staat in het bericht aan de ouders)"),
                           validators=[Optional()])  # the length rule is the service's (clean_reason)


class ConsentForm(FlaskForm):
    choice = RadioField(_l("Opname"), choices=[SelectChoice("consent", _l("Ik vind opnemen goed")),
                                               SelectChoice("object", _l("Ik wil niet opgenomen worden"))],
                        validators=[InputRequired()])
