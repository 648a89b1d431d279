"""Property tests (hypothesis) for the parents' CSV import: random files never crash it and never half-import.

Rows mix good values with junk: NUL and control characters, quotes and delimiters inside cells, names longer
than the column, bad addresses and numbers, unknown languages, ragged rows, stray bytes. The import either takes
every row or, with a plain message, none; through the pages the answer is a 200, 302 or 400, never a 500.
"""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courses import imports, services
from courses.models import Enrolment, Parent
from courses.services import CourseError

HEADERS = ["naam;e-mail;telefoon;taal", "name,email,phone,language", "Naam;E-mailadres;Mobiel", "naam,telefoon",
           "e-mail;taal", "", "naam;naam;email", "\x00;;"]
JUNK = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
NAME = st.one_of(st.sampled_from(["Sanne", "Amal Haddad", "Elif Yılmaz", "Ouder \"Aap\"", "de Vries; Jan"]), JUNK,
                 st.text(min_size=201, max_size=260), st.just("Sa\x00nne"))
EMAIL = st.one_of(st.integers(1, 50).map(lambda i: f"ouder{i}@example.org"), st.just(""), JUNK,
                  st.just("a" * 300 + "@example.org"))
PHONE = st.one_of(st.integers(10000000, 10000050).map(lambda i: f"06{i}"), st.just(""), JUNK)
LANGUAGE = st.sampled_from(["", "nl", "en", "ar", "tr", "NL", "fr", "x" * 30])
ROW = st.one_of(st.tuples(NAME, EMAIL, PHONE, LANGUAGE).map(list), st.lists(JUNK, max_size=6))
#: Rows a trainer's spreadsheet really holds: any letters, quotes and delimiters in names, an address or a number.
GOOD_NAME = st.text(st.characters(categories=("L", "Zs", "Pd", "Po")), min_size=1, max_size=60).filter(str.strip)
GOOD_ROW = st.tuples(GOOD_NAME, st.integers(1, 50), st.booleans(), st.sampled_from(["", "nl", "ar", "TR"])).map(
    lambda r: [r[0], f"ouder{r[1]}@example.org" if r[2] else "", "" if r[2] else f"06{10000000 + r[1]}", r[3]])


@st.composite
def csv_files(draw) -> bytes:
    """A parents file: a good one (now and then with one bad row), or junk headers and rows; stray bytes at times."""
    delimiter = draw(st.sampled_from([";", ","]))
    if draw(st.booleans()):
        header = "naam;e-mail;telefoon;taal".replace(";", delimiter)
        rows = draw(st.lists(GOOD_ROW, min_size=1, max_size=25))
        if draw(st.integers(0, 3)) == 0:
            rows.insert(draw(st.integers(0, len(rows))), draw(ROW))
    else:
        header = draw(st.one_of(st.sampled_from(HEADERS), JUNK)).replace(";", delimiter).replace(",", delimiter)
        rows = draw(st.lists(ROW, max_size=25))
    lines = [header, *(delimiter.join(_quote(cell, delimiter) for cell in row) for row in rows)]
    data = ("\ufeff" if draw(st.booleans()) else "") + "\r\n".join(lines) + "\r\n"
    raw = data.encode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        raw += draw(st.binary(min_size=1, max_size=20))  # e.g. a file saved in the wrong encoding
    return raw


def _quote(cell: str, delimiter: str) -> str:
    return f'"{cell.replace(chr(34), chr(34) * 2)}"' if any(c in cell for c in (delimiter, '"', "\n", "\r")) else cell


def _counts(db) -> tuple[int, int]:
    return db.session.query(Parent).count(), db.session.query(Enrolment).count()


FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(raw=csv_files())
def test_import_of_a_random_file_takes_every_good_row_or_nothing(db, course, raw):
    before = _counts(db)
    try:
        rows = imports.import_parents(course, raw)
        db.session.flush()
    except CourseError:
        db.session.rollback()  # as the view does
        assert _counts(db) == before
        return
    try:
        enrolled = {e.parent_id for e in course.enrolments}
        good = [r for r in rows if not r.error]
        assert good
        assert all(services.find_parent(course.organisation_id, email=r.data.email, phone=r.data.phone).id in enrolled
                   for r in good)
    finally:
        db.session.rollback()  # the service only flushed; the next example starts from the same database


@pytest.mark.parametrize("raw", [
    b"naam;e-mail\n" + b"x" * 200_000 + b";a@example.org\n",  # a field longer than the csv module allows
    b"naam;e-mail\n" + ("S" * 201).encode() + b";a@example.org\n",  # longer than the name column
    b"naam;e-mail\nSa\x00nne;a@example.org\n",  # NUL: PostgreSQL text cannot hold it
    b"naam;e-mail\n\"Sanne;a@example.org\n",  # a quote never closed
    b"\xff\xfe" + "naam;e-mail\nSanne;a@example.org\n".encode("utf-16-le"),  # UTF-16
])
def test_import_of_files_that_used_to_crash_is_refused_plainly(db, course, raw):
    before = _counts(db)

    with pytest.raises(CourseError):
        imports.import_parents(course, raw)
    db.session.rollback()

    assert _counts(db) == before


@pytest.fixture
def logged_in(auth, trainer):
    auth.login(trainer.email)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=csv_files())
def test_import_pages_answer_a_random_file_without_a_500_and_never_half_import(client, db, course, logged_in, raw):
    preview = client.post(f"/courses/{course.id}/import", data={"file": (io.BytesIO(raw), "ouders.csv")},
                          content_type="multipart/form-data")
    payload = re.search(r'name="payload" type="hidden" value="([^"]+)"', preview.get_data(as_text=True))
    confirm = client.post(f"/courses/{course.id}/import/confirm", data={"payload": payload[1]}) if payload else None

    db.session.expire_all()
    assert preview.status_code in (200, 400)
    assert confirm is None or confirm.status_code == 302
    assert db.session.query(Parent).filter(~Parent.enrolments.any()).count() == 0  # no parent without its enrolment
