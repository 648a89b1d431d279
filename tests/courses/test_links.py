"""Personal links: issue, look up, revoke, re-issue; wrong links look exactly like unknown ones."""

from __future__ import annotations

import re

import pytest

from core.mail import get_mail_transport
from core.tokens import hash_token
from courses import links
from tests.core.test_sms_twilio import twilio, twilio_config  # noqa: F401 - fixture

pytestmark = pytest.mark.unit


def test_issue_personal_link_stores_only_the_hash(db, create_parent, create_link):
    parent = create_parent()

    token, url = create_link(parent, "a-known-token-" + "x" * 30)

    assert url == "http://ouderkamer.test/p/a-known-token-" + "x" * 30
    assert parent.link_token_hash == hash_token(token)
    assert parent.link_issued_at is not None
    assert links.find_parent_by_token(token).id == parent.id


def test_issue_personal_link_without_token_is_long_and_random(db, create_parent, create_link):
    parent = create_parent()

    first, _ = create_link(parent)
    second, _ = create_link(parent)

    assert len(first) >= 43
    assert first != second


def test_find_parent_by_token_unknown_is_none(db, create_parent, create_link):
    create_link(create_parent())

    assert links.find_parent_by_token("not-a-real-token") is None


def test_revoke_access_stops_the_lookup(db, create_parent, create_link):
    parent = create_parent()
    token, _ = create_link(parent)

    links.revoke_access(parent)
    db.session.commit()

    assert parent.link_token_hash is None
    assert links.find_parent_by_token(token) is None


def test_reissued_link_old_token_gets_404(db, client, create_parent, create_link, course):
    parent = create_parent(course=course)
    old, _ = create_link(parent)

    new, _ = create_link(parent)

    assert client.get(f"/p/{old}").status_code == 404
    assert client.get(f"/p/{new}").status_code == 200


def test_wrong_and_revoked_links_get_the_same_404_as_unknown(db, client, create_parent, create_link, course):
    parent = create_parent(course=course)
    token, _ = create_link(parent)
    revoked_parent = create_parent("Ahmed", course=course, email="ahmed@example.org")
    revoked, _ = create_link(revoked_parent)
    links.revoke_access(revoked_parent)
    db.session.commit()

    paths = ["/p/" + "u" * 43, f"/p/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}", f"/p/{revoked}"]

    responses = [client.get(path) for path in paths]

    # The page repeats its own path (the language switch's `next`) and a CSRF token signed with the current second,
    # so compare with both taken out.
    bodies = {re.sub(r'name="csrf_token" value="[^"]*"', "CSRF", r.get_data(as_text=True).replace(path, "PATH"))
              for r, path in zip(responses, paths)}
    assert [r.status_code for r in responses] == [404, 404, 404]
    assert len(bodies) == 1


def test_send_welcome_message_mails_the_link_in_the_parents_language(db, app, create_parent, course):
    from core.mail import get_mail_transport
    from core.sms import get_sms_transport

    parent = create_parent("Jan", course=course, language="en", email="jan@example.org")
    parent.phone = "+31612345678"
    if hasattr(parent, "contact_sms"):
        parent.contact_sms = True
    db.session.commit()

    url = links.send_welcome_message(parent)
    db.session.commit()

    outbox, sms_outbox = get_mail_transport().outbox, get_sms_transport().outbox
    assert [m["To"] for m in outbox] == ["jan@example.org"]
    assert outbox[0]["Content-Language"] == "en"
    assert url in outbox[0].get_body(("plain",)).get_content()
    assert url in outbox[0].get_body(("html",)).get_content()
    assert [(s.to_e164, url in s.text) for s in sms_outbox] == [("+31612345678", True)]
    assert links.find_parent_by_token(url.rsplit("/", 1)[1]).id == parent.id


def test_send_welcome_message_rolled_back_sends_nothing(db, app, create_parent, course):
    from core.mail import get_mail_transport

    parent = create_parent(course=course)

    links.send_welcome_message(parent)
    db.session.rollback()

    assert get_mail_transport().outbox == []


def test_welcome_sms_text_arabic_fits_two_segments(db, app, create_parent):
    from flask_babel import force_locale

    from core.sms import sms_segments
    from courses.tasks import welcome_sms_text

    parent = create_parent("مريم", language="ar")
    link = "http://ouderkamer.test/p/" + "x" * 43

    with app.test_request_context(), force_locale("ar"):
        text = welcome_sms_text(parent, link)

    assert link in text
    assert sms_segments(text) <= 2


def test_welcome_goes_out_once_per_channel_as_whatsapp_template(app, db, create_parent, course, twilio):  # noqa: F811
    parent = create_parent("Amina", course=course, language="ar", email="amina@example.org")
    parent.phone, parent.contact_whatsapp = "+31612345678", True
    db.session.commit()

    with twilio_config(app, twilio, WHATSAPP_TEMPLATES='{"welcome": {"ar": "HX' + "b" * 32 + '"}}'):
        url = links.send_welcome_message(parent)
        db.session.commit()

    (_path, _type, form), = twilio.requests
    assert (form["To"], form["ContentSid"], form["ContentVariables"]) == (
        "whatsapp:+31612345678", "HX" + "b" * 32, '{"1": "Amina", "2": "' + url + '"}')
    assert [m["To"] for m in get_mail_transport().outbox] == ["amina@example.org"]


def test_welcome_without_a_whatsapp_template_is_sent_as_an_sms_instead(app, db, create_parent, course, twilio):  # noqa: F811
    parent = create_parent("Elif", course=course, language="tr")
    parent.phone, parent.contact_whatsapp = "+31612345678", True
    db.session.commit()

    with twilio_config(app, twilio):
        url = links.send_welcome_message(parent)
        db.session.commit()

    (_path, _type, form), = twilio.requests
    assert (form["To"], "ContentSid" in form, url in form["Body"]) == ("+31612345678", False, True)
