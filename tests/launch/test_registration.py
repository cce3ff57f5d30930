"""Dynamic registration end to end: the LMS (the emulator, Moodle 4.x and Canvas shapes) opens the
registration URL printed by `lti tool-config --tenant`, the tool registers itself, then launches work."""

from __future__ import annotations

import html
import re
import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from lti.models import Platform as PlatformRow
from tests import factories
from tests.launch.conftest import ORIENTATION, landed_on, learner
from tests.lti_platform import LaunchDriver, Platform
from tests.lti_platform.constants import PLATFORM_CONFIGURATION, TOOL_CONFIGURATION, roles_for
from tests.lti_platform.driver import FlaskTransport, LoginStep, ToolResponse
from tests.lti_platform.registration import CANVAS_PLACEMENTS
from training_app.extensions import db
from training_app.models import AuditEvent

CANVAS_ISSUER = "https://canvas.instructure.com"


@pytest.fixture
def acme(app) -> None:
    with app.app_context():
        factories.tenant("acme")
        db.session.commit()


@pytest.fixture(params=["moodle", "canvas"])
def lms(request) -> Iterator[Platform]:
    issuer = CANVAS_ISSUER if request.param == "canvas" else None
    with Platform(flavour=request.param, custom_issuer=issuer) as running:
        yield running


@pytest.fixture
def moodle() -> Iterator[Platform]:
    with Platform(flavour="moodle") as running:
        yield running


def registration_url(app, tenant: str = "acme") -> str:
    """The URL as an administrator copies it from `flask --app wsgi lti tool-config --tenant acme`."""
    result = app.test_cli_runner().invoke(args=["lti", "tool-config", "--tenant", tenant])
    assert result.exit_code == 0, result.output
    match = re.search(r"^Dynamic registration URL: (\S+)$", result.output, re.MULTILINE)
    assert match, result.output
    return match.group(1)


def platforms(app) -> list[PlatformRow]:
    with app.app_context():
        return list(db.session.scalars(select(PlatformRow)))


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def launch_after_registration(driver: LaunchDriver, platform: Platform):
    """A learner launch; Canvas's login asks for platform storage first, so follow its Continue link."""
    claims = platform.resource_link_claims(
        learner(), roles_for(platform.flavour, "learner"), custom={"course": ORIENTATION}
    )
    login = driver.login(claims)
    if login.auth_url is None:
        assert login.response.status == 200 and "data-lti-storage-put" in login.response.text
        login = LoginStep(login.initiation, login.response, continue_link(login.response.text))
    return driver.post_launch(driver.authorize(login))


def continue_link(page: str) -> str:
    match = re.search(r'<a class="button" href="([^"]+)"', page)
    assert match, page
    return html.unescape(match.group(1))


def test_tool_config_creates_the_tenant_code_once_and_prints_it(app, acme):
    first = registration_url(app)
    assert first.startswith("http://localhost/lti/register?tenant=acme&code=")
    assert registration_url(app) == first, "the code is created on first use, then kept"


def test_dynamic_registration_then_launch(app, client, acme, published, lms):
    driver = LaunchDriver(lms, client)
    page = driver.register(registration_url(app))

    assert page.status == 200, page.text
    assert "data-lti-close" in page.text and "/static/js/lti.js" in page.text
    script = client.get("/static/js/lti.js")
    assert "org.imsglobal.lti.close" in script.get_data(as_text=True)
    script.close()

    [record] = lms.registration.records
    assert record.ok, record.response
    body = record.body
    tool = body[TOOL_CONFIGURATION]
    assert tool["domain"] == "localhost" and tool["target_link_uri"] == "http://localhost/lti/launch"
    assert body["initiate_login_uri"] == "http://localhost/lti/login"
    assert body["jwks_uri"] == "http://localhost/lti/jwks"
    assert set(body["grant_types"]) == {"implicit", "client_credentials"}
    assert isinstance(body["scope"], str) and "lti-ags/scope/score" in body["scope"]
    offered = {p for placements in CANVAS_PLACEMENTS.values() for p in placements}
    for message in tool["messages"]:
        if lms.flavour == "canvas":
            assert set(message.get("placements", [])) <= offered, message
        else:
            assert message.get("placements", ["ContentArea"]) == ["ContentArea"]

    [stored] = platforms(app)
    configuration = lms.registration.configuration()
    assert (stored.issuer, stored.client_id) == (configuration["issuer"], lms.client_id)
    assert stored.auth_login_url == configuration["authorization_endpoint"]
    assert stored.auth_token_url == configuration["token_endpoint"]
    assert stored.key_set_url == configuration["jwks_uri"]
    assert stored.product_family == configuration[PLATFORM_CONFIGURATION]["product_family_code"]
    if lms.flavour == "moodle":
        assert stored.deployment_ids == [record.deployment_id] and record.deployment_id
    else:
        assert stored.deployment_ids == [] and stored.registration["accept_first_deployment"]
    assert audit_actions(app) == ["lti.platform_registered"]

    launched = launch_after_registration(driver, lms)
    assert launched.status == 200, launched.text
    assert landed_on(launched.text) == f"/courses/{ORIENTATION}/"
    [stored] = platforms(app)
    assert stored.deployment_ids == [lms.deployment_id], "Canvas's deployment is adopted at first launch"
    assert not stored.registration["accept_first_deployment"]


def test_canvas_adopts_only_the_first_deployment(app, client, acme, published):
    with Platform(flavour="canvas", custom_issuer=CANVAS_ISSUER) as canvas:
        driver = LaunchDriver(canvas, client)
        assert driver.register(registration_url(app)).status == 200
        assert launch_after_registration(driver, canvas).status == 200
        first = canvas.deployment_id
        canvas.deployment_id = "2:" + "f" * 40  # a second installation nobody registered
        refused = launch_after_registration(driver, canvas)
    assert refused.status == 403 and "deployment" in refused.text
    assert platforms(app)[0].deployment_ids == [first]


def test_registering_again_with_the_same_client_id_updates_the_platform(app, client, acme, moodle):
    driver = LaunchDriver(moodle, client)
    url = registration_url(app)
    assert driver.register(url).status == 200
    [record] = moodle.registration.records
    moodle.fail("registrations", 200, body=record.response)  # the LMS answers the same client again
    used = driver.register(url)  # the code was used up: the link works once
    assert used.status == 403 and "registration link is not valid" in html.unescape(used.text)
    assert registration_url(app) != url
    assert driver.register(registration_url(app)).status == 200
    [stored] = platforms(app)
    assert (stored.client_id, stored.deployment_ids) == (record.client_id, [record.deployment_id])
    assert audit_actions(app) == ["lti.platform_registered", "lti.platform_registered"]


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("tenant=acme&code=not-the-code", "wrong code"),
        ("tenant=acme", "no code"),
        ("tenant=initech&code={code}", "code of another tenant name"),
        ("code={code}", "no tenant"),
    ],
)
def test_a_wrong_or_missing_code_is_refused(app, client, acme, moodle, query, why):
    code = registration_url(app).rsplit("code=", 1)[1]
    driver = LaunchDriver(moodle, client)
    page = driver.register("http://localhost/lti/register?" + query.format(code=code))
    assert page.status == 403, why
    assert "registration link is not valid" in html.unescape(page.text)
    assert "tool-config --tenant" in page.text
    assert moodle.registration.records == [] and platforms(app) == []


def get(client, url: str) -> ToolResponse:
    return FlaskTransport(client).request("GET", url)


def assert_refused(app, page: ToolResponse, status: int, *words: str) -> None:
    text = html.unescape(page.text)
    assert page.status == status, text[:500]
    if status == 502:
        assert "The registration did not complete" in text
    for word in words:
        assert word in text, (word, text[:2000])
    assert "Traceback" not in text
    assert platforms(app) == [] and audit_actions(app) == []


def test_a_registration_the_lms_refuses_says_so_without_repeating_its_answer(app, client, acme, moodle):
    page = get(
        client, moodle.registration.start_url(registration_url(app), token="forged.registration.token")
    )
    assert_refused(app, page, 502, "Your LMS refused the registration (HTTP 401)", "your LMS's logs say why")
    assert "invalid registration token" not in page.text  # a remote answer is never echoed


def test_moodle_validation_errors_come_back_as_a_clear_page(app, client, acme, moodle):
    moodle.fail("registrations", 400, body="domain_targetlinkuri_mismatch")
    page = LaunchDriver(moodle, client).register(registration_url(app))
    assert_refused(app, page, 502, "Your LMS refused the registration (HTTP 400)")
    assert "domain_targetlinkuri_mismatch" not in page.text


def test_canvas_validation_errors_come_back_as_a_clear_page(app, client, acme):
    with Platform(flavour="canvas") as canvas:
        canvas.fail("registrations", 422, body={"errorMessage": "Invalid scopes: https://x.example/s"})
        page = LaunchDriver(canvas, client).register(registration_url(app))
    assert_refused(app, page, 502, "(HTTP 422)")
    assert "Invalid scopes" not in page.text


def test_an_unreachable_configuration_is_a_clear_page(app, client, acme):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    url = registration_url(app) + (
        f"&openid_configuration=http://127.0.0.1:{closed_port}/.well-known/openid-configuration"
        "&registration_token=t"
    )
    assert_refused(app, get(client, url), 502, "Could not reach your LMS for the LMS's configuration")


@pytest.mark.parametrize(
    ("configuration", "words"),
    [
        ({"issuer": "https://lms.example"}, ["lacks registration_endpoint, authorization_endpoint"]),
        ("<html>maintenance</html>", ["not JSON"]),
        (["a", "list"], ["unexpected JSON"]),
    ],
)
def test_a_configuration_missing_fields_is_a_clear_page(app, client, acme, moodle, configuration, words):
    moodle.fail("openid-configuration", 200, body=configuration)
    page = LaunchDriver(moodle, client).register(registration_url(app))
    assert_refused(app, page, 502, *words)
    assert moodle.registration.records == []


def test_a_configuration_with_bad_urls_or_no_lti_section_is_a_clear_page(app, client, acme, moodle):
    good = moodle.registration.configuration()
    moodle.fail("openid-configuration", 200, body={**good, "token_endpoint": "token.php"})
    page = LaunchDriver(moodle, client).register(registration_url(app))
    assert_refused(app, page, 502, "invalid token_endpoint", "'token.php' is not an absolute https URL")
    moodle.fail(
        "openid-configuration", 200, body={k: v for k, v in good.items() if k != PLATFORM_CONFIGURATION}
    )
    page = LaunchDriver(moodle, client).register(registration_url(app))
    assert_refused(app, page, 502, "does not describe an LTI platform")


def test_a_missing_openid_configuration_parameter_is_a_400_page(app, client, acme):
    page = get(client, registration_url(app))
    assert_refused(app, page, 400, "did not send a valid openid_configuration URL")


def test_the_registration_page_may_be_framed_by_the_lms(app, client, acme):
    """Canvas runs the registration in an iframe on the school's domain, not on the issuer's."""
    with Platform(flavour="canvas", custom_issuer=CANVAS_ISSUER) as canvas:
        page = LaunchDriver(canvas, client).register(registration_url(app))
        school = canvas.base_url
    assert page.status == 200 and school
    ancestors = page.headers["Content-Security-Policy"].split("frame-ancestors", 1)[1].split(";")[0]
    assert "*" in ancestors.split()  # an LMS frames the registration before we know it
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PlatformRow)) == 1
