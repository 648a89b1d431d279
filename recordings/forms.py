"""The trainer's recording forms: a video upload without JavaScript, and a captions file with its language."""

from __future__ import annotations

from babel import Locale
from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField


class UploadForm(FlaskForm):
    file = FileField(_l("Videobestand"), validators=[FileRequired(_l("Kies een videobestand."))])
    #: Asked only when a parent present in the session had not consented to being recorded (recordings/consent.py).
    confirm_without_consent = BooleanField(_l("Ik gebruik de opname toch: ik heb het met deze ouders besproken, of "
                                              "ze zijn niet in beeld of te horen."))


class CaptionForm(FlaskForm):
    file = FileField(_l("Ondertitels (WebVTT-bestand, .vtt)"), validators=[FileRequired(_l("Kies een .vtt-bestand."))])
    language = SelectField(_l("Taal van de ondertitels"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = [(code, Locale.parse(code).get_display_name(code) or code)
                                 for code in current_app.config["LANGUAGES"]]
