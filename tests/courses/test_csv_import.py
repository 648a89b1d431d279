"""CSV import of parents: preview with an error per bad row, nothing imported until confirmed."""

import io
import re

import pytest

from courses import imports, services
from courses.models import Enrolment, Parent
from courses.services import CourseError

BAD_LINES = {12: "0612", 50: "not-a-phone", 99: "", 150: "", 201: "0612"}


def _rows(count: int = 200, *, bad: bool = False) -> list[str]:
    rows = []
    for i in range(1, count + 1):
        line = i + 1  # the header is line 1
        phone = f"06{10000000 + i}"
        email = f"ouder{i}@example.org"
        if bad and line in BAD_LINES:
            phone, email = BAD_LINES[line], ("" if BAD_LINES[line] == "" else email.replace("@", "#"))
        rows.append(f"Ouder {i};{email};{phone};nl")
    return rows


def _csv(rows: list[str], header: str = "naam;e-mail;telefoon;taal", *, bom: bool = True) -> bytes:
    return (("\ufeff" if bom else "") + "\r\n".join([header, *rows]) + "\r\n").encode("utf-8")


def _upload(client, course, data: bytes):
    return client.post(f"/courses/{course.id}/import", data={"file": (io.BytesIO(data), "ouders.csv")},
                       content_type="multipart/form-data")


def _payload(html: str) -> str:
    return re.search(r'name="payload" type="hidden" value="([^"]+)"', html).group(1)


def test_import_of_200_rows_with_5_bad_rows_lists_the_5_and_offers_the_195_good_ones(client, auth, trainer, course,
                                                                                      db):
    auth.login(trainer.email)

    response = _upload(client, course, _csv(_rows(bad=True)))

    html = response.get_data(as_text=True)
    assert html.count('class="error row-error-message"') == 5
    assert [int(n) for n in re.findall(r'<tr class="row-error">\s*<td>(\d+)</td>', html)] == sorted(BAD_LINES)
    assert "5 regels hebben een fout en worden overgeslagen" in html
    assert "195 ouders importeren" in html
    assert db.session.query(Parent).count() == 0  # the preview changes nothing


def test_confirming_a_file_with_bad_rows_imports_the_good_ones_and_welcomes_them(client, auth, trainer, course, db):
    from core import mail, sms

    auth.login(trainer.email)
    preview = _upload(client, course, _csv(_rows(bad=True)))

    response = client.post(f"/courses/{course.id}/import/confirm",
                           data={"payload": _payload(preview.get_data(as_text=True))})

    assert response.status_code == 302
    assert len(services.course_parents(course)) == 195
    welcomed = len(mail.get_mail_transport().outbox) + len(sms.get_sms_transport().outbox)
    assert welcomed == 195


def test_import_after_fixing_the_file_imports_200_parents_on_confirm(client, auth, trainer, course, db):
    auth.login(trainer.email)
    _upload(client, course, _csv(_rows(bad=True)))

    preview = _upload(client, course, _csv(_rows()))
    before = db.session.query(Parent).count()
    response = client.post(f"/courses/{course.id}/import/confirm",
                           data={"payload": _payload(preview.get_data(as_text=True))})

    assert before == 0
    assert response.headers["Location"] == f"/courses/{course.id}"
    assert len(services.course_parents(course)) == 200
    assert db.session.query(Parent).filter(Parent.name == "Ouder 7").one().phone == "+31610000007"


def test_import_confirm_with_a_tampered_payload_is_refused(client, auth, trainer, course, db):
    auth.login(trainer.email)
    payload = _payload(_upload(client, course, _csv(_rows(3))).get_data(as_text=True))

    response = client.post(f"/courses/{course.id}/import/confirm", data={"payload": payload[:-2] + "xx"})

    assert response.status_code == 400
    assert db.session.query(Parent).count() == 0


def test_import_confirm_for_another_course_is_refused(client, auth, trainer, course, create_course, db):
    other = create_course("Tweede groep")
    auth.login(trainer.email)
    payload = _payload(_upload(client, course, _csv(_rows(3))).get_data(as_text=True))

    response = client.post(f"/courses/{other.id}/import/confirm", data={"payload": payload})

    assert response.status_code == 400
    assert db.session.query(Enrolment).count() == 0


def test_read_csv_accepts_commas_without_bom_and_english_headers(db):
    raw = _csv(["Sanne,sanne@example.org,,en", '"Vries, de",,0612345678,'], "name,email,phone,language", bom=False)

    rows = imports.read_csv(raw)

    assert rows == [{"line": 2, "name": "Sanne", "email": "sanne@example.org", "phone": "", "language": "en"},
                    {"line": 3, "name": "Vries, de", "email": "", "phone": "0612345678", "language": ""}]


def test_read_csv_without_a_header_row_is_refused(db):
    with pytest.raises(CourseError) as caught:
        imports.read_csv(b"Sanne;sanne@example.org;;nl\r\n")

    assert caught.value.field == "file"


def test_read_csv_in_another_encoding_asks_for_utf8(db):
    with pytest.raises(CourseError) as caught:
        imports.read_csv("naam;e-mail\r\nJosé;jose@example.org\r\n".encode("cp1252"))

    assert str(caught.value.message) == "Sla het bestand op als CSV UTF-8."


def test_import_handles_duplicates_in_the_file_and_with_known_parents(db, course, create_parent):
    known = create_parent("Sanne", email="sanne@example.org")
    raw = _csv(["Sanne V.;SANNE@example.org;;nl", "Elif;;0612345678;tr", "Elif Y.;elif@example.org;+31612345678;tr"])

    checked = imports.check_import(course, raw)
    imports.import_parents(course, raw)

    assert [r.status for r in checked] == ["existing", "new", "repeat"]
    assert db.session.query(Parent).count() == 2
    assert [p.name for p in services.course_parents(course)] == ["Elif", "Sanne"]
    assert known.enrolments[0].course_id == course.id


def test_import_parents_keeps_the_good_rows_and_returns_the_bad_one(db, course):
    raw = _csv(["Sanne;sanne@example.org;;nl", "Elif;;0612;tr"])

    rows = imports.import_parents(course, raw)

    assert [(r.values["name"], bool(r.error)) for r in rows] == [("Sanne", False), ("Elif", True)]
    assert [p.name for p in services.course_parents(course)] == ["Sanne"]


def test_a_file_with_only_bad_rows_imports_nothing(db, course):
    with pytest.raises(CourseError):
        imports.import_parents(course, _csv(["Elif;;0612;tr"]))

    assert db.session.query(Parent).count() == 0


def test_a_phone_only_parent_gets_sms_and_the_channels_and_consent_columns_count(db, course):
    raw = (b"naam;e-mail;telefoon;taal;kanalen;toestemming\r\nAmina;;0612345678;ar;;\r\n"
           b"Elif;elif@example.org;0612345679;tr;email whatsapp;ja\r\n")

    imports.import_parents(course, raw)

    by_name = {p.name: p for p in services.course_parents(course)}
    assert by_name["Amina"].channels == ["sms"] and not by_name["Amina"].consent_recording
    assert by_name["Elif"].channels == ["email", "whatsapp"] and by_name["Elif"].consent_recording


def test_a_new_parent_without_a_channel_is_flagged_in_the_preview(client, auth, trainer, course, db):
    auth.login(trainer.email)
    raw = b"naam;e-mail;telefoon;kanalen\r\nAmina;;0612345678;email\r\n"

    html = _upload(client, course, raw).get_data(as_text=True)

    assert "niet te bereiken" in html and 'id="import-unreachable"' in html


def test_the_template_file_imports_as_it_is(client, auth, trainer, course, db):
    auth.login(trainer.email)

    template = client.get(f"/courses/{course.id}/import/template.csv")
    rows = imports.check_import(course, template.data)

    assert template.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert [r.error for r in rows] == [None, None, None]


def test_the_preview_says_who_gets_what_on_which_channel(client, auth, trainer, course, db, create_parent):
    create_parent("Sanne", course=course, email="sanne@example.org")
    auth.login(trainer.email)
    raw = (b"naam;e-mail;telefoon;kanalen\r\nSanne;sanne@example.org;;\r\nAmina;;0612345678;whatsapp sms\r\n"
           b"Elif;elif@example.org;;\r\nNoor;;0612345679;email\r\n")

    html = _upload(client, course, raw).get_data(as_text=True)

    cells = re.findall(r'<td class="import-channels" data-channels="([^"]*)">(.*?)</td>', html)
    assert cells == [("email", "berichten via e-mail"), ("sms whatsapp", "welkom via sms, WhatsApp"),
                     ("email", "welkom via e-mail"),
                     ("", '<span class="error">niet te bereiken: vul een e-mailadres in of kies sms</span>')]
