"""Staff single sign-on pages: the tenant's sign-in address, the OpenID Connect round trip, the
console page that configures it, and `flask --app wsgi sso ...` (the break-glass).

The sign-in page learns the tenant from its address, /login/sso/<tenant slug>: the password form
(/login) asks for an email only, and looking the email up before a password is checked would tell
anyone which addresses have staff accounts. The console shows the address to give staff.
"""

from __future__ import annotations

from typing import Any

import click
import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from joserfc.errors import JoseError
from markupsafe import Markup

from training_app import outbound
from training_app.auth import oidc, sso
from training_app.auth.access import staff_required
from training_app.auth.forms import SsoConnectionForm, SsoRemoveForm
from training_app.auth.models import SsoConnection
from training_app.auth.services import find_tenant
from training_app.auth.signing_in import same_site_path, signed_in_with_sso, start_staff_session
from training_app.errors import DomainError
from training_app.extensions import db, keep_writes_of_this_refusal, limiter
from training_app.models import StaffAccount, Tenant
from training_app.urls import external_url

bp = Blueprint("sso", __name__, cli_group="sso")

NEXT_KEY = "sso_next"
# After a single sign-on, this browser's password page offers that organisation's provider.
REMEMBERED = "sso_organisation"
REMEMBER_FOR = 365 * 24 * 3600
TOO_MANY = "Too many sign-in attempts from your address. Wait a minute, then try again."


def _sso_limit() -> str:
    return current_app.config["SSO_RATE_LIMIT"]


# --- signing in -----------------------------------------------------------------------------------


@bp.get("/login/sso/<tenant_slug>")
def login(tenant_slug: str):
    tenant, connection = sso.tenant_with_sso(tenant_slug)
    return render_template("auth/sso_login.html", tenant=tenant, connection=connection)


@bp.get("/login/sso/<tenant_slug>/start")
@limiter.limit(_sso_limit, error_message=TOO_MANY)
def start(tenant_slug: str):
    tenant, connection = sso.tenant_with_sso(tenant_slug)
    try:
        client = oidc.client_for(connection, sso.client_secret(connection))
        redirect_uri = external_url("auth.sso.callback", tenant_slug=tenant.slug)
        response = client.authorize_redirect(redirect_uri)
    except sso.SsoUnavailable as unavailable:
        return _refused_page(tenant, connection, unavailable)
    except (oidc.DiscoveryFailed, outbound.DestinationRefused, requests.RequestException):
        return _refused_page(tenant, connection, _unreachable(connection))
    next_target = same_site_path(request.args.get("next", ""))
    if next_target:
        session[NEXT_KEY] = next_target
    return response


@bp.get("/login/sso/<tenant_slug>/callback")
@limiter.limit(_sso_limit, error_message=TOO_MANY)
def callback(tenant_slug: str):
    tenant, connection = sso.tenant_with_sso(tenant_slug)
    next_target = session.get(NEXT_KEY)
    claims: dict[str, Any] = {}
    try:
        claims = _provider_claims(connection)
        account = sso.account_for(tenant, connection, claims)
    except sso.SsoRefused as refused:
        sso.record_refusal(tenant, refused.reason, email=claims.get("email"), ip_address=request.remote_addr)
        keep_writes_of_this_refusal()  # the audit event, and the state used up
        return _refused_page(tenant, connection, refused)
    start_staff_session(account, method="sso", data={"method": "sso", "issuer": connection.issuer})
    response = redirect(same_site_path(next_target or "") or url_for("reports.console"))
    response.set_cookie(
        REMEMBERED,
        tenant.slug,
        max_age=REMEMBER_FOR,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
    )
    return response


@bp.app_template_global("remembered_single_sign_on")
def remembered_single_sign_on() -> tuple[Tenant, SsoConnection] | None:
    """The organisation this browser last signed in to with single sign-on, if it still has it
    (the password page's "Sign in with <provider>" button)."""
    slug = request.cookies.get(REMEMBERED, "")
    if not slug or len(slug) > 64:
        return None
    try:
        return sso.tenant_with_sso(slug)
    except DomainError:
        return None


def _provider_claims(connection: SsoConnection) -> dict[str, Any]:
    """The verified ID token's claims, completed from the userinfo endpoint when the token names
    no email (a provider may put only `sub` in it). SsoRefused says what went wrong."""
    provider = connection.provider_name
    try:
        client = oidc.client_for(connection, sso.client_secret(connection))
        token = client.authorize_access_token()
        claims = dict(token.get("userinfo") or {})
        if not claims:
            raise sso.SsoRefused(
                "no id token",
                _("%(provider)s answered without an ID token. Start again.", provider=provider),
                status=400,
            )
        if "email" not in claims or not ({"email_verified", "xms_edov"} & claims.keys()):
            claims = _with_userinfo(client, token, claims)
        oidc.remember_key_set(client)
        return claims
    except MismatchingStateError:
        raise sso.SsoRefused(
            "state not recognised",
            _(
                "This sign-in was not started in this browser, took longer than ten minutes, or was "
                "already used. Start again."
            ),
            status=400,
        ) from None
    except OAuthError as error:
        raise sso.SsoRefused(
            f"provider refused: {error.error}"[:100],
            _(
                "%(provider)s did not sign you in (%(error)s). Start again; if it happens again, "
                "ask your IT team to check the application's set-up.",
                provider=provider,
                error=error.error,
            ),
            status=400,
        ) from None
    except JoseError as error:
        raise sso.SsoRefused(
            f"id token invalid: {error.description or error.error}"[:100],
            _("The sign-in answer from %(provider)s did not check out. Start again.", provider=provider),
            status=400,
        ) from None
    except (oidc.DiscoveryFailed, outbound.DestinationRefused, requests.RequestException):
        raise _unreachable(connection) from None


def _with_userinfo(client, token, claims: dict[str, Any]) -> dict[str, Any]:
    userinfo = dict(client.userinfo(token=token))
    if userinfo.get("sub") != claims.get("sub"):  # OpenID Connect Core 5.3.2
        raise sso.SsoRefused(
            "userinfo for another subject", _("The sign-in answer did not check out. Start again.")
        )
    return {**claims, **userinfo}


def _unreachable(connection: SsoConnection) -> sso.SsoRefused:
    return sso.SsoRefused(
        "provider unreachable",
        _(
            "%(provider)s could not be reached. Try again in a few minutes.",
            provider=connection.provider_name,
        ),
        status=502,
    )


def _refused_page(tenant: Tenant, connection: SsoConnection, error: DomainError):
    return render_template(
        "auth/sso_refused.html",
        tenant=tenant,
        connection=connection,
        title=_(error.title),
        message=error.message,
        status=error.status,
    ), error.status


def use_single_sign_on(account: StaffAccount) -> Markup:
    """The password form's answer to staff whose organisation signs in with single sign-on only."""
    tenant = db.session.get(Tenant, account.tenant_id)
    connection = sso.connection_of(account.tenant_id)
    provider = connection.provider_name if connection else ""
    return Markup('{} <a href="{}">{}</a>').format(
        _(
            "%(organisation)s signs in with %(provider)s, not with a password.",
            organisation=tenant.name,
            provider=provider,
        ),
        url_for("auth.sso.login", tenant_slug=tenant.slug),
        _("Sign in with %(provider)s", provider=provider),
    )


# --- the console page -----------------------------------------------------------------------------


@bp.get("/console/sso")
@staff_required()
def settings():
    return _settings_page()


@bp.post("/console/sso")
@staff_required(role="hr_admin")
def save_settings():
    form = SsoConnectionForm()
    if not form.validate_on_submit():
        return _settings_page(form, status=422)
    tenant = db.session.get(Tenant, current_user.tenant_id)
    fields = sso.ConnectionFields(
        provider_name=form.provider_name.data,
        issuer=form.issuer.data,
        client_id=form.client_id.data,
        client_secret=form.client_secret.data or "",
        allowed_email_domain=form.allowed_email_domain.data or "",
        password_sign_in=form.password_sign_in.data,
    )
    try:
        saved = sso.save_connection(
            tenant,
            fields,
            actor=f"staff:{current_user.id}",
            signed_in_with_sso=signed_in_with_sso(),
            ip_address=request.remote_addr,
        )
    except DomainError as exc:
        for name, problem in exc.errors.items():
            getattr(form, name).errors.append(problem)
        return _settings_page(form, message=exc.message, status=exc.status)
    if saved.changed:
        flash(_("Single sign-on is saved. Its discovery document checked out."), "success")
    return redirect(url_for("auth.sso.settings"), 303)


@bp.post("/console/sso/remove")
@staff_required(role="hr_admin")
def remove():
    form = SsoRemoveForm()
    if not form.validate_on_submit():
        return _settings_page(remove_form=form, status=422)
    tenant = db.session.get(Tenant, current_user.tenant_id)
    sso.remove_connection(tenant, actor=f"staff:{current_user.id}", ip_address=request.remote_addr)
    flash(_("Single sign-on is off. Staff sign in with their email and password."), "success")
    return redirect(url_for("auth.sso.settings"), 303)


def _settings_page(
    form: SsoConnectionForm | None = None,
    remove_form: SsoRemoveForm | None = None,
    message: str | None = None,
    status: int = 200,
):
    tenant = db.session.get(Tenant, current_user.tenant_id)
    connection = sso.connection_of(tenant.id)
    if form is None:
        form = SsoConnectionForm(formdata=None, obj=connection)
    return render_template(
        "auth/sso_settings.html",
        tenant=tenant,
        connection=connection,
        form=form,
        remove_form=remove_form or SsoRemoveForm(formdata=None),
        message=message,
        redirect_uri=external_url("auth.sso.callback", tenant_slug=tenant.slug),
        sign_in_url=external_url("auth.sso.login", tenant_slug=tenant.slug),
        start_url=external_url("auth.sso.start", tenant_slug=tenant.slug),
    ), status


# --- break-glass ----------------------------------------------------------------------------------


@bp.cli.command("allow-passwords")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug (see `tenants list`).")
@click.option(
    "--reset-password-for",
    "email",
    default=None,
    help="Also give this staff account a new password, printed once (its sessions end).",
)
def allow_passwords_command(tenant_slug: str, email: str | None) -> None:
    """Break-glass: turn password sign-in back on for a tenant whose identity provider is down."""
    try:
        tenant = find_tenant(tenant_slug)
        password = sso.allow_passwords(tenant, reset_email=email)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"Password sign-in is on for {tenant.slug}: staff can sign in at /login with their password.")
    if password:
        click.echo(f"New password for {email} (shown once): {password}")
    click.echo("Turn it off again in the console (Single sign-on) once the identity provider works.")


@bp.cli.command("status")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant slug (see `tenants list`).")
def status_command(tenant_slug: str) -> None:
    """Show a tenant's single sign-on set-up (never its client secret)."""
    try:
        tenant = find_tenant(tenant_slug)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    connection = sso.connection_of(tenant.id)
    if connection is None:
        click.echo(f"{tenant.slug}: no single sign-on; staff sign in with a password.")
        return
    click.echo(f"{tenant.slug}: {connection.provider_name}, issuer {connection.issuer}")
    click.echo(f"client id: {connection.client_id}")
    click.echo(f"allowed email domain: {connection.allowed_email_domain or 'any'}")
    click.echo(f"password sign-in: {'on' if connection.password_sign_in else 'off'}")
    click.echo(f"redirect URI: {external_url('auth.sso.callback', tenant_slug=tenant.slug)}")
