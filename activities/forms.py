"""Forms for home activities: the trainer's activity form and reply form, the parent's response form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, MultipleFileField
from wtforms import DateField, HiddenField, SelectChoice, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from activities.answers import MAX_TEXT
from activities.services import TEXT_FIELDS

KIND_LABELS = {"photo": _l("Foto"), "clip": _l("Filmpje"), "voice": _l("Geluid (spraakbericht)"),
               "text": _l("Tekst")}
FIELD_LABELS = {"title": _l("Titel"), "body": _l("Uitleg"), "request_text": _l("Wat we graag terug willen")}


class ActivityForm(FlaskForm):
    title = StringField(FIELD_LABELS["title"], validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(FIELD_LABELS["body"], validators=[Length(max=5000)])
    session_id = SelectField(_l("Hoort bij"), coerce=int, default=0)
    images = MultipleFileField(_l("Afbeeldingen toevoegen"), render_kw={"accept": "image/*"})
    clip = FileField(_l("Kort filmpje toevoegen"), render_kw={"accept": "video/*"})
    request_kinds = SelectMultipleField(_l("Wat mogen ouders terugsturen?"), choices=[SelectChoice(k, label) for k, label in KIND_LABELS.items()],
                                        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    request_text = TextAreaField(FIELD_LABELS["request_text"], validators=[Length(max=1000)])
    due_on = DateField(_l("Graag terug voor"), validators=[Optional()])

    def translations(self, languages: list[str]) -> dict:
        """The per-language texts typed in the form: {language: {field: text}}."""
        return {lang: {name: getattr(self, f"{name}_{lang}").data or "" for name in TEXT_FIELDS}
                for lang in languages}


def activity_form_class(languages: list[str]) -> type[ActivityForm]:
    """ActivityForm plus `title_<lang>`, `body_<lang>` and `request_text_<lang>` for each extra language."""
    fields = {}
    for lang in languages:
        fields[f"title_{lang}"] = StringField(FIELD_LABELS["title"], validators=[Length(max=200)])
        fields[f"body_{lang}"] = TextAreaField(FIELD_LABELS["body"], validators=[Length(max=5000)])
        fields[f"request_text_{lang}"] = TextAreaField(FIELD_LABELS["request_text"], validators=[Length(max=1000)])
    return type("LocalisedActivityForm", (ActivityForm,), fields)


class ReplyForm(FlaskForm):
    text = TextAreaField(_l("Je antwoord"), validators=[DataRequired(), Length(max=MAX_TEXT)])


class ResponseForm(FlaskForm):
    """The parent's answer (its files come from the page's file inputs and voice recorder, all named `file`).

    CSRF is off: the secret link in the URL binds the request to the parent (see parents.responses).
    """

    class Meta:
        csrf = False

    #: Made by the server when it renders the page; a retried POST carries the same key.
    client_key = HiddenField()
    text = TextAreaField(_l("Bericht"), validators=[Length(max=MAX_TEXT)])
