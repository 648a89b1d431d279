"""The parents' CSV import: read a file, check every row (matching known parents inside the organisation only),
enrol the good rows, list the bad ones, and send each new parent the welcome message on their channels."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l

from accounts import audit
from courses import links
from courses.contacts import CourseError, ParentData, clean_parent
from courses.models import Course
from courses.services import enrol_parent, find_parent

MAX_IMPORT_ROWS = 2000
CSV_HEADERS = {"name": "name", "naam": "name", "email": "email", "e-mail": "email", "e-mailadres": "email",
               "phone": "phone", "telefoon": "phone", "mobiel": "phone", "language": "language", "taal": "language",
               "channels": "channels", "kanalen": "channels", "consent": "consent", "toestemming": "consent"}
#: The downloadable template: its header and one example row per kind of parent.
TEMPLATE = ("naam;e-mail;telefoon;taal;kanalen;toestemming\r\n"
            "Sanne de Vries;sanne@example.org;;nl;email;ja\r\n"
            "Amina El Amrani;;0612345678;ar;whatsapp sms;nee\r\n"
            "Elif Yılmaz;elif@example.org;0612345679;tr;email sms;ja\r\n")
CHANNELS = ("email", "sms", "whatsapp")
CHANNEL_NAMES = {"email": _l("e-mail"), "sms": _l("sms"), "whatsapp": "WhatsApp"}
YES = {"ja", "yes", "j", "y", "1", "true", "x", "evet", "نعم"}


@dataclass
class ImportRow:
    """One data row of an uploaded file: its line number, the raw values and the outcome of the checks."""

    line: int
    values: dict
    data: ParentData | None = None
    error: str | None = None
    #: "new", "existing" (already known: only enrolled) or "repeat" (same parent earlier in the file).
    status: str = "new"
    #: The contact choices of a new parent: contact_email/contact_sms/contact_whatsapp and consent_recording.
    choices: dict | None = None
    #: The channels of an already known parent: their record stays as it is.
    known_channels: list[str] | None = None

    @property
    def welcome_channels(self) -> list[str]:
        """Where a new parent's welcome message goes; empty: they can't be reached (add e-mail or tick SMS)."""
        if self.data is None or self.status != "new":
            return []
        return [c for c in CHANNELS if self.choices.get(f"contact_{c}") and
                (self.data.email if c == "email" else self.data.phone)]

    @property
    def message_channels(self) -> list[str]:
        """Where this row's parent gets messages: a new parent's welcome channels, a known parent's own channels;
        empty: they can't be reached."""
        return (self.known_channels or []) if self.status == "existing" else self.welcome_channels

    @property
    def channel_names(self) -> str:
        """message_channels as the trainer reads them ("e-mail, WhatsApp"), in the current language."""
        return ", ".join(str(CHANNEL_NAMES[c]) for c in self.message_channels)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CourseError(_l("Sla het bestand op als CSV UTF-8."), field="file") from None


def _header(fields: list[str]) -> list[str]:
    keys = [CSV_HEADERS.get(f.strip().lower(), "") for f in fields]
    if "name" not in keys or not {"email", "phone"} & set(keys):
        raise CourseError(_l("De eerste regel moet de kolommen naam, e-mail, telefoon en taal noemen."),
                          field="file")
    return keys


def read_csv(raw: bytes) -> list[dict]:
    """The data rows of a UTF-8 CSV (comma or semicolon, BOM allowed) as dicts with line numbers."""
    text = _decode(raw)
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        keys = _header(next(reader, []))
        rows = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            values = {k: (cells[i].strip() if i < len(cells) else "") for i, k in enumerate(keys) if k}
            rows.append({"line": reader.line_num, **values})
    except csv.Error:  # e.g. a field longer than the csv module allows: not a parents list
        raise CourseError(_l("Sla het bestand op als CSV UTF-8."), field="file") from None
    if len(rows) > MAX_IMPORT_ROWS:
        raise CourseError(_l("Een bestand mag hoogstens %(n)d regels hebben.", n=MAX_IMPORT_ROWS), field="file")
    return rows


def _check_row(row: ImportRow, default_language: str, seen: dict, organisation_id: int) -> None:
    values = row.values
    try:
        row.data = clean_parent(name=values.get("name", ""), email=values.get("email"), phone=values.get("phone"),
                                language=(values.get("language") or default_language).lower())
        row.choices = _choices(values, row.data)
    except CourseError as exc:
        row.error = "; ".join(str(e.message) for e in getattr(exc, "errors", [exc]))
        return
    keys = [k for k in (row.data.email, row.data.phone) if k]
    if any(k in seen for k in keys):
        row.status = "repeat"
    elif (known := find_parent(organisation_id, email=row.data.email, phone=row.data.phone)) is not None:
        row.status, row.known_channels = "existing", known.channels
    seen.update(dict.fromkeys(keys, row.line))


def _choices(values: dict, data: ParentData) -> dict:
    """Channels from the `kanalen` column (default: e-mail when there is an address, else SMS) and consent."""
    named = (values.get("channels") or "").lower().replace(",", " ").split()
    unknown = [n for n in named if n not in CHANNELS]
    if unknown:
        raise CourseError(_l("Onbekend kanaal: %(name)s (kies email, sms of whatsapp).", name=unknown[0]),
                          field="channels")
    wanted = set(named) or ({"email"} if data.email else {"sms"} if data.phone else set())
    return {"contact_email": "email" in wanted, "contact_sms": "sms" in wanted,
            "contact_whatsapp": "whatsapp" in wanted,
            "consent_recording": (values.get("consent") or "").strip().lower() in YES}


def check_import(course: Course, raw: bytes) -> list[ImportRow]:
    """Parse and check an uploaded parents file without changing anything."""
    rows = [ImportRow(line=r.pop("line"), values=r) for r in read_csv(raw)]
    seen: dict = {}
    for row in rows:
        _check_row(row, course.language if course.language in current_app.config["LANGUAGES"] else "nl", seen,
                   course.organisation_id)
    return rows


def import_parents(course: Course, raw: bytes) -> list[ImportRow]:
    """Re-check a parents file, enrol every good row (bad rows are left out and returned with their error) and
    enqueue the welcome message of each new parent after commit; flushes."""
    rows = check_import(course, raw)
    good = [r for r in rows if not r.error]
    if not good:
        raise CourseError(_l("Het bestand bevat geen goede regels."), field="file")
    for row in good:
        parent, created = enrol_parent(course, **vars(row.data), **row.choices)
        if created and parent.channels:
            links.send_welcome_message(parent)
    audit.record("parents.imported", course_id=course.id, count=len(good))
    return rows
