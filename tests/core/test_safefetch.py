"""The link checker for fetched links: allowed hosts, public addresses only, pinned connections, checked redirects."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from core.config import ConfigError, read_settings, validate
from core.safefetch import UnsafeURLError, check_url, host_allowed, is_public_address, open_checked, parse_hosts

HOSTS = ("recordings.jaas.test", ".cdn.jaas.test")
PUBLIC = "93.184.216.34"


def resolver(*addresses):
    """A stand-in for socket.getaddrinfo that answers every name with `addresses`."""
    def resolve(host, port, type=0):
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in addresses]
    return resolve


# --- hosts -------------------------------------------------------------------------------------------------


def test_parse_hosts_reads_exact_names_and_suffixes():
    assert parse_hosts(" API-vo.jitsi.net, .8x8.vc ,,8x8.vc. ") == ("api-vo.jitsi.net", ".8x8.vc", "8x8.vc")


@pytest.mark.parametrize("value", ["https://api-vo.jitsi.net", "api-vo.jitsi.net:443", "*.8x8.vc", "a..b",
                                   "api-vo.jitsi.net/path"])
def test_parse_hosts_rejects_anything_but_a_host_name(value):
    with pytest.raises(ValueError):
        parse_hosts(value)


@pytest.mark.parametrize(("host", "allowed"), [
    ("recordings.jaas.test", True),
    ("RECORDINGS.jaas.test.", True),
    ("eu.cdn.jaas.test", True),
    ("cdn.jaas.test", False),
    ("evilcdn.jaas.test", False),
    ("recordings.jaas.test.evil.example", False),
    ("x.recordings.jaas.test", False),
])
def test_host_allowed_matches_exact_names_and_dot_suffixes(host, allowed):
    assert host_allowed(host, HOSTS) is allowed


def test_config_default_download_host_is_the_jaas_recording_host():
    assert read_settings({})["JAAS_DOWNLOAD_HOSTS"] == "api-vo.jitsi.net"


@pytest.mark.parametrize("value", ["https://api-vo.jitsi.net", ",", "*.8x8.vc"])
def test_config_rejects_download_hosts_that_are_not_host_names(value):
    with pytest.raises(ConfigError) as info:
        validate(read_settings({"JAAS_DOWNLOAD_HOSTS": value}))

    assert info.value.setting == "JAAS_DOWNLOAD_HOSTS"


# --- addresses ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.0.0.5", "172.16.3.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1",
    "224.0.1.1", "240.0.0.1", "255.255.255.255", "192.0.2.10", "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254",
    "ff02::1", "ff0e::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "2001:db8::1",
])
def test_is_public_address_refuses_internal_and_special_addresses(address):
    assert is_public_address(address) is False


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700:4700::1111"])
def test_is_public_address_accepts_global_unicast(address):
    assert is_public_address(address) is True


# --- check_url ---------------------------------------------------------------------------------------------


def test_check_url_accepts_https_on_an_allowed_host_and_pins_the_checked_address():
    target = check_url("https://recordings.jaas.test/r/1.mp4?sig=abc", HOSTS, resolve=resolver(PUBLIC))

    assert (target.host, target.port, target.address) == ("recordings.jaas.test", 443, PUBLIC)


@pytest.mark.parametrize(("url", "reason"), [
    ("http://recordings.jaas.test/r.mp4", "not an https link"),
    ("ftp://recordings.jaas.test/r.mp4", "not an https link"),
    ("file:///etc/passwd", "not an https link"),
    ("https://evil.example/r.mp4", "not an allowed download host"),
    ("https://169.254.169.254/latest/meta-data/", "not an allowed download host"),
    ("https://recordings.jaas.test.evil.example/r.mp4", "not an allowed download host"),
    ("https://user:pw@recordings.jaas.test/r.mp4", "credentials"),
    ("https://recordings.jaas.test:8443/r.mp4", "port 8443"),
])
def test_check_url_refuses_a_wrong_scheme_host_or_port(url, reason):
    with pytest.raises(UnsafeURLError) as info:
        check_url(url, HOSTS, resolve=resolver(PUBLIC))

    assert reason in str(info.value)


@pytest.mark.parametrize("answer", [("127.0.0.1",), ("10.1.2.3",), ("169.254.169.254",), ("fd00:ec2::254",),
                                    (PUBLIC, "10.1.2.3")])
def test_check_url_refuses_a_host_resolving_to_any_non_public_address(answer):
    with pytest.raises(UnsafeURLError) as info:
        check_url("https://recordings.jaas.test/r.mp4", HOSTS, resolve=resolver(*answer))

    assert "non-public address" in str(info.value)


def test_check_url_unresolvable_host_is_a_transient_network_error():
    def fail(*_args, **_kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(requests.ConnectionError):
        check_url("https://recordings.jaas.test/r.mp4", HOSTS, resolve=fail)


def test_check_url_allow_private_lets_a_loopback_test_server_through_but_keeps_the_host_list():
    target = check_url("http://127.0.0.1:8000/r.mp4", ("127.0.0.1",), allow_private=True)

    assert (target.host, target.port, target.address) == ("127.0.0.1", 8000, "127.0.0.1")
    with pytest.raises(UnsafeURLError):
        check_url("http://localhost:8000/r.mp4", ("127.0.0.1",), allow_private=True)


# --- open_checked ------------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        self.server.seen.append((self.path, self.headers.get("Host")))
        port = self.server.server_port
        moves = {"/to-other-host": f"http://localhost:{port}/ok", "/to-same-host": "/ok",
                 "/to-metadata": "http://169.254.169.254/latest/meta-data/", "/loop": "/loop"}
        if self.path in moves:
            self.send_response(302)
            self.send_header("Location", moves[self.path])
        else:
            self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _get(url, hosts=("127.0.0.1",), **kwargs):
    with open_checked(url, hosts, timeout=5, allow_private=True, **kwargs) as response:
        return response.status_code, response.content


def test_open_checked_follows_a_redirect_on_an_allowed_host(server):
    assert _get(f"http://127.0.0.1:{server.server_port}/to-same-host") == (200, b"ok")
    assert [path for path, _host in server.seen] == ["/to-same-host", "/ok"]


@pytest.mark.parametrize("path", ["/to-other-host", "/to-metadata"])
def test_open_checked_refuses_a_redirect_to_another_host(server, path):
    with pytest.raises(UnsafeURLError):
        _get(f"http://127.0.0.1:{server.server_port}{path}")

    assert [p for p, _host in server.seen] == [path]


def test_open_checked_stops_a_redirect_loop(server):
    with pytest.raises(UnsafeURLError):
        _get(f"http://127.0.0.1:{server.server_port}/loop")


def test_open_checked_connects_to_the_checked_address_with_the_host_name_in_host(server):
    port = server.server_port

    result = _get(f"http://recordings.jaas.test:{port}/ok", ("recordings.jaas.test",), resolve=resolver("127.0.0.1"))

    assert result == (200, b"ok")
    assert server.seen == [("/ok", f"recordings.jaas.test:{port}")]
