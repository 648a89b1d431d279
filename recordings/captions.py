"""Captions: a trainer's WebVTT file, checked and stored next to the renditions of a recording in review or
published."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from core.errors import DomainError
from core.extensions import db
from core.storage import get_storage
from recordings.models import Recording
from recordings.pipeline import STORED
from recordings.publish import SHORT_CACHE, recording_prefix

MAX_CAPTION_BYTES = 1024 * 1024
CAPTION_TYPE = "text/vtt"


class CaptionError(DomainError):
    """The uploaded captions file is not a usable WebVTT file, or the recording cannot take captions."""


def caption_name(language: str) -> str:
    """The rendition name of a captions file; playback turns `captions/<lang>.vtt` into a <track srclang=lang>."""
    return f"captions/{language}.vtt"


def captions_of(recording: Recording) -> list[str]:
    """The languages the recording has captions in, sorted."""
    return sorted(n.removeprefix("captions/").removesuffix(".vtt") for n in recording.renditions or {}
                  if n.startswith("captions/") and n.endswith(".vtt"))


def check_webvtt(filename: str, data: bytes) -> None:
    """Raise CaptionError (field `file`) unless this is a .vtt file of at most 1 MB starting with WEBVTT."""
    if not filename.lower().endswith(".vtt"):
        raise CaptionError(_("Kies een bestand dat eindigt op .vtt."), field="file")
    if len(data) > MAX_CAPTION_BYTES:
        raise CaptionError(_("Dit ondertitelbestand is groter dan 1 MB."), field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CaptionError(_("Dit ondertitelbestand is geen UTF-8-tekst."), field="file") from None
    if not (text.startswith("WEBVTT") and text[6:7] in ("", " ", "\t", "\n", "\r")):
        raise CaptionError(_("Dit is geen WebVTT-bestand: de eerste regel moet met WEBVTT beginnen."), field="file")


def add_captions(recording: Recording, *, language: str, filename: str, data: bytes) -> str:
    """Check and store a WebVTT file as the recording's captions in `language`; flushes; network (storage)."""
    if recording.state not in STORED:
        raise CaptionError(_("Ondertitels kun je toevoegen zodra de opname klaar is om te bekijken."))
    if language not in current_app.config["LANGUAGES"]:
        raise CaptionError(_("Kies een van de talen."), field="language")
    check_webvtt(filename, data)
    name = caption_name(language)
    get_storage().put_bytes(recording_prefix(recording) + name, data, content_type=CAPTION_TYPE,
                            cache_control=SHORT_CACHE)
    # A new dict: the JSON column does not track changes made in place.
    recording.renditions = {**(recording.renditions or {}), name: CAPTION_TYPE}
    db.session.flush()
    return name
