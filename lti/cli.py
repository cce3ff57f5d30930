"""`flask --app wsgi lti add-platform|tool-config|rotate-key|list-platforms`."""

from __future__ import annotations

import click
from flask import Flask, current_app
from sqlalchemy import select

from lti import keys, registration, services, tool_config
from training_app.auth.services import find_tenant
from training_app.cli import TrainingGroup
from training_app.errors import ValidationFailed
from training_app.extensions import db
from training_app.models import Tenant

lti_cli = TrainingGroup(
    "lti", help="LTI 1.3: register LMS platforms, show the tool's configuration, rotate keys."
)


@lti_cli.command("add-platform")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug (see `tenants list`).")
@click.option("--issuer", required=True, help="The platform's issuer (iss), e.g. https://moodle.example.com")
@click.option("--client-id", required=True, help="The client id the LMS gave the tool.")
@click.option(
    "--deployment-id",
    "deployment_ids",
    required=True,
    multiple=True,
    help="A deployment id; repeat for several.",
)
@click.option("--auth-login-url", required=True, help="The LMS's OIDC authorization endpoint.")
@click.option("--auth-token-url", required=True, help="The LMS's OAuth2 token endpoint.")
@click.option("--key-set-url", required=True, help="The LMS's public keyset (JWKS) URL.")
@click.option(
    "--token-audience",
    default=None,
    help="Audience for the token endpoint when it differs "
    "from the token URL (Brightspace: https://api.brightspace.com/auth/token).",
)
@click.option("--name", default="", help="A label for the console, e.g. 'Moodle production'.")
def add_platform(
    tenant_slug: str,
    issuer: str,
    client_id: str,
    deployment_ids: tuple[str, ...],
    auth_login_url: str,
    auth_token_url: str,
    key_set_url: str,
    token_audience: str | None,
    name: str,
) -> None:
    """Register an LMS for a tenant."""
    tenant = find_tenant(tenant_slug)
    fields = services.PlatformFields(
        issuer=issuer,
        client_id=client_id,
        deployment_ids=list(deployment_ids),
        auth_login_url=auth_login_url,
        auth_token_url=auth_token_url,
        key_set_url=key_set_url,
        token_audience=token_audience,
        name=name,
    )
    try:
        platform = services.add_platform(tenant, fields, actor="cli")
    except ValidationFailed as exc:
        raise click.ClickException(
            "The platform was not added:\n"
            + "\n".join(f"  --{name.replace('_', '-')}: {problem}" for name, problem in exc.errors.items())
        ) from None
    db.session.commit()
    click.echo(
        f"Registered {platform.issuer} (client id {platform.client_id}) for tenant {tenant.slug} "
        f"with deployment(s) {', '.join(platform.deployment_ids)}."
    )


@lti_cli.command("tool-config")
@click.option(
    "--tenant",
    "tenant_slug",
    default=None,
    help="Also print this tenant's dynamic registration URL (its secret code is created on first use).",
)
def show_tool_config(tenant_slug: str | None) -> None:
    """Print every value an LMS administrator enters to install the tool."""
    tenant = find_tenant(tenant_slug) if tenant_slug else None
    with current_app.test_request_context(
        base_url=current_app.config.get("PUBLIC_URL") or "http://127.0.0.1:5000"
    ):
        if not current_app.config.get("PUBLIC_URL"):
            click.echo(
                "Note: TRAINING_PUBLIC_URL is not set; URLs below use http://127.0.0.1:5000.\n", err=True
            )
        dynamic_url = (
            tool_config.registration_url(tenant.slug, registration.registration_code(tenant))
            if tenant
            else None
        )
        for label, value in tool_config.values(dynamic_url).items():
            if isinstance(value, list):
                click.echo(f"{label}:")
                for item in value:
                    click.echo(f"    {item}")
            else:
                click.echo(f"{label}: {value}")
    db.session.commit()


@lti_cli.command("rotate-key")
@click.option("--tenant", "tenant_slug", default=None, help="Only this tenant (default: every tenant).")
def rotate_key(tenant_slug: str | None) -> None:
    """New signing keys; the old ones stay in the JWKS until tokens signed with them expire."""
    tenants = [find_tenant(tenant_slug)] if tenant_slug else list(db.session.scalars(select(Tenant)))
    if not tenants:
        raise click.ClickException("No tenant exists yet; there is no key to rotate.")
    for tenant in tenants:
        new, retired = keys.rotate(tenant.id)
        until = new.created_at + keys.RETIRED_KEY_GRACE
        click.echo(
            f"{tenant.slug}: new signing key {new.kid}; "
            + (
                f"{len(retired)} previous key(s) stay in /lti/jwks until {until:%Y-%m-%d %H:%M} UTC."
                if retired
                else "there was no previous key."
            )
        )
    db.session.commit()


@lti_cli.command("list-platforms")
@click.option("--tenant", "tenant_slug", required=True)
def list_platforms(tenant_slug: str) -> None:
    tenant = find_tenant(tenant_slug)
    for platform in services.platforms_of(tenant.id):
        click.echo(
            f"#{platform.id}\t{platform.issuer}\tclient {platform.client_id}\t"
            f"deployments {', '.join(platform.deployment_ids)}"
        )


def register(app: Flask) -> None:
    app.cli.add_command(lti_cli)
