"""A real LTI platform (the emulator, over HTTP on 127.0.0.1) registered with the tool under test."""

import re
from collections.abc import Iterator

import pytest

from lti import services
from tests import factories
from tests.lti_platform import LaunchDriver, Platform
from tests.lti_platform.claims import User as LtiUser
from tests.lti_platform.constants import roles_for
from training_app.extensions import db

ORIENTATION = "social-media-orientation"
ADDRESS = re.compile(r'<script src="/static/js/address\.js" data-address="([^"]+)"')


def landed_on(page: str) -> str:
    """The course overview a learner's launch answered with: the address the page gives itself in
    the browser's history (a learner's launch answers with the page, not a redirect to it)."""
    match = ADDRESS.search(page)
    assert match, page[:1000]
    return match.group(1)


@pytest.fixture
def platform() -> Iterator[Platform]:
    with Platform(flavour="moodle") as running:
        yield running


@pytest.fixture
def registered(app, platform, published):
    """Courses published, tenant acme with an HR admin, and the platform registered for acme."""
    with app.app_context():
        acme = factories.tenant("acme")
        factories.staff(acme, "hr@acme.example")
        register_platform(acme, platform)
        db.session.commit()
    return platform


def register_platform(tenant, platform: Platform):
    return services.add_platform(
        tenant,
        services.PlatformFields(
            issuer=platform.issuer,
            client_id=platform.client_id,
            deployment_ids=[platform.deployment_id],
            auth_login_url=platform.auth_url,
            auth_token_url=platform.token_url,
            key_set_url=platform.jwks_url,
            name="Emulated Moodle",
        ),
        actor="test",
    )


@pytest.fixture
def driver(client, registered) -> LaunchDriver:
    return LaunchDriver(registered, client)


def learner(sub: str = "u-ada", given: str = "Ada", family: str = "Lovelace") -> LtiUser:
    return LtiUser.named(sub, given, family, email=f"{given.lower()}@acme.example")


def learner_claims(platform: Platform, *, course: str = ORIENTATION, user: LtiUser | None = None, **kwargs):
    custom = {"course": course, **kwargs.pop("custom", {})}
    return platform.resource_link_claims(
        user or learner(),
        roles_for("moodle", "learner"),
        custom=custom,
        ags=kwargs.pop("ags", True),
        nrps=kwargs.pop("nrps", True),
        **kwargs,
    )
