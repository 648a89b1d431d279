"""Helpers for the home-activity tests: photos with metadata, noisy photos, a family with links, an activity."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

from PIL import ExifTags, Image, ImageCms
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from activities import services as activities
from core.extensions import db as _db
from courses import services as courses
from courses.links import issue_personal_link
from tests.fixtures.services import need_program

GPS = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (52.0, 22.0, 12.5),
       ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (4.0, 53.0, 6.0)}


def photo_with_gps(size=(800, 600)) -> bytes:
    """A JPEG with GPS, camera and orientation EXIF (rotate 90° on display), an ICC profile and a comment."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(GPS)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    Image.new("RGB", size, (230, 120, 30)).save(out, "JPEG", exif=exif.tobytes(), icc_profile=icc,
                                                comment=b"taken at home")
    return out.getvalue()


def noisy_photo(min_bytes: int) -> bytes:
    """A JPEG of random noise (which hardly compresses) of at least `min_bytes`."""
    width, height = 3300, 2500
    while True:
        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=100, subsampling=0)
        if out.tell() >= min_bytes:
            return out.getvalue()
        width, height = int(width * 1.2), int(height * 1.2)


def voice_webm(path: Path, seconds: float = 2) -> Path:
    """What Chrome's MediaRecorder makes: Opus in WebM."""
    argv = [need_program("ffmpeg"), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
            f"sine=f=330:d={seconds}", "-c:a", "libopus", str(path)]
    subprocess.run(argv, check=True, timeout=60)
    return path


def make_family(course, create_course=None) -> dict:
    """Three parents of the course (nl e-mail, ar SMS, tr e-mail) with personal links; returns name -> (parent, token)."""
    family = {}
    for name, language, email, phone in (("Sanne", "nl", "sanne@example.org", None),
                                         ("Amal", "ar", None, "+31612345602"),
                                         ("Elif", "tr", "elif@example.org", None)):
        parent = courses.add_parent(name=name, language=language, email=email, phone=phone,
                                    contact_sms=phone is not None)
        courses.enrol(course, parent)
        token = f"{name.lower()}-link-" + "k" * 30
        issue_personal_link(parent, token=token)
        family[name] = (parent, token)
    _db.session.commit()
    return family


def make_activity(course, *, kinds=("photo", "clip", "voice", "text"), title="Samen voorlezen", **values):
    """A committed home activity of the course asking for `kinds`."""
    values.setdefault("body", "Lees samen een prentenboek.")
    values.setdefault("request_text", "Stuur een foto van jullie leeshoek.")
    activity = activities.create_activity(course, title=title, session_id=values.pop("session_id", None),
                                          request_kinds=list(kinds), due_on=values.pop("due_on", None),
                                          translations=values.pop("translations", None), **values)
    _db.session.commit()
    return activity


def post_answer(client, token: str, activity, *, data: bytes | None = None, filename: str = "foto.jpg",
                text: str = "", key: str = "answer-key-" + "a" * 20, as_json: bool = False):
    """POST an answer like the page does (multipart; with Accept: application/json when `as_json`)."""
    form = {"client_key": key, "text": text}
    if data is not None:
        form["file"] = FileStorage(io.BytesIO(data), filename=filename)
    # Encoded in memory: the test client's own encoder spools large bodies to a temp file it never closes.
    boundary, body = encode_multipart(MultiDict(form))
    headers = {"Accept": "application/json"} if as_json else {}
    return client.post(f"/p/{token}/activities/{activity.id}", data=body, headers=headers,
                       content_type=f"multipart/form-data; boundary={boundary}")


def all_objects(storage) -> list[str]:
    """Every key in the storage."""
    return storage.list("")
