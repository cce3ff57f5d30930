"""HR console "LMS connections": platforms, tool configuration, dynamic registration URL, and forms."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from lti import services
from lti.models import Deployment, Platform
from tests import factories
from tests.conftest import settings_for
from tests.helpers import csrf_from, text_of
from training_app.extensions import db
from training_app.models import AuditEvent, Tenant

ISSUER = "https://canvas.acme.example"
FORM = {
    "name": "Canvas production",
    "issuer": ISSUER,
    "client_id": "10000000000042",
    "deployment_ids": "12:8865aa05b4b79b64a91a86042e43af5ea8ae79eb\n\n  13:abc  \n",
    "auth_login_url": f"{ISSUER}/api/lti/authorize_redirect",
    "auth_token_url": f"{ISSUER}/login/oauth2/token",
    "key_set_url": f"{ISSUER}/api/lti/security/jwks",
    "token_audience": "",
}


@pytest.fixture
def app_settings(database_url, tmp_path):
    """As in production: https only (tests elsewhere allow the emulator's plain http)."""
    return settings_for(database_url, tmp_path / "instance", OUTBOUND_ALLOW_HTTP=False)


@pytest.fixture
def people(app) -> dict[str, int]:
    """acme (with one platform) and globex (with one platform), their staff."""
    with app.app_context():
        made = factories.two_tenants_with_staff()
        ids = {}
        for slug in ("acme", "globex"):
            tenant = made[slug]
            platform = services.add_platform(
                tenant,
                services.PlatformFields(
                    issuer=f"https://moodle.{slug}.example",
                    client_id=f"{slug}-client",
                    deployment_ids=["1"],
                    auth_login_url=f"https://moodle.{slug}.example/mod/lti/auth.php",
                    auth_token_url=f"https://moodle.{slug}.example/mod/lti/token.php",
                    key_set_url=f"https://moodle.{slug}.example/mod/lti/certs.php",
                    name=f"Moodle {slug}",
                ),
                actor="test",
            )
            ids[f"{slug}_platform"] = platform.id
        ids["acme_admin"] = made["acme_admin"].id
        db.session.commit()
    return ids


def sign_in(client, email: str) -> None:
    assert client.login(email, factories.PASSWORD).status_code == 302


def lti_state(app) -> dict[str, object]:
    with app.app_context():
        return {
            "platforms": db.session.scalar(select(func.count()).select_from(Platform)),
            "deployments": sorted(db.session.scalars(select(Deployment.deployment_id))),
            "events": list(
                db.session.scalars(
                    select(AuditEvent.action).where(AuditEvent.action.like("lti.%")).order_by(AuditEvent.id)
                )
            ),
        }


def test_hr_admin_sees_platforms_configuration_and_registration_url(app, client, people):
    sign_in(client, "hr@acme.example")
    overview = client.get("/console/")
    assert 'href="/console/lms"' in overview.get_data(as_text=True), "the console nav links the page"
    page = client.get("/console/lms")
    assert page.status_code == 200
    text = text_of(page)
    assert "https://moodle.acme.example" in text and "acme-client" in text
    assert "moodle.globex.example" not in text and "globex-client" not in text
    assert re.search(r'<a href="/console/lms" aria-current="page">', page.get_data(as_text=True))
    for value in (
        "http://localhost/lti/login",
        "http://localhost/lti/launch",
        "http://localhost/lti/jwks",
        "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        "course=social-media-orientation",
    ):
        assert value in text, value
    shown = re.search(r'id="dynamic-registration-url">([^<]+)<', text).group(1)
    printed = app.test_cli_runner().invoke(args=["lti", "tool-config", "--tenant", "acme"]).output
    assert f"Dynamic registration URL: {shown}" in printed, "the console and the CLI show the same URL"


def test_adding_a_platform_from_the_console(app, client, people):
    sign_in(client, "hr@acme.example")
    response = client.submit("/console/lms", FORM)
    assert response.status_code == 303, text_of(response)
    page = client.get(response.headers["Location"])
    assert "Canvas production is connected" in text_of(page)
    with app.app_context():
        platform = db.session.scalar(select(Platform).where(Platform.issuer == ISSUER))
        assert platform.tenant_id == db.session.scalar(select(Tenant.id).where(Tenant.slug == "acme"))
        assert platform.deployment_ids == ["12:8865aa05b4b79b64a91a86042e43af5ea8ae79eb", "13:abc"]
        assert platform.token_audience is None
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "lti.platform_added").order_by(AuditEvent.id.desc())
        )
        assert event.actor == f"staff:{people['acme_admin']}" and event.ip_address


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"issuer": "http://canvas.acme.example"}, "issuer", "must use https"),
        (
            {"auth_login_url": "canvas.acme.example/authorize"},
            "auth_login_url",
            "not an absolute https URL",
        ),
        ({"key_set_url": "javascript:alert(1)"}, "key_set_url", "not an absolute https URL"),
        ({"token_audience": "audience"}, "token_audience", "not an absolute https URL"),
        ({"client_id": ""}, "client_id", "This field is required."),
        ({"deployment_ids": " \n "}, "deployment_ids", "required"),
        ({"deployment_ids": "d" * 256}, "deployment_ids", "at most 255 characters"),
    ],
)
def test_a_bad_value_is_shown_next_to_its_field_and_nothing_is_saved(
    app, client, people, changes, field, message
):
    sign_in(client, "hr@acme.example")
    before = lti_state(app)
    response = client.submit("/console/lms", {**FORM, **changes})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html, html
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', html).group(1)
    assert message in unescape(error)
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="{field}"', html)
    assert lti_state(app) == before


def test_a_duplicate_platform_is_shown_on_the_client_id(app, client, people):
    sign_in(client, "hr@acme.example")
    duplicate = {**FORM, "issuer": "https://moodle.acme.example", "client_id": "acme-client"}
    before = lti_state(app)
    response = client.submit("/console/lms", duplicate)
    assert response.status_code == 409
    assert "already in use for this issuer" in text_of(response)
    assert lti_state(app) == before


def test_adding_a_deployment_to_a_platform(app, client, people):
    sign_in(client, "hr@acme.example")
    url = f"/console/lms/{people['acme_platform']}/deployments"
    added = client.submit("/console/lms", {"deployment_id": " 7 "}, action=url)
    assert added.status_code == 303
    assert "Deployment 7 added to Moodle acme" in text_of(client.get("/console/lms"))
    state = lti_state(app)
    assert state["deployments"] == ["1", "1", "7"] and state["events"][-1] == "lti.deployment_added"
    again = client.submit("/console/lms", {"deployment_id": "7"}, action=url)
    assert again.status_code == 409 and "already registered" in text_of(again)
    blank = client.submit("/console/lms", {"deployment_id": "  "}, action=url)
    assert blank.status_code == 422
    assert f'id="deployment-{people["acme_platform"]}-error"' in blank.get_data(as_text=True)
    assert lti_state(app) == state


def test_another_tenants_platform_is_not_found(app, client, people):
    sign_in(client, "hr@globex.example")
    page = text_of(client.get("/console/lms"))
    assert "moodle.globex.example" in page and "moodle.acme.example" not in page
    before = lti_state(app)
    response = client.submit(
        "/console/lms", {"deployment_id": "9"}, action=f"/console/lms/{people['acme_platform']}/deployments"
    )
    assert response.status_code == 404
    assert lti_state(app) == before


def test_auditors_can_view_but_not_change(app, client, people):
    sign_in(client, "auditor@acme.example")
    page = client.get("/console/lms")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "https://moodle.acme.example" in html and "http://localhost/lti/jwks" in html
    assert "Connect the LMS" not in html and "Add deployment" not in html
    assert "code=" not in html, "the registration code lets an LMS connect: auditors do not get it"
    token = csrf_from(html)
    before = lti_state(app)
    assert client.post("/console/lms", data={**FORM, "csrf_token": token}).status_code == 403
    url = f"/console/lms/{people['acme_platform']}/deployments"
    assert client.post(url, data={"deployment_id": "9", "csrf_token": token}).status_code == 403
    assert lti_state(app) == before


def test_a_post_without_the_csrf_token_is_refused(app, client, people):
    sign_in(client, "hr@acme.example")
    before = lti_state(app)
    response = client.post("/console/lms", data=FORM)
    assert response.status_code == 400
    assert lti_state(app) == before


def test_signed_out_visitors_are_sent_to_sign_in(client, people):
    response = client.get("/console/lms")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
