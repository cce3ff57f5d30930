"""One policy for every HTTP request the server makes (LMS registration, JWKS, tokens, AGS, NRPS,
staff single sign-on, and every outbox delivery): no request reaches this machine, its network or
a cloud's metadata service because a URL someone typed or an LMS sent says so.

- A destination's host is resolved and each address checked when the connection is opened (not
  before, where a second DNS answer could differ: DNS rebinding), and the connection goes to the
  address that was checked. Loopback, private, link-local (169.254.169.254), shared, multicast,
  reserved and unspecified addresses are refused, IPv4-mapped IPv6 included.
- `http://` only where `OUTBOUND_ALLOW_HTTP` is on (development and tests); production is https.
- `OUTBOUND_ALLOWED_HOSTS` names internal hosts an operator trusts (an LMS on the company network).
- Redirects are followed (at most 3) and each hop goes through the same check; proxies from the
  environment are ignored, so no proxy can carry a request past the check.
- Every refused destination raises the same `DestinationRefused`, whatever the reason, so answers
  cannot be used to map the internal network.

Written here rather than taken from a library: `advocate`, the known requests wrapper, has had no
release since 2021 and pins urllib3 1.x; this is one connection subclass.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask, current_app
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import connection as urllib3_connection

MAX_REDIRECTS = 3
REFUSED = "{host} is not an address this service may connect to"


class DestinationRefused(Exception):
    """The URL's destination is not allowed. Deliberately not an OSError: urllib3 and requests
    pass it through unwrapped and unretried."""

    def __init__(self, url_or_host: str) -> None:
        host = urlsplit(url_or_host).hostname if "//" in url_or_host else url_or_host
        super().__init__(REFUSED.format(host=host or url_or_host))


@dataclass(frozen=True)
class DestinationPolicy:
    allowed_hosts: frozenset[str] = frozenset()
    allow_http: bool = False

    @classmethod
    def from_config(cls, config: Any) -> DestinationPolicy:
        hosts = config.get("OUTBOUND_ALLOWED_HOSTS") or ()
        if isinstance(hosts, str):
            hosts = hosts.replace(",", " ").split()
        return cls(
            allowed_hosts=frozenset(h.strip().lower().strip("[]") for h in hosts if h.strip()),
            allow_http=bool(config.get("OUTBOUND_ALLOW_HTTP")),
        )

    def url_problem(self, url: str) -> str | None:
        """Why the URL may not be used (scheme, host), checked before any connection; None if fine."""
        parts = urlsplit(url or "")
        if parts.scheme not in ("https", "http") or not parts.hostname:
            return f"{url!r} is not an absolute https URL"
        if parts.scheme == "http" and not self.allow_http:
            return f"{url!r} must use https"
        if parts.username or parts.password:
            return f"{url!r} must not carry a user name or password"
        return None

    def check_url(self, url: str) -> None:
        if self.url_problem(url):
            raise DestinationRefused(url)

    def addresses(self, host: str, port: int) -> list[tuple[Any, ...]]:
        """getaddrinfo's answers for host:port, each allowed; else DestinationRefused."""
        name = host.lower().strip("[]")
        answers = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        if name in self.allowed_hosts:
            return answers
        if not answers or not all(is_public(answer[4][0]) for answer in answers):
            raise DestinationRefused(host)
        return answers


def is_public(address: str) -> bool:
    """Whether an IP address is one on the public internet (not this machine, its networks, a
    link-local metadata service, a multicast group or a reserved range)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not is_public(str(embedded)):
            return False
    return ip.is_global and not (
        ip.is_multicast or ip.is_loopback or ip.is_link_local or ip.is_private or ip.is_reserved
    )


def host_problem(url: str, policy: DestinationPolicy) -> str | None:
    """For forms that save a URL: refuse a host that is (or resolves to) a forbidden address now,
    with a clear message. Connections check again when they are made."""
    problem = policy.url_problem(url)
    if problem:
        return problem
    parts = urlsplit(url)
    try:
        policy.addresses(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
    except DestinationRefused as refused:
        return str(refused)
    except (socket.gaierror, UnicodeError):
        return None  # not resolvable from here (yet): checked again when used
    return None


class _CheckedConnection:
    """An urllib3 connection that connects only to an address its policy allows."""

    policy: DestinationPolicy

    def _new_conn(self) -> socket.socket:  # type: ignore[override]
        conn: Any = self
        try:
            answers = self.policy.addresses(conn._dns_host, conn.port)
        except socket.gaierror as exc:
            from urllib3.exceptions import NameResolutionError

            raise NameResolutionError(conn.host, conn, exc) from exc
        last_error: OSError | None = None
        for _family, _type, _proto, _name, sockaddr in answers:
            try:
                return urllib3_connection.create_connection(
                    (sockaddr[0], conn.port),
                    conn.timeout,
                    source_address=conn.source_address,
                    socket_options=conn.socket_options,
                )
            except OSError as exc:
                last_error = exc
        from urllib3.exceptions import NewConnectionError

        raise NewConnectionError(conn, f"Failed to establish a new connection: {last_error}")


def _pool_classes(policy: DestinationPolicy) -> dict[str, type]:
    http_conn = type("CheckedHTTPConnection", (_CheckedConnection, HTTPConnection), {"policy": policy})
    https_conn = type("CheckedHTTPSConnection", (_CheckedConnection, HTTPSConnection), {"policy": policy})
    return {
        "http": type("CheckedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("CheckedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }


class _CheckedAdapter(HTTPAdapter):
    def __init__(self, policy: DestinationPolicy) -> None:
        self.policy = policy
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.policy)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.policy.check_url(request.url or "")  # every hop, redirects included
        return super().send(request, *args, **kwargs)


def apply_policy(http: requests.Session, policy: DestinationPolicy) -> None:
    """Make a requests session (a library's subclass too: Authlib's OAuth2Session) obey the policy."""
    http.trust_env = False  # no proxy or .netrc from the environment
    http.max_redirects = MAX_REDIRECTS
    adapter = _CheckedAdapter(policy)
    http.mount("https://", adapter)
    http.mount("http://", adapter)


class CheckedSession(requests.Session):
    def __init__(self, policy: DestinationPolicy) -> None:
        super().__init__()
        self.policy = policy
        apply_policy(self, policy)


def session() -> CheckedSession:
    """The app's session for outgoing HTTP (one per app: connections are pooled)."""
    return current_app.extensions["outbound_http"]


def policy() -> DestinationPolicy:
    return session().policy


def init_app(app: Flask) -> None:
    app.extensions["outbound_http"] = CheckedSession(DestinationPolicy.from_config(app.config))
