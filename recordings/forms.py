"""The trainer's recording forms: a video upload without JavaScript, and a captions file with its language."""

from __future__ import annotations

from babel import Locale
from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField


class UploadForm(FlaskForm):
    file = FileField(_l("Videobestand"), validators=[FileRequired(_l("Kies een videobestand."))])


class CaptionForm(FlaskForm):
    file = FileField(_l("Ondertitels (WebVTT-bestand, .vtt)"), validators=[FileRequired(_l("Kies een .vtt-bestand."))])
    language = SelectField(_l("Taal van de ondertitels"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = [(code, Locale.parse(code).get_display_name(code) or code)
                                 for code in current_app.config["LANGUAGES"]]
