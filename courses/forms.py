"""Course, parent, move and CSV-import forms."""

from __future__ import annotations

from babel import Locale
from flask import current_app
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from courses.services import DEFAULT_REMINDERS, MAX_REMINDERS, known_zones

#: Zones first in the list: where Dutch VVE programmes and their parents' families are; then every other zone.
COMMON_ZONES = ("Europe/Amsterdam", "Europe/Brussels", "Europe/Istanbul", "Africa/Casablanca", "Europe/London",
                "America/Paramaribo", "America/Curacao")


def timezone_choices() -> list[tuple[str, str]]:
    """The time-zone select: the common zones, then all others alphabetically (IANA names)."""
    rest = sorted(known_zones() - set(COMMON_ZONES))
    return [(zone, zone.replace("_", " ")) for zone in (*COMMON_ZONES, *rest)]


class TimeZoneField(SelectField):
    """A select of IANA zones instead of free text; an unknown value (a hand-made POST) gets the service's own
    message on the field ("Onbekende tijdzone")."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, choices=timezone_choices, validate_choice=False, **kwargs)


#: The reminder choices of a course (minutes before each session).
REMINDER_CHOICES = [SelectChoice(10080, _l("1 week")), SelectChoice(2880, _l("2 dagen")),
                    SelectChoice(1440, _l("24 uur")), SelectChoice(180, _l("3 uur")), SelectChoice(60, _l("1 uur")),
                    SelectChoice(15, _l("15 minuten"))]


def _language_choices() -> list[tuple[str, str]]:
    return [(code, code) for code in current_app.config["LANGUAGES"]]


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _not_too_many(form, field) -> None:
    if len(field.data or []) > MAX_REMINDERS:
        raise ValidationError(_l("Kies hoogstens %(n)d herinneringen.", n=MAX_REMINDERS))


def translation_fields(languages: list[str]) -> dict:
    """`title_<lang>` and `description_<lang>` for each parent language but Dutch: the trainer's own versions."""
    fields = {}
    for lang in languages:
        native = Locale.parse(lang).get_display_name(lang)  # each language named in itself: no translation needed
        fields[f"title_{lang}"] = StringField(LazyString(lambda n=native: f"{_l('Titel')} ({n})"),
                                              validators=[Length(max=200)])
        fields[f"description_{lang}"] = TextAreaField(LazyString(lambda n=native: f"{_l('Beschrijving')} ({n})"),
                                                      validators=[Length(max=5000)])
    return fields


def typed_translations(form, languages: list[str]) -> dict:
    """The per-language titles and descriptions typed in a form: {lang: {"title": .., "description": ..}}, empty
    ones left out (the Dutch is shown instead)."""
    found = {}
    for lang in languages:
        texts = {name: (getattr(form, f"{name}_{lang}").data or "").strip() for name in ("title", "description")}
        if any(texts.values()):
            found[lang] = {name: text for name, text in texts.items() if text}
    return found


class CourseForm(FlaskForm):
    title = StringField(_l("Titel"), validators=[DataRequired(_l("Geef de cursus een titel.")), Length(max=200)])
    description = TextAreaField(_l("Beschrijving"), validators=[Length(max=5000)])
    language = SelectField(_l("Taal van de cursus"))
    timezone = TimeZoneField(_l("Tijdzone"), default="Europe/Amsterdam", validators=[DataRequired()])
    trainers = SelectMultipleField(_l("Trainers"), coerce=int)
    starts_on = DateField(_l("Begindatum"), validators=[Optional()])
    ends_on = DateField(_l("Einddatum"), validators=[Optional()])
    retention_days = IntegerField(_l("Opnames bewaren (dagen)"), default=60,
                                  validators=[InputRequired(), NumberRange(min=1, max=365)])
    reminder_offsets = CheckboxesField(_l("Herinneringen voor elke bijeenkomst"), coerce=int, choices=REMINDER_CHOICES,
                                       default=list(DEFAULT_REMINDERS), validators=[_not_too_many])
    publish_automatically = BooleanField(_l("Nieuwe opnames meteen publiceren voor ouders, zonder ze eerst te bekijken"),
                                         default=False)

    def __init__(self, *args, trainer_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = _language_choices()
        self.trainers.choices = [(u.id, f"{u.name} ({u.email})") for u in trainer_choices]

    def validate_ends_on(self, field):
        # Here as well as in the service, so it shows in the same round as the form's own errors.
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError(_l("De einddatum ligt voor de begindatum."))


class ParentForm(FlaskForm):
    name = StringField(_l("Naam"), validators=[DataRequired(), Length(max=200)])
    email = StringField(_l("E-mailadres"), validators=[Length(max=254)])
    phone = StringField(_l("Mobiel nummer"), validators=[Length(max=40)])
    language = SelectField(_l("Taal"))
    consent_recording = BooleanField(_l("Toestemming voor opnames"))
    contact_email = BooleanField(_l("Contact per e-mail"), default=True)
    contact_sms = BooleanField(_l("Contact per sms"))
    contact_whatsapp = BooleanField(_l("Contact per WhatsApp"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = _language_choices()


class MoveParentForm(FlaskForm):
    course_id = SelectField(_l("Naar cursus"), coerce=int)


class ImportUploadForm(FlaskForm):
    file = FileField(_l("CSV-bestand"), validators=[FileRequired(_l("Kies een bestand."))])


class ImportConfirmForm(FlaskForm):
    #: The uploaded file, signed by the server; re-checked in full before anything is imported.
    payload = HiddenField(validators=[DataRequired()])


class RecordingConsentForm(FlaskForm):
    """A parent's answer on being recorded in a course's live sessions (two buttons named `choice`)."""

    choice = RadioField(_l("Opnemen"), choices=[SelectChoice("yes", _l("Ja, dat mag")),
                                                SelectChoice("no", _l("Nee, liever niet"))],
                        validators=[InputRequired()])
    #: The lobby the answer was given in, to go back to; empty on the route map.
    session_id = IntegerField(validators=[Optional()])


class ConfirmForm(FlaskForm):
    """The confirmation step of an action that cannot be undone: it acts only when posted with `confirmed` (the
    confirmation page's button), never on a one-click POST."""

    confirmed = HiddenField()
