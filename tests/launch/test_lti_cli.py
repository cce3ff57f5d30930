"""`flask --app wsgi lti add-platform | tool-config | rotate-key`, as the README documents them."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

import jwt
import pytest
import time_machine
from sqlalchemy import func, select

from lti import deep_linking, keys, oauth
from lti.models import Deployment, Platform, ToolKey
from tests import factories
from tests.lti_platform.constants import SCOPE_SCORE
from training_app.auth.services import find_tenant
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import AuditEvent
from training_app.outbound import CheckedSession, DestinationPolicy

ISSUER = "https://moodle.acme.example"
ADD = [
    "lti",
    "add-platform",
    "--tenant",
    "acme",
    "--issuer",
    ISSUER,
    "--client-id",
    "Xq2hT9kLmN3pR7s",
    "--deployment-id",
    "3",
    "--deployment-id",
    "7",
    "--auth-login-url",
    f"{ISSUER}/mod/lti/auth.php",
    "--auth-token-url",
    f"{ISSUER}/mod/lti/token.php",
    "--key-set-url",
    f"{ISSUER}/mod/lti/certs.php",
]


def cli(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def with_option(args: list[str], option: str, value: str) -> list[str]:
    """The arguments with `option` given once, as `value`."""
    changed = list(args)
    while option in changed:
        at = changed.index(option)
        del changed[at : at + 2]
    return [*changed, option, value]


def counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Platform, Deployment, AuditEvent, ToolKey)
        }


@pytest.fixture
def https_only(app) -> None:
    """As in production: https only (the other tests here allow the emulator's plain http)."""
    app.extensions["outbound_http"] = CheckedSession(DestinationPolicy(allow_http=False))


@pytest.fixture
def acme(app) -> None:
    with app.app_context():
        factories.tenant("acme")
        db.session.commit()


NOTHING = {"Platform": 0, "Deployment": 0, "AuditEvent": 0, "ToolKey": 0}


def test_add_platform_registers_the_lms(app, acme):
    result = cli(app, *ADD)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        f"Registered {ISSUER} (client id Xq2hT9kLmN3pR7s) for tenant acme with deployment(s) 3, 7."
    )
    with app.app_context():
        platform = db.session.scalar(select(Platform))
        assert (platform.issuer, platform.client_id, platform.deployment_ids) == (
            ISSUER,
            "Xq2hT9kLmN3pR7s",
            ["3", "7"],
        )
        assert platform.auth_login_url == f"{ISSUER}/mod/lti/auth.php"
        assert platform.auth_token_url == f"{ISSUER}/mod/lti/token.php"
        assert platform.key_set_url == f"{ISSUER}/mod/lti/certs.php"
        event = db.session.scalar(select(AuditEvent))
        assert (event.action, event.actor) == ("lti.platform_added", "cli")
    assert counts(app)["ToolKey"] == 1, "the tenant gets a signing key for the JWKS"


def test_a_duplicate_platform_is_a_clear_error_and_changes_nothing(app, acme):
    assert cli(app, *ADD).exit_code == 0
    before = counts(app)
    again = cli(app, *with_option(ADD, "--deployment-id", "9"))
    assert again.exit_code == 1
    assert "A connection with this issuer and client id already exists" in again.output
    assert "Traceback" not in again.output
    assert counts(app) == before


def test_an_unknown_tenant_is_a_clear_error(app, acme):
    result = cli(app, *with_option(ADD, "--tenant", "initech"))
    assert result.exit_code == 1
    assert "There is no tenant 'initech'. Known tenants: acme." in result.output
    assert counts(app) == NOTHING


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--issuer", "http://moodle.acme.example", "must use https"),
        ("--auth-login-url", "moodle.acme.example/mod/lti/auth.php", "is not an absolute https URL"),
        ("--auth-token-url", "not a url", "is not an absolute https URL"),
        ("--key-set-url", "ftp://moodle.acme.example/certs", "is not an absolute https URL"),
        ("--client-id", "   ", "required"),
        ("--deployment-id", " ", "at least one deployment id is required"),
        ("--deployment-id", "d" * 256, "at most 255 characters"),
        ("--issuer", "https://lms.example/" + "x" * 500, "at most 500 characters"),
    ],
)
def test_a_bad_value_names_the_field_and_nothing_is_written(app, acme, https_only, option, value, message):
    result = cli(app, *with_option(ADD, option, value))
    assert result.exit_code == 1, result.output
    assert "The platform was not added" in result.output
    assert f"{option}: " in result.output and message in result.output, result.output
    assert "Traceback" not in result.output
    assert counts(app) == NOTHING


def test_http_is_accepted_where_it_is_allowed(acme, make_app):
    """Development allows plain http, and an LMS on this machine by name."""
    app = make_app(OUTBOUND_ALLOW_HTTP=True, OUTBOUND_ALLOWED_HOSTS=["localhost"])
    local = "http://localhost:8080"
    args = with_option(ADD, "--issuer", local)
    for option, path in (
        ("--auth-login-url", "/auth"),
        ("--auth-token-url", "/token"),
        ("--key-set-url", "/jwks"),
    ):
        args = with_option(args, option, local + path)
    assert cli(app, *args).exit_code == 0


def test_tool_config_prints_what_an_lms_administrator_enters(app, acme):
    result = cli(app, "lti", "tool-config")
    assert result.exit_code == 0, result.output
    out = result.output
    for line in (
        "OpenID Connect login (initiate login) URL: http://localhost/lti/login",
        "Redirect (launch) URLs: http://localhost/lti/launch",
        "Deep linking URL: http://localhost/lti/launch",
        "Public keyset (JWKS) URL: http://localhost/lti/jwks",
        "    https://purl.imsglobal.org/spec/lti-ags/scope/score",
        "    https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
        "    course=social-media-orientation",
        "    employee_id=$Person.sourcedId",
        "Dynamic registration URL: per organisation: flask --app wsgi lti tool-config --tenant SLUG",
    ):
        assert line in out.splitlines(), (line, out)
    with_tenant = cli(app, "lti", "tool-config", "--tenant", "acme").output
    assert "Dynamic registration URL: http://localhost/lti/register?tenant=acme&code=" in with_tenant
    unknown = cli(app, "lti", "tool-config", "--tenant", "initech")
    assert unknown.exit_code == 1 and "There is no tenant 'initech'" in unknown.output


def jwks_kids(client) -> list[str]:
    response = client.get("/lti/jwks")
    assert response.status_code == 200
    return [key["kid"] for key in response.get_json()["keys"]]


def test_rotate_key_serves_the_old_key_until_the_grace_period_ends(app, client, acme):
    with app.app_context():
        old = keys.active_key(acme_id()).kid
        db.session.commit()
    result = cli(app, "lti", "rotate-key")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("acme: new signing key ")
    assert "1 previous key(s) stay in /lti/jwks until" in result.output
    with app.app_context():
        new = keys.active_key(acme_id()).kid
    assert new != old and new in result.output
    assert sorted(jwks_kids(client)) == sorted([old, new])
    with time_machine.travel(utcnow() + keys.RETIRED_KEY_GRACE - timedelta(minutes=1)):
        assert sorted(jwks_kids(client)) == sorted([old, new])
    with time_machine.travel(utcnow() + keys.RETIRED_KEY_GRACE + timedelta(minutes=1)):
        assert jwks_kids(client) == [new]


def acme_id() -> int:
    return find_tenant("acme").id


def test_rotate_key_for_an_unknown_tenant_is_a_clear_error(app, acme):
    result = cli(app, "lti", "rotate-key", "--tenant", "initech")
    assert result.exit_code == 1 and "There is no tenant 'initech'" in result.output


def test_after_rotation_assertions_and_deep_linking_responses_use_the_new_key(app, client, registered):
    """The emulator's token endpoint checks the client assertion against the JWKS the tool serves."""
    result = cli(app, "lti", "rotate-key", "--tenant", "acme")
    assert result.exit_code == 0, result.output
    registered.use_tool("http://localhost").jwks = client.get("/lti/jwks").get_json()
    with app.app_context():
        platform = db.session.scalar(select(Platform))
        new = keys.active_key(platform.tenant_id)
        token, _expires = oauth.request_token(oauth.client_for(platform), [SCOPE_SCORE])
        assert token
        [request] = registered.requests_to("token")
        assertion = parse_qs(request.body.decode())["client_assertion"][0]
        assert jwt.get_unverified_header(assertion)["kid"] == new.kid
        context = {"platform_id": platform.id, "deployment_id": registered.deployment_id, "data": None}
        response = deep_linking.response_jwt(context, [])
        assert jwt.get_unverified_header(response)["kid"] == new.kid
        published = {key["kid"]: key for key in registered.tool.jwks["keys"]}
        verified = jwt.decode(
            response,
            jwt.PyJWK(published[new.kid]).key,
            algorithms=["RS256"],
            audience=registered.issuer,
        )
        assert verified["iss"] == platform.client_id
