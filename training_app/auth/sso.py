"""Staff single sign-on with OpenID Connect: each tenant's connection, and who a provider's answer
signs in. Services flush, never commit.

- Accounts are matched by a verified email within the tenant; roles stay in the product, and an
  unknown email is refused (single sign-on never creates an account).
- The client secret is encrypted with a key derived from SECRET_KEY (and SECRET_KEY_FALLBACKS,
  so the key can rotate): the provider needs it in clear, so a hash would not do, and a database
  copy alone does not give it away. It is never shown again after saving.
- Password sign-in can be turned off per tenant, only by someone signed in with single sign-on
  (proof it works for them); `flask --app wsgi sso allow-passwords` turns it back on (break-glass).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext
from sqlalchemy import func, select

from training_app import audit, sealing
from training_app.auth import oidc
from training_app.auth.models import SsoConnection
from training_app.auth.services import generate_password, hash_password, normalise_email
from training_app.edge import check_text
from training_app.errors import N_, DomainError, NotFound, ValidationFailed
from training_app.extensions import db
from training_app.models import StaffAccount, Tenant

SEALING_PURPOSE = "sso client secret"  # training_app.sealing


class SsoRefused(DomainError):
    """The provider's answer signs no one in; `reason` is what the audit log records."""

    status = 403
    code = "sso_refused"
    title = N_("Single sign-on refused")

    def __init__(self, reason: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.reason = reason


class SsoUnavailable(DomainError):
    status = 503
    code = "sso_unavailable"
    title = N_("Single sign-on unavailable")


@dataclass(frozen=True)
class ConnectionFields:
    provider_name: str
    issuer: str
    client_id: str
    client_secret: str = ""  # empty: keep the saved one
    allowed_email_domain: str = ""
    password_sign_in: bool = True


@dataclass
class SavedConnection:
    connection: SsoConnection
    changed: list[str] = field(default_factory=list)


def connection_of(tenant_id: int) -> SsoConnection | None:
    return db.session.get(SsoConnection, tenant_id)


def tenant_with_sso(slug: str) -> tuple[Tenant, SsoConnection]:
    """The tenant and its connection, or a 404 that does not say which of the two is missing."""
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    connection = connection_of(tenant.id) if tenant else None
    if tenant is None or connection is None:
        raise NotFound(
            gettext("This organisation has no single sign-on. Sign in with your email and password.")
        )
    return tenant, connection


def password_sign_in_allowed(tenant_id: int) -> bool:
    connection = connection_of(tenant_id)
    return connection is None or connection.password_sign_in


# --- the client secret -------------------------------------------------------------------------


def seal_secret(secret: str) -> str:
    return sealing.seal(SEALING_PURPOSE, secret)


def client_secret(connection: SsoConnection) -> str:
    try:
        return sealing.unseal(SEALING_PURPOSE, connection.client_secret_sealed)
    except sealing.SecretUnreadable:
        raise SsoUnavailable(
            gettext(
                "The single sign-on client secret cannot be read (the server's SECRET_KEY changed). "
                "An HR administrator can enter it again in the console; until then, sign in with a password."
            )
        ) from None


# --- configuration ------------------------------------------------------------------------------


def save_connection(
    tenant: Tenant,
    fields: ConnectionFields,
    *,
    actor: str,
    signed_in_with_sso: bool,
    ip_address: str | None = None,
) -> SavedConnection:
    """Create or change the tenant's connection after its discovery document checks out.
    ValidationFailed names each field to fix; nothing is written then."""
    existing = connection_of(tenant.id)
    cleaned = _cleaned(fields, needs_secret=existing is None)
    turning_passwords_off = not cleaned.password_sign_in and (existing is None or existing.password_sign_in)
    if turning_passwords_off and not signed_in_with_sso:
        raise ValidationFailed(
            gettext(
                "Sign in with %(provider)s once (sign out, then use your organisation's single sign-on "
                "address) before turning password sign-in off: that proves it works for you.",
                provider=cleaned.provider_name,
            ),
            errors={"password_sign_in": gettext("sign in with single sign-on first")},
        )
    try:
        metadata = oidc.discover(cleaned.issuer)
    except oidc.DiscoveryFailed as failed:
        raise ValidationFailed(str(failed), errors={"issuer": str(failed)}) from None
    values: dict[str, Any] = {
        "provider_name": cleaned.provider_name,
        "issuer": metadata["issuer"],
        "client_id": cleaned.client_id,
        "allowed_email_domain": cleaned.allowed_email_domain or None,
        "password_sign_in": cleaned.password_sign_in,
    }
    connection = existing or SsoConnection(tenant_id=tenant.id)
    changed = [name for name, value in values.items() if getattr(connection, name) != value]
    for name, value in values.items():
        setattr(connection, name, value)
    if cleaned.client_secret:
        connection.client_secret_sealed = seal_secret(cleaned.client_secret)
        changed.append("client_secret")
    connection.updated_by = actor
    if existing is None:
        db.session.add(connection)
    db.session.flush()
    oidc.forget_metadata(connection.issuer)
    if changed:
        audit.record_event(
            tenant.id,
            actor,
            "sso.configured" if existing is None else "sso.changed",
            subject=("sso_connection", tenant.id),
            data={"changed": changed, **{k: v for k, v in values.items() if k in changed}},
            ip_address=ip_address,
        )
    return SavedConnection(connection, changed)


def _cleaned(fields: ConnectionFields, *, needs_secret: bool) -> ConnectionFields:
    check_text({"provider_name": fields.provider_name, "client_id": fields.client_id})
    errors: dict[str, str] = {}
    provider_name = fields.provider_name.strip()
    issuer = fields.issuer.strip().rstrip("/")
    client_id = fields.client_id.strip()
    domain = fields.allowed_email_domain.strip().lower().lstrip("@")
    if not provider_name:
        errors["provider_name"] = gettext("enter the name people know it by, e.g. Okta")
    if not issuer:
        errors["issuer"] = gettext("enter the issuer URL")
    if not client_id:
        errors["client_id"] = gettext("enter the client id")
    if needs_secret and not fields.client_secret.strip():
        errors["client_secret"] = gettext("enter the client secret")
    if domain and ("@" in domain or "." not in domain or " " in domain):
        errors["allowed_email_domain"] = gettext("a domain like example.com")
    if errors:
        raise ValidationFailed(gettext("Some fields need attention."), errors=errors)
    return ConnectionFields(
        provider_name, issuer, client_id, fields.client_secret.strip(), domain, fields.password_sign_in
    )


def remove_connection(tenant: Tenant, *, actor: str, ip_address: str | None = None) -> None:
    """Single sign-on off: password sign-in works again for everyone of the tenant."""
    connection = connection_of(tenant.id)
    if connection is None:
        return
    db.session.delete(connection)
    db.session.flush()
    oidc.forget_metadata(connection.issuer)
    audit.record_event(
        tenant.id,
        actor,
        "sso.removed",
        subject=("sso_connection", tenant.id),
        data={"issuer": connection.issuer},
        ip_address=ip_address,
    )


def allow_passwords(tenant: Tenant, *, reset_email: str | None = None) -> str | None:
    """Break-glass, from the command line: password sign-in on again for the tenant and, for one
    account, a new password (returned, to be shown once). Every session of that account ends."""
    connection = connection_of(tenant.id)
    if connection is not None and not connection.password_sign_in:
        connection.password_sign_in = True
        connection.updated_by = "cli"
        audit.record_event(
            tenant.id,
            "cli",
            "sso.changed",
            subject=("sso_connection", tenant.id),
            data={"changed": ["password_sign_in"], "password_sign_in": True, "reason": "break-glass"},
        )
    if reset_email is None:
        db.session.flush()
        return None
    account = db.session.scalar(
        select(StaffAccount).where(
            StaffAccount.tenant_id == tenant.id, StaffAccount.email == normalise_email(reset_email)
        )
    )
    if account is None:
        raise NotFound(f"{reset_email} has no staff account in {tenant.slug}.")
    password = generate_password()
    account.password_hash = hash_password(password)
    account.end_sessions()
    audit.record_event(
        tenant.id,
        "cli",
        "staff.password_reset",
        subject=("staff", account.id),
        data={"reason": "break-glass"},
    )
    db.session.flush()
    return password


# --- signing in ---------------------------------------------------------------------------------


def account_for(tenant: Tenant, connection: SsoConnection, claims: dict[str, Any]) -> StaffAccount:
    """The tenant's active staff account with the provider's verified email; SsoRefused else."""
    email = str(claims.get("email") or "").strip().lower()
    if not email:
        raise SsoRefused(
            "no email",
            gettext(
                "%(provider)s did not tell us your email address. Ask your IT team to release the "
                "email claim (scope 'email') to this application.",
                provider=connection.provider_name,
            ),
        )
    if not _verified(claims):
        raise SsoRefused(
            "email not verified",
            gettext(
                "%(provider)s says your email address %(email)s is not verified. Verify it there, "
                "then sign in again.",
                provider=connection.provider_name,
                email=email,
            ),
        )
    domain = connection.allowed_email_domain
    if domain and email.rpartition("@")[2] != domain:
        raise SsoRefused(
            "email domain not allowed",
            gettext(
                "%(organisation)s signs in staff with %(domain)s addresses only; you signed in as %(email)s.",
                organisation=tenant.name,
                domain=domain,
                email=email,
            ),
        )
    account = db.session.scalar(
        select(StaffAccount).where(
            StaffAccount.tenant_id == tenant.id, func.lower(StaffAccount.email) == email
        )
    )
    if account is None:
        raise SsoRefused(
            "unknown email",
            gettext(
                "There is no staff account for %(email)s at %(organisation)s. An HR administrator "
                "of %(organisation)s can add you in the console (Staff); single sign-on does not "
                "create accounts.",
                email=email,
                organisation=tenant.name,
            ),
        )
    if not account.active:
        raise SsoRefused(
            "account deactivated",
            gettext(
                "Your staff account at %(organisation)s is deactivated. Ask an HR administrator "
                "to reactivate it.",
                organisation=tenant.name,
            ),
        )
    return account


def _verified(claims: dict[str, Any]) -> bool:
    """`email_verified` true; Microsoft Entra ID sends none for work accounts, so there its
    optional claim `xms_edov` (the email's domain is verified by the directory) stands in."""
    verified = claims.get("email_verified")
    if verified is None:
        verified = claims.get("xms_edov")
    return verified is True or verified == "true"


def record_refusal(
    tenant: Tenant, reason: str, *, email: str | None = None, ip_address: str | None = None
) -> None:
    data: dict[str, Any] = {"method": "sso", "reason": reason}
    if email:
        data["email"] = email[:320]
    audit.record_event(
        tenant.id,
        "anonymous",
        "staff.sso_refused",
        subject=("sso_connection", tenant.id),
        data=data,
        ip_address=ip_address,
    )


def split_by_password_sign_in(
    accounts: list[StaffAccount], *, ip_address: str | None = None
) -> tuple[list[StaffAccount], list[StaffAccount]]:
    """The accounts whose tenant lets them sign in with a password, and those whose tenant signs
    in with single sign-on only (each such attempt is an audit event of that tenant)."""
    allowed: list[StaffAccount] = []
    refused: list[StaffAccount] = []
    for account in accounts:
        (allowed if password_sign_in_allowed(account.tenant_id) else refused).append(account)
    for account in refused:
        audit.record_event(
            account.tenant_id,
            "anonymous",
            "staff.sign_in_failed",
            subject=("staff", account.id),
            data={"reason": "password sign-in is off: single sign-on only"},
            ip_address=ip_address,
        )
    return allowed, refused
