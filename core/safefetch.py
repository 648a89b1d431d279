"""Fetching a link that someone else hands us (a JaaS recording): allowed hosts, public addresses, pinned connections.

A link is used only when it is https, its host is on an allow-list, and every address the host resolves to is
public. The connection then goes to the address that was checked (TLS and `Host` still use the host name), so a
second DNS answer cannot send it elsewhere. Redirects are followed by hand, and every hop is checked the same way.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

#: Cloud metadata services, refused by name even though the address checks below already cover them.
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOST_ENTRY = re.compile(rf"^\.?(?=.{{1,253}}$)(?:{LABEL}\.)*{LABEL}$")
MAX_REDIRECTS = 5

Resolver = Callable[..., list]


class UnsafeURLError(ValueError):
    """A link we refuse to fetch: wrong scheme, a host off the allow-list, or a non-public address."""


@dataclass(frozen=True)
class Target:
    """A checked link: where to connect (`address`) and the name TLS and `Host` must use (`host`)."""

    url: str
    host: str
    port: int
    address: str


def parse_hosts(value: str | None) -> tuple[str, ...]:
    """Split a comma-separated host list: exact names (`api.example.com`) or suffixes (`.example.com`)."""
    hosts = tuple(x.strip().lower().rstrip(".") for x in (value or "").split(",") if x.strip())
    bad = [h for h in hosts if not HOST_ENTRY.match(h)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a host name or a leading-dot suffix such as .example.com")
    return hosts


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """True when `host` equals an entry, or ends with an entry that starts with a dot (a subdomain of it)."""
    host = host.lower().rstrip(".")
    return any(host.endswith(entry) if entry.startswith(".") else host == entry for entry in allowed)


def is_public_address(value: str) -> bool:
    """True for a global unicast address; loopback, private, link-local, multicast, reserved and metadata are not."""
    address = ipaddress.ip_address(value.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not (address in METADATA_ADDRESSES or not address.is_global or address.is_multicast
                or address.is_reserved or address.is_loopback or address.is_link_local or address.is_private
                or address.is_unspecified)


def check_url(url: str, allowed_hosts: tuple[str, ...], *, allow_private: bool = False,
              resolve: Resolver | None = None) -> Target:
    """Check a link and resolve its host; raise UnsafeURLError when it may not be fetched.

    `allow_private` is for tests against a loopback server only: it also lets plain http through.
    A host that does not resolve raises requests.ConnectionError (transient: DNS may be back later).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme != "https" and not (allow_private and scheme == "http"):
        raise UnsafeURLError(f"not an https link: {scheme or 'no scheme'}")
    host = (parts.hostname or "").rstrip(".")
    if not host or parts.username is not None or parts.password is not None:
        raise UnsafeURLError("the link has no host, or has credentials in it")
    if not host_allowed(host, allowed_hosts):
        raise UnsafeURLError(f"host {host!r} is not an allowed download host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise UnsafeURLError("the link has an invalid port") from None
    if port != 443 and not allow_private:
        raise UnsafeURLError(f"port {port} is not the https port")
    try:
        found = (resolve or socket.getaddrinfo)(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise requests.ConnectionError(f"cannot resolve {host!r}: {exc}") from None
    addresses = [info[4][0] for info in found]
    if not addresses:
        raise requests.ConnectionError(f"{host!r} resolves to no address")
    refused = [a for a in addresses if not is_public_address(a)]
    if refused and not allow_private:
        raise UnsafeURLError(f"host {host!r} resolves to a non-public address ({refused[0]})")
    return Target(url=url, host=host, port=port, address=addresses[0])


class PinnedAdapter(HTTPAdapter):
    """Connects to one checked address while SNI, certificate check and `Host` still use the link's host name."""

    def __init__(self, target: Target):
        self.target = target
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host_params["host"] = self.target.address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = self.target.host
            pool_kwargs["assert_hostname"] = self.target.host
        return host_params, pool_kwargs

    def send(self, request, **kwargs):
        default = 443 if urlsplit(request.url).scheme == "https" else 80
        port = "" if self.target.port == default else f":{self.target.port}"
        request.headers["Host"] = f"{self.target.host}{port}"
        return super().send(request, **kwargs)


@contextmanager
def open_checked(url: str, allowed_hosts: tuple[str, ...], *, timeout, allow_private: bool = False,
                 resolve: Resolver | None = None) -> Iterator[requests.Response]:
    """GET a link as a stream, checking it and every redirect hop; no proxy from the environment is used.

    Raises UnsafeURLError for a refused link or hop (not worth retrying) and requests exceptions for network trouble.
    """
    for _hop in range(MAX_REDIRECTS + 1):
        target = check_url(url, allowed_hosts, allow_private=allow_private, resolve=resolve)
        adapter = PinnedAdapter(target)
        try:
            response = adapter.send(requests.Request("GET", url).prepare(), stream=True, timeout=timeout,
                                    verify=True)
            with response:
                if not response.is_redirect:
                    yield response
                    return
                url = urljoin(url, response.headers["Location"])
        finally:
            adapter.close()
    raise UnsafeURLError(f"more than {MAX_REDIRECTS} redirects")
