"""core.sms TwilioTransport against a loopback server that keeps Twilio's Messages API contract; WhatsApp
templates, their setting, and the phone-channel helper."""

import base64
import json
import logging
import socket
import threading
import uuid
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
from flask import Flask

from core import sms
from core.config import ConfigError, read_settings, validate
from core.sms import (
    MemorySmsTransport,
    MissingTemplateError,
    SmsError,
    SmsMessage,
    TwilioTransport,
    WhatsAppMessage,
    get_sms_transport,
    parse_whatsapp_templates,
    send_to_phone,
)

NUMBER = "+31612345678"
ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "stub-auth-token"
TOO_MANY = (429, {"code": 20429, "message": "Too Many Requests", "status": 429,
                  "more_info": "https://www.twilio.com/docs/errors/20429"})
BAD_NUMBER = (400, {"code": 21211, "message": f"Invalid 'To' Phone Number: {NUMBER}", "status": 400,
                    "more_info": "https://www.twilio.com/docs/errors/21211"})


class TwilioStub(ThreadingHTTPServer):
    """Twilio's Messages API on loopback: basic auth, form fields and replies as Twilio gives them.

    `requests` records every authenticated POST as (path, content type, form); `replies` are answered first
    (status, JSON body), then each valid message gets 201 with a new `SM…` sid. `hold`, when set to an Event,
    makes the server wait for it before answering.
    """

    def __init__(self):
        super().__init__(("127.0.0.1", 0), TwilioHandler)
        self.requests: list[tuple[str, str, dict]] = []
        self.replies: list[tuple[int, dict]] = []
        self.hold: threading.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


def _twilio_error(status: int, code: int, message: str) -> tuple[int, dict]:
    return status, {"code": code, "message": message, "status": status,
                    "more_info": f"https://www.twilio.com/docs/errors/{code}"}


class TwilioHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        server: TwilioStub = self.server
        form = dict(parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode(), keep_blank_values=True))
        expected_auth = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        if self.headers.get("Authorization") != expected_auth:
            return self._reply(*_twilio_error(401, 20003, "Authenticate"))
        if self.path != f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json":
            return self._reply(*_twilio_error(404, 20404, "The requested resource was not found"))
        server.requests.append((self.path, self.headers.get("Content-Type"), form))
        if server.hold is not None:
            server.hold.wait(10)
        if server.replies:
            return self._reply(*server.replies.pop(0))
        return self._reply(*self._accept(form))

    @staticmethod
    def _accept(form: dict) -> tuple[int, dict]:
        if not form.get("To"):
            return _twilio_error(400, 21604, "A 'To' phone number is required.")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return _twilio_error(400, 21603, "A 'From' phone number is required.")
        if not (form.get("Body") or form.get("ContentSid")):
            return _twilio_error(400, 21602, "Message body is required.")
        return 201, {"sid": "SM" + uuid.uuid4().hex, "status": "queued", "to": form["To"], "from": form.get("From"),
                     "body": form.get("Body", "")}

    def _reply(self, status: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def twilio():
    stub = TwilioStub()
    thread = threading.Thread(target=stub.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        if stub.hold is not None:
            stub.hold.set()
        stub.shutdown()
        stub.server_close()
        thread.join()


@contextmanager
def twilio_config(app, stub: TwilioStub, **extra):
    """Point the app's SMS transport at the stub for the block."""
    values = {"SMS_TRANSPORT": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN,
              "TWILIO_API_URL": stub.url, "SMS_SENDER": "Ouderkamer", "WHATSAPP_FROM": "+3197010000000", **extra}
    saved = {key: app.config.get(key) for key in values}
    app.config.update(values)
    app.extensions.pop("ouderkamer.sms", None)
    try:
        yield
    finally:
        app.config.update(saved)
        app.extensions.pop("ouderkamer.sms", None)


def transport(stub: TwilioStub, **options) -> TwilioTransport:
    options = {"sender": "Ouderkamer", "whatsapp_from": "+3197010000000", "api_url": stub.url, "timeout": 5,
               **options}
    return TwilioTransport(ACCOUNT, TOKEN, **options)


def test_sms_is_a_form_post_with_basic_auth_and_returns_twilios_sid(twilio):
    sid = transport(twilio).send(SmsMessage(NUMBER, "Morgen om 9:00 de ouderkamer"))

    assert sid.startswith("SM") and len(sid) == 34
    assert twilio.requests == [(f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json", "application/x-www-form-urlencoded",
                                {"To": NUMBER, "From": "Ouderkamer", "Body": "Morgen om 9:00 de ouderkamer"})]


def test_messaging_service_replaces_the_sender(twilio):
    transport(twilio, messaging_service_sid="MG" + "1" * 32).send(SmsMessage(NUMBER, "Hallo"))

    assert [form for *_, form in twilio.requests] == [
        {"To": NUMBER, "Body": "Hallo", "MessagingServiceSid": "MG" + "1" * 32}]


def test_whatsapp_is_sent_as_a_template_with_whatsapp_addresses(twilio):
    variables = {"1": "أمينة", "2": "Voorlezen", "3": "https://ouderkamer.test/r/1/2/abc/yes"}

    transport(twilio).send(WhatsAppMessage(NUMBER, "HX" + "a" * 32, variables))

    (_path, _type, form), = twilio.requests
    assert {k: v for k, v in form.items() if k != "ContentVariables"} == {
        "To": f"whatsapp:{NUMBER}", "From": "whatsapp:+3197010000000", "ContentSid": "HX" + "a" * 32}
    assert json.loads(form["ContentVariables"]) == variables


def test_whatsapp_without_a_sender_fails_before_any_request(twilio):
    with pytest.raises(SmsError) as caught:
        transport(twilio, whatsapp_from=None).send(WhatsAppMessage(NUMBER, "HX1", {}))

    assert (caught.value.transient, caught.value.reason, twilio.requests) == (False, sms.SETUP, [])


def test_429_is_transient_and_the_retry_is_sent(twilio):
    twilio.replies.append(TOO_MANY)
    adapter = transport(twilio)

    with pytest.raises(SmsError) as caught:
        adapter.send(SmsMessage(NUMBER, "Hallo"))
    sid = adapter.send(SmsMessage(NUMBER, "Hallo"))

    assert (caught.value.transient, caught.value.status, caught.value.code) == (True, 429, 20429)
    assert sid.startswith("SM")
    assert len(twilio.requests) == 2


def test_400_is_permanent_and_keeps_twilios_code_and_message(twilio):
    twilio.replies.append(BAD_NUMBER)

    with pytest.raises(SmsError) as caught:
        transport(twilio).send(SmsMessage(NUMBER, "Hallo"))

    error = caught.value
    assert (error.transient, error.status, error.code, error.reason) == (False, 400, 21211, sms.REFUSED)
    assert str(error) == f"Twilio replied 400 error 21211: Invalid 'To' Phone Number: {NUMBER}"


def test_wrong_credentials_are_a_setup_problem(twilio):
    adapter = TwilioTransport(ACCOUNT, "wrong-token", sender="Ouderkamer", api_url=twilio.url, timeout=5)

    with pytest.raises(SmsError) as caught:
        adapter.send(SmsMessage(NUMBER, "Hallo"))

    assert (caught.value.transient, caught.value.status, caught.value.code, caught.value.reason) == (
        False, 401, 20003, sms.SETUP)
    assert twilio.requests == []


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient(twilio, status):
    twilio.replies.append(_twilio_error(status, 20500, "Internal Server Error"))

    with pytest.raises(SmsError) as caught:
        transport(twilio).send(SmsMessage(NUMBER, "Hallo"))

    assert (caught.value.transient, caught.value.status) == (True, status)


def test_unreachable_api_is_transient():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = TwilioTransport(ACCOUNT, TOKEN, sender="Ouderkamer", api_url=f"http://127.0.0.1:{port}", timeout=2)

    with pytest.raises(SmsError) as caught:
        adapter.send(SmsMessage(NUMBER, "Hallo"))

    assert (caught.value.transient, caught.value.status) == (True, None)


def test_no_answer_after_sending_is_not_retried_because_it_may_have_arrived(twilio):
    twilio.hold = threading.Event()

    with pytest.raises(SmsError) as caught:
        transport(twilio, timeout=0.5).send(SmsMessage(NUMBER, "Hallo"))

    assert (caught.value.transient, caught.value.reason) == (False, sms.UNCERTAIN)
    assert len(twilio.requests) == 1


def make_app(**config):
    app = Flask(__name__)
    app.config.update(config)
    return app


def test_config_chooses_twilio_with_its_settings():
    config = {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN, "SMS_SENDER": "Ouderkamer",
              "TWILIO_MESSAGING_SERVICE_SID": "MG1", "WHATSAPP_FROM": "+3197010000000",
              "TWILIO_API_URL": "https://twilio.test/"}

    with make_app(**config).app_context():
        adapter = get_sms_transport()

    assert type(adapter) is TwilioTransport
    assert (adapter.url, adapter.sender, adapter.messaging_service_sid, adapter.whatsapp_from) == (
        f"https://twilio.test/2010-04-01/Accounts/{ACCOUNT}/Messages.json", "Ouderkamer", "MG1", "+3197010000000")


def test_whatsapp_templates_read_from_json_text_or_a_file(tmp_path):
    text = '{"reminder": {"nl": "HX1", "ar": " HX2 "}, "recording_ready": {"nl": "HX3"}}'
    path = tmp_path / "templates.json"
    path.write_text(text)

    expected = {("reminder", "nl"): "HX1", ("reminder", "ar"): "HX2", ("recording_ready", "nl"): "HX3"}
    assert parse_whatsapp_templates(text) == expected
    assert parse_whatsapp_templates(str(path)) == expected
    assert parse_whatsapp_templates(None) == {}


@pytest.mark.parametrize(("env", "named"), [
    ({"SMS_TRANSPORT": "twilio"}, "TWILIO_ACCOUNT_SID"),
    ({"TWILIO_ACCOUNT_SID": ACCOUNT}, "TWILIO_AUTH_TOKEN"),
    ({"TWILIO_AUTH_TOKEN": TOKEN}, "TWILIO_ACCOUNT_SID"),
    ({"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_API_URL": "ftp://x"}, "TWILIO_API_URL"),
    ({"WHATSAPP_FROM": "06 12345678"}, "WHATSAPP_FROM"),
    ({"WHATSAPP_TEMPLATES": '{"reminder": "HX1"}'}, "WHATSAPP_TEMPLATES"),
    ({"WHATSAPP_TEMPLATES": '{"reminder": {"nl": ""}}'}, "WHATSAPP_TEMPLATES"),
    ({"WHATSAPP_TEMPLATES": "/no/such/templates.json"}, "WHATSAPP_TEMPLATES"),
])
def test_bad_twilio_or_whatsapp_setting_is_refused_by_name(env, named):
    with pytest.raises(ConfigError) as caught:
        validate(read_settings(env))

    assert caught.value.setting == named


def test_complete_twilio_setup_is_accepted():
    env = {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN, "WHATSAPP_FROM": "+3197010000000",
           "WHATSAPP_TEMPLATES": '{"reminder": {"nl": "HX1"}}'}

    assert validate(read_settings(env)) is None


def test_send_to_phone_sends_the_template_of_the_parents_language():
    app = make_app(SMS_TRANSPORT="memory", WHATSAPP_TEMPLATES='{"reminder": {"tr": "HX-tr"}}')

    with app.app_context():
        send_to_phone("whatsapp", NUMBER, text="unused", kind="reminder", language="tr", variables={"1": "Fatma"})
        send_to_phone("sms", NUMBER, text="Yarın", kind="reminder", language="tr", variables={})
        outbox = get_sms_transport().outbox

    assert outbox == [WhatsAppMessage(NUMBER, "HX-tr", {"1": "Fatma"}), SmsMessage(NUMBER, "Yarın")]


def test_send_to_phone_without_a_template_for_the_language_raises_a_clear_error():
    app = make_app(SMS_TRANSPORT="memory", WHATSAPP_TEMPLATES='{"reminder": {"nl": "HX-nl"}}')

    with app.app_context(), pytest.raises(MissingTemplateError) as caught:
        send_to_phone("whatsapp", NUMBER, text="", kind="reminder", language="ar", variables={})

    assert (caught.value.transient, caught.value.reason) == (False, sms.SETUP)
    assert str(caught.value) == "no WhatsApp template for 'reminder' in language 'ar' (WHATSAPP_TEMPLATES)"


def test_log_transport_logs_a_whatsapp_template(caplog):
    caplog.set_level(logging.INFO, logger="ouderkamer.sms")

    sms.LogSmsTransport("Ouderkamer").send(WhatsAppMessage(NUMBER, "HX1", {"1": "Ayşe"}))

    assert [r.getMessage() for r in caplog.records] == [
        f'whatsapp (not sent: SMS_TRANSPORT is log)\nTo: {NUMBER}\nTemplate: HX1\nVariables: {{"1": "Ayşe"}}']


def test_generic_gateway_refuses_whatsapp_as_a_setup_problem():
    with pytest.raises(SmsError) as caught:
        sms.HttpSmsTransport("https://sms.test/v1", "t", "Ouderkamer").send(WhatsAppMessage(NUMBER, "HX1", {}))

    assert (caught.value.transient, caught.value.reason) == (False, sms.SETUP)


def test_memory_transport_keeps_whatsapp_messages():
    memory = MemorySmsTransport()

    memory.send(WhatsAppMessage(NUMBER, "HX1", {"1": "x"}))

    assert memory.outbox == [WhatsAppMessage(NUMBER, "HX1", {"1": "x"})]
