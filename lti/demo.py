"""Demo data: acme's Moodle, registered as an LMS administrator would (it is not reachable)."""

from __future__ import annotations

from sqlalchemy import select

from lti import services
from lti.models import Platform
from training_app.demo import DemoContext
from training_app.extensions import db

DEMO_MOODLE = services.PlatformFields(
    issuer="https://moodle.acme.example",
    client_id="aB3dE5fG7hJ9kLm",
    deployment_ids=["3"],
    auth_login_url="https://moodle.acme.example/mod/lti/auth.php",
    auth_token_url="https://moodle.acme.example/mod/lti/token.php",
    key_set_url="https://moodle.acme.example/mod/lti/certs.php",
    name="Acme Moodle (demo)",
)


def register_demo_lms(context: DemoContext) -> None:
    acme = context.tenants.get("acme")
    known = db.session.scalar(select(Platform.id).where(Platform.issuer == DEMO_MOODLE.issuer))
    if acme is not None and known is None:
        services.add_platform(acme, DEMO_MOODLE, actor="demo")
        context.lines.append(f"LMS connection: {DEMO_MOODLE.name} ({DEMO_MOODLE.issuer}).")
