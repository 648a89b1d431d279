"""The JaaS download guard on the webhook path: only https links on JAAS_DOWNLOAD_HOSTS that resolve to public
addresses are fetched, from the checked address, and redirects to other hosts are refused.

"DNS" is a stand-in for socket.getaddrinfo and "the internet" a stand-in for urllib3's create_connection that
sends connections for the one public test address to a loopback TLS server with a certificate for HOST.
"""

import datetime
import hashlib
import json
import logging
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests.adapters
import urllib3.util.connection
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.jitsi import jaas_signature
from core.storage import get_storage
from recordings.models import Recording, RecordingState

SECRET = "whsec-test-secret"
HOST = "recordings.jaas.test"
PUBLIC_ADDRESS = "93.184.216.34"
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 100
REFUSED_MESSAGE = ("De downloadlink van JaaS wijst niet naar een toegestane JaaS-server en is niet gebruikt. "
                   "Download de opname zelf en upload hem hier.")
REAL_GETADDRINFO = socket.getaddrinfo
REAL_CREATE_CONNECTION = urllib3.util.connection.create_connection


def _certificates(tmp_path):
    """A test CA and a server certificate for HOST signed by it; returns (ca file, cert file, key file)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ouderkamer test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
    files[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return files


class LinkHandler(BaseHTTPRequestHandler):
    """/ok.mp4 serves VIDEO; /moved-away.mp4 and /moved-to-metadata.mp4 redirect to hosts that are not allowed."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.server.hits.append((self.path, self.headers.get("Host")))
        moves = {"/moved-away.mp4": "https://elsewhere.example/ok.mp4",
                 "/moved-to-metadata.mp4": "http://169.254.169.254/latest/meta-data/"}
        if self.path in moves:
            self.send_response(302)
            self.send_header("Location", moves[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(VIDEO)))
        self.end_headers()
        self.wfile.write(VIDEO)

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    ca_file, cert_file, key_file = _certificates(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), LinkHandler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.hits = []
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", str(ca_file))  # trust the test CA
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def dns(monkeypatch):
    """Answers for test names (set per test); other names resolve normally."""
    answers = {HOST: [PUBLIC_ADDRESS]}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def connections(monkeypatch, tls_server):
    """Every address urllib3 connects to; PUBLIC_ADDRESS:443 reaches the TLS server, anything else is refused."""
    made = []

    def create_connection(address, timeout=None, *args, **kwargs):
        made.append(address)
        if tuple(address) != (PUBLIC_ADDRESS, 443):
            raise ConnectionRefusedError(f"test network: nothing at {address}")
        return REAL_CREATE_CONNECTION(("127.0.0.1", tls_server.server_port), timeout, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    return made


@pytest.fixture
def jaas(app, monkeypatch, dns, connections):
    monkeypatch.setitem(app.config, "JAAS_WEBHOOK_SECRET", SECRET)
    monkeypatch.setitem(app.config, "JAAS_DOWNLOAD_HOSTS", HOST)
    monkeypatch.setitem(app.config, "JAAS_DOWNLOAD_ALLOW_PRIVATE", False)


@pytest.fixture
def workshop_session(create_workshop_session):
    return create_workshop_session(title="Samen spelen")


def deliver(client, workshop_session, link):
    payload = {"idempotencyKey": "7f1c2a9e-0000-4000-8000-00000000d001", "customerId": "c1",
               "appId": "vpaas-magic-cookie-abc", "eventType": "RECORDING_UPLOADED", "sessionId": "s1",
               "timestamp": int(time.time() * 1000), "fqn": f"vpaas-magic-cookie-abc/{workshop_session.room_name}",
               "data": {"preAuthenticatedLink": link, "durationSec": 60, "participants": []}}
    body = json.dumps(payload).encode()
    t = int(time.time())
    return client.post("/webhooks/jaas", data=body, headers={
        "Content-Type": "application/json", "X-Jaas-Signature": f"t={t},v1={jaas_signature(SECRET, t, body)}"})


def only_recording(db) -> Recording:
    db.session.expire_all()
    (recording,) = db.session.query(Recording).all()
    return recording


def test_jaas_https_link_on_allowed_host_downloads_from_the_checked_address(client, db, jaas, workshop_session,
                                                                            tls_server, connections, probes):
    response = deliver(client, workshop_session, f"https://{HOST}/ok.mp4?token=abc")

    recording = only_recording(db)
    digest = hashlib.sha256(VIDEO).hexdigest()
    assert response.get_json() == {"status": "accepted"}
    assert (recording.state, recording.original_sha256, recording.source_url) == (RecordingState.received, digest,
                                                                                  None)
    assert get_storage().verify(recording.original_key, size=len(VIDEO), sha256=digest).size == len(VIDEO)
    assert connections == [(PUBLIC_ADDRESS, 443)]
    assert tls_server.hits == [("/ok.mp4?token=abc", HOST)]


@pytest.mark.parametrize("link", [
    f"http://{HOST}/ok.mp4",
    "https://elsewhere.example/ok.mp4",
    "https://169.254.169.254/latest/meta-data/",
    f"https://{HOST}.elsewhere.example/ok.mp4",
])
def test_jaas_link_with_wrong_scheme_or_host_fails_without_any_connection(client, db, jaas, workshop_session,
                                                                         tls_server, connections, probes, caplog,
                                                                         link):
    caplog.set_level(logging.WARNING, logger="recordings.steps")

    response = deliver(client, workshop_session, link)

    recording = only_recording(db)
    assert response.get_json() == {"status": "accepted"}
    assert (recording.state, recording.failed_step, recording.error_message) == (
        RecordingState.failed, "downloading", REFUSED_MESSAGE)
    assert recording.original_key is None
    assert (connections, tls_server.hits, probes) == ([], [], [])
    assert "JaaS download link refused" in caplog.text


@pytest.mark.parametrize("addresses", [["127.0.0.1"], ["10.0.0.5"], ["169.254.169.254"], ["fd00:ec2::254"],
                                       [PUBLIC_ADDRESS, "192.168.1.10"]])
def test_jaas_link_whose_host_resolves_to_an_internal_address_fails_without_any_connection(
        client, db, jaas, dns, workshop_session, tls_server, connections, probes, addresses):
    dns[HOST] = addresses

    deliver(client, workshop_session, f"https://{HOST}/ok.mp4")

    recording = only_recording(db)
    assert (recording.state, recording.failed_step, recording.error_message) == (
        RecordingState.failed, "downloading", REFUSED_MESSAGE)
    assert (connections, tls_server.hits, probes) == ([], [], [])


@pytest.mark.parametrize("path", ["/moved-away.mp4", "/moved-to-metadata.mp4"])
def test_jaas_link_redirecting_to_another_host_fails_and_the_redirect_is_not_followed(
        client, db, jaas, workshop_session, tls_server, connections, probes, path):
    deliver(client, workshop_session, f"https://{HOST}{path}")

    recording = only_recording(db)
    assert (recording.state, recording.failed_step, recording.error_message) == (
        RecordingState.failed, "downloading", REFUSED_MESSAGE)
    assert connections == [(PUBLIC_ADDRESS, 443)]
    assert tls_server.hits == [(path, HOST)]
    assert probes == []
