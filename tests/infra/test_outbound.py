"""One outbound-HTTP policy (training_app.outbound): the server never connects to this machine, its
private networks or a cloud metadata address because a URL says so, whoever gave the URL (an LMS's
dynamic registration, a platform registered in the console, a forged launch, an outbox message).

The apps here run without the suite's allow-list for 127.0.0.1, as in production; the receivers
and the LMS emulator they aim at listen on 127.0.0.1, so every request that reached one would show
in its log.
"""

from __future__ import annotations

import html
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest
import requests
from sqlalchemy import func, select

from lti import services as lti_services
from lti.models import Deployment
from lti.models import Platform as PlatformRow
from tests import factories
from tests.conftest import settings_for
from tests.lti_platform import LaunchDriver, Platform
from tests.lti_platform.claims import User as LtiUser
from tests.lti_platform.driver import FlaskTransport
from training_app import outbox
from training_app.auth.services import find_tenant
from training_app.extensions import db
from training_app.models import OutboxMessage
from training_app.outbound import CheckedSession, DestinationPolicy, DestinationRefused, is_public

STRICT = DestinationPolicy(allow_http=True)  # plain http so the local receivers could answer


@pytest.fixture
def app_settings(database_url, tmp_path):
    return settings_for(database_url, tmp_path / "instance", OUTBOUND_ALLOWED_HOSTS=[])


@pytest.fixture
def acme(app) -> None:
    with app.app_context():
        factories.staff(factories.tenant("acme"), "hr@acme.example")
        db.session.commit()


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("127.1.2.3", False),
        ("::1", False),
        ("10.0.0.8", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # the cloud metadata service
        ("fd00:ec2::254", False),  # its IPv6 address on AWS
        ("100.64.0.1", False),  # shared address space (carrier NAT)
        ("0.0.0.0", False),
        ("224.0.0.1", False),  # multicast
        ("255.255.255.255", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:169.254.169.254", False),
        ("fe80::1", False),
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
    ],
)
def test_which_addresses_are_public(address, public):
    assert is_public(address) is public


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 to anything (or a redirect to ?to=...) and remembers that it was asked."""

    hits: list[str] = []

    def do_GET(self):
        type(self).hits.append(self.path)
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("to=", 1)[1])
            self.end_headers()
            return
        body = b'{"keys": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    _Recorder.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Recorder.hits
    server.shutdown()
    server.server_close()


def test_loopback_by_address_or_by_name_is_refused_before_connecting(recorder):
    base, hits = recorder
    port = base.rsplit(":", 1)[1]
    session = CheckedSession(STRICT)
    for url in (base, f"http://localhost:{port}/", f"http://[::1]:{port}/"):
        with pytest.raises(DestinationRefused) as refused:
            session.get(url, timeout=2)
        assert "is not an address this service may connect to" in str(refused.value)
    assert hits == []


def test_an_allowed_host_redirecting_to_a_refused_one_is_stopped_at_the_redirect(recorder):
    base, hits = recorder
    port = base.rsplit(":", 1)[1]
    session = CheckedSession(DestinationPolicy(frozenset({"127.0.0.1"}), allow_http=True))
    assert session.get(f"{base}/keys", timeout=2).status_code == 200
    with pytest.raises(DestinationRefused):
        session.get(f"{base}/redirect?to=http://localhost:{port}/secret", timeout=2)
    assert hits == ["/keys", f"/redirect?to=http://localhost:{port}/secret"]  # never /secret


def test_a_name_that_resolves_to_a_private_address_is_refused_at_connect_time(monkeypatch, recorder):
    """DNS rebinding: the address is checked when the connection opens, and the connection goes to
    the address that was checked, not to a second answer."""
    base, hits = recorder
    port = int(base.rsplit(":", 1)[1])
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host == "lms.rebind.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(DestinationRefused):
        CheckedSession(STRICT).get(f"http://lms.rebind.example:{port}/", timeout=2)
    assert hits == []


def test_a_name_resolving_to_public_and_private_addresses_is_refused(monkeypatch):
    def mixed(host, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 443)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", mixed)
    with pytest.raises(DestinationRefused):
        CheckedSession(DestinationPolicy()).get("https://lms.mixed.example/", timeout=2)


def test_plain_http_and_credentials_in_urls_are_refused_in_production():
    production = DestinationPolicy()
    assert production.url_problem("http://moodle.acme.example/jwks") == (
        "'http://moodle.acme.example/jwks' must use https"
    )
    assert "user name or password" in production.url_problem("https://u:p@moodle.acme.example/")
    assert production.url_problem("file:///etc/passwd") and production.url_problem("gopher://x/")
    with pytest.raises(DestinationRefused):
        CheckedSession(production).get("http://moodle.acme.example/", timeout=2)


def test_proxies_from_the_environment_are_not_used(monkeypatch, recorder):
    base, hits = recorder
    monkeypatch.setenv("HTTPS_PROXY", base)
    monkeypatch.setenv("HTTP_PROXY", base)
    with pytest.raises(DestinationRefused):
        CheckedSession(STRICT).get("http://169.254.169.254/latest/meta-data/", timeout=2)
    assert hits == []


# --- the paths where a URL reaches the server --------------------------------------------------------


def registration_url(app) -> str:
    result = app.test_cli_runner().invoke(args=["lti", "tool-config", "--tenant", "acme"])
    return next(
        line.split(": ", 1)[1] for line in result.output.splitlines() if "Dynamic registration" in line
    )


def test_dynamic_registration_never_fetches_a_refused_address_and_says_the_same_for_each(
    app, client, acme, recorder
):
    base, hits = recorder
    port = base.rsplit(":", 1)[1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    pages = []
    for target in (
        f"{base}/.well-known/openid-configuration",  # open port on loopback
        f"http://127.0.0.1:{closed}/",  # closed port on loopback
        f"http://localhost:{port}/",  # a name for loopback
        "http://169.254.169.254/latest/meta-data/",  # the metadata service
        "http://10.0.0.1/",  # a private network
    ):
        url = f"{registration_url(app)}&openid_configuration={target}&registration_token=secret-token"
        page = FlaskTransport(client).request("GET", url)
        assert page.status == 502, page.text[:300]
        pages.append(html.unescape(page.text).split("Reference for support")[0])
    messages = {page.split('<p class="lead">', 1)[1].split("</p>", 1)[0] for page in pages}
    assert len(messages) == 1  # an open port, a closed one and a metadata address read the same
    assert "public https address" in messages.pop()
    assert hits == []  # the registration token was sent nowhere
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PlatformRow)) == 0


def test_a_platform_pointing_at_internal_addresses_cannot_be_saved(app, acme):
    with app.app_context():
        fields = lti_services.PlatformFields(
            issuer="https://lms.acme.example",
            client_id="c1",
            deployment_ids=["1"],
            auth_login_url="https://lms.acme.example/auth",
            auth_token_url="http://127.0.0.1:9/token",
            key_set_url="http://169.254.169.254/latest/meta-data/iam/",
        )
        errors = lti_services.validate_platform_fields(fields)
    assert errors["key_set_url"] == "169.254.169.254 is not an address this service may connect to"
    assert errors["auth_token_url"] == "127.0.0.1 is not an address this service may connect to"


def test_a_forged_launch_cannot_make_the_server_fetch_an_internal_jwks(app, client, acme, recorder):
    """A platform row aimed at loopback (saved before this policy existed, or by hand): the launch's
    key fetch is refused and nothing reaches the internal address."""
    base, hits = recorder
    with Platform(flavour="moodle") as lms, app.app_context():
        tenant = find_tenant("acme")
        platform = PlatformRow(
            tenant_id=tenant.id,
            issuer=lms.issuer,
            client_id=lms.client_id,
            auth_login_url=lms.auth_url,
            auth_token_url=lms.token_url,
            key_set_url=f"{base}/jwks",
        )
        platform.deployments.append(Deployment(deployment_id=lms.deployment_id))
        db.session.add(platform)
        db.session.commit()
        driver = LaunchDriver(lms, client)
        claims = lms.resource_link_claims(
            lms_user(), ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"], custom={"course": "x"}
        )
        result = driver.launch(claims)
    assert result.status == 502  # the LMS's keys could not be read
    assert hits == []


def lms_user() -> LtiUser:
    return LtiUser.named("u-1", "Ada", "Lovelace", email="ada@acme.example")


def test_an_outbox_message_to_an_internal_address_is_dead_at_once_and_sends_nothing(app, recorder):
    base, hits = recorder
    with app.app_context():
        outbox.enqueue("http_post", {"url": f"{base}/hook", "json": {"a": 1}}, idempotency_key="k1")
        db.session.commit()
        outbox.run_worker(once=True)
        message = db.session.scalar(select(OutboxMessage))
        assert message.status == "dead"
        assert "is not an address this service may connect to" in message.last_error
    assert hits == []


def test_the_allow_list_names_an_internal_host_an_operator_trusts(recorder):
    base, hits = recorder
    session = CheckedSession(DestinationPolicy(frozenset({"127.0.0.1"}), allow_http=True))
    assert session.get(f"{base}/ok", timeout=2).status_code == 200
    assert hits == ["/ok"]
    with pytest.raises(requests.ConnectionError):
        session.get("http://127.0.0.1:9/", timeout=2)  # allowed, but nobody listens: a normal error
