"""core.sms: the HTTP gateway against a loopback stub, error classification, segment counting, transports."""

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask

from core.sms import (
    HttpSmsTransport,
    LogSmsTransport,
    MemorySmsTransport,
    SmsError,
    SmsMessage,
    get_sms_transport,
    send_sms,
    sms_segments,
)

NUMBER = "+31612345678"


class GatewayStub(ThreadingHTTPServer):
    """A loopback HTTP server that records each POST and answers with `status`."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), GatewayHandler)
        self.requests: list[tuple[str, str | None, str | None, dict]] = []
        self.status = 202

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1/sms"


class GatewayHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = (self.headers.get("Authorization"), self.headers.get("Content-Type"))
        self.server.requests.append((self.path, *headers, json.loads(body)))
        reply = b'{"error": "stub says no"}' if self.server.status >= 400 else b'{"id": "msg-1"}'
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format, *args):
        pass  # keep pytest output clean


@pytest.fixture
def gateway():
    stub = GatewayStub()
    thread = threading.Thread(target=stub.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        stub.shutdown()
        stub.server_close()
        thread.join()


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_http_sms_transport_posts_json_with_bearer_token(gateway):
    transport = HttpSmsTransport(gateway.url, "gw-token", "Ouderkamer", timeout=5)

    transport.send(SmsMessage(NUMBER, "Morgen om 9:00 de ouderkamer: https://ok.test/j/abc"))

    assert gateway.requests == [
        (
            "/v1/sms",
            "Bearer gw-token",
            "application/json",
            {
                "to": NUMBER,
                "from": "Ouderkamer",
                "text": "Morgen om 9:00 de ouderkamer: https://ok.test/j/abc",
            },
        )
    ]


def test_http_sms_transport_message_sender_overrides_default(gateway):
    transport = HttpSmsTransport(gateway.url, "gw-token", "Ouderkamer", timeout=5)

    transport.send(SmsMessage(NUMBER, "مرحبا", sender="+3197010000000"))

    assert [body for *_, body in gateway.requests] == [
        {"to": NUMBER, "from": "+3197010000000", "text": "مرحبا"}
    ]


@pytest.mark.parametrize(
    ("status", "transient"), [(500, True), (503, True), (429, True), (400, False), (401, False), (422, False)]
)
def test_http_sms_transport_error_status_sets_transient(gateway, status, transient):
    gateway.status = status
    transport = HttpSmsTransport(gateway.url, "gw-token", "Ouderkamer", timeout=5)

    with pytest.raises(SmsError) as caught:
        transport.send(SmsMessage(NUMBER, "Hallo"))

    assert (caught.value.transient, caught.value.status) == (transient, status)
    assert str(caught.value) == f'SMS gateway replied {status}: {{"error": "stub says no"}}'


def test_http_sms_transport_unreachable_is_transient():
    transport = HttpSmsTransport(
        f"http://127.0.0.1:{closed_port()}/v1/sms", "gw-token", "Ouderkamer", timeout=2
    )

    with pytest.raises(SmsError) as caught:
        transport.send(SmsMessage(NUMBER, "Hallo"))

    assert (caught.value.transient, caught.value.status) == (True, None)


@pytest.mark.parametrize("number", ["0612345678", "+0612345678", "+31 6 12345678", "+3161"])
def test_sms_message_rejects_non_e164_number(number):
    with pytest.raises(SmsError) as caught:
        SmsMessage(number, "Hallo")

    assert caught.value.transient is False


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("Ç Ö Ü ö ü é à ñ", 1),  # all in the GSM-7 basic table
        ("€" * 80, 1),  # extension characters cost two septets
        ("€" * 81, 2),
        ("a" * 152 + "€" + "a" * 152, 3),  # 306 septets, but an escape pair is never split across parts
        ("ş" * 70, 1),  # Turkish ş, ğ, ı are not GSM-7: UCS-2
        ("a" * 159 + "ğ", 3),
        ("ı" * 71, 2),
        ("ş" * 134, 2),
        ("ş" * 135, 3),
        ("مرحبا بكم في ورشة الوالدين", 1),
        ("م" * 71, 2),
        ("😀" * 35, 1),  # a surrogate pair is two UTF-16 code units
        ("😀" * 36, 2),
    ],
)
def test_sms_segments_counts_parts(text, segments):
    assert sms_segments(text) == segments


def test_log_sms_transport_logs_message(caplog):
    caplog.set_level(logging.INFO, logger="ouderkamer.sms")

    LogSmsTransport("Ouderkamer").send(SmsMessage(NUMBER, "Yarın görüşürüz"))

    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        (
            "ouderkamer.sms",
            f"sms (not sent: no SMS_GATEWAY_URL)\nTo: {NUMBER}\nFrom: Ouderkamer\nSegments: 1\n\nYarın görüşürüz",
        )
    ]


def make_app(**config):
    app = Flask(__name__)
    app.config.update(config)
    return app


@pytest.mark.parametrize(
    ("config", "kind"),
    [
        ({}, LogSmsTransport),
        ({"SMS_GATEWAY_URL": "https://sms.test/v1/sms", "SMS_GATEWAY_TOKEN": "t"}, HttpSmsTransport),
        ({"SMS_TRANSPORT": "memory"}, MemorySmsTransport),
    ],
)
def test_get_sms_transport_follows_config(config, kind):
    with make_app(**config).app_context():
        transport = get_sms_transport()

        assert type(transport) is kind
        assert get_sms_transport() is transport


def test_get_sms_transport_http_settings_from_config():
    config = {
        "SMS_GATEWAY_URL": "https://sms.test/v1/sms",
        "SMS_GATEWAY_TOKEN": "t",
        "SMS_SENDER": "Ouderkamer",
    }

    with make_app(**config).app_context():
        transport = get_sms_transport()

    assert (transport.url, transport.token, transport.sender) == (
        "https://sms.test/v1/sms",
        "t",
        "Ouderkamer",
    )


def test_send_sms_memory_transport_records_message():
    message = SmsMessage(NUMBER, "Hallo")

    with make_app(SMS_TRANSPORT="memory").app_context():
        send_sms(message)
        outbox = get_sms_transport().outbox

    assert outbox == [message]
