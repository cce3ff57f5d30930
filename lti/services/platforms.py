"""LMS registrations: platforms and their deployments, added from the console, the CLI or dynamic
registration; which URLs may be used; the origins an LMS shows the tool from.

Services flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from sqlalchemy import select

from lti import keys
from lti.models import Deployment, Platform
from lti.platform_cache import PlatformRecord
from training_app import audit, outbound
from training_app.edge import unsafe_character
from training_app.errors import Conflict, ValidationFailed
from training_app.extensions import db
from training_app.models import Tenant
from training_app.tenancy import get_in_tenant


@dataclass(frozen=True)
class PlatformFields:
    issuer: str
    client_id: str
    deployment_ids: list[str]
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    token_audience: str | None = None
    name: str = ""

    def normalised(self) -> PlatformFields:
        """Pasted values often carry spaces; blank deployment ids are no deployment ids."""
        return replace(
            self,
            issuer=self.issuer.strip(),
            client_id=self.client_id.strip(),
            deployment_ids=list(dict.fromkeys(d.strip() for d in self.deployment_ids if d.strip())),
            auth_login_url=self.auth_login_url.strip(),
            auth_token_url=self.auth_token_url.strip(),
            key_set_url=self.key_set_url.strip(),
            token_audience=(self.token_audience or "").strip() or None,
            name=self.name.strip(),
        )


# Column sizes (lti.models): longer values are refused with a message instead of a database error.
MAX_LENGTHS = {
    "issuer": 500,
    "client_id": 255,
    "auth_login_url": 1000,
    "auth_token_url": 1000,
    "key_set_url": 1000,
    "token_audience": 1000,
    "name": 200,
}


MAX_DEPLOYMENT_ID = 255


def add_platform(
    tenant: Tenant, fields: PlatformFields, *, actor: str, ip_address: str | None = None
) -> Platform:
    fields = fields.normalised()
    errors = validate_platform_fields(fields)
    if errors:
        raise ValidationFailed(
            "The platform registration is not valid: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
            errors=errors,
        )
    existing = db.session.scalar(
        select(Platform).where(Platform.issuer == fields.issuer, Platform.client_id == fields.client_id)
    )
    if existing is not None:  # the same answer whoever it belongs to: nothing of another tenant shows
        raise Conflict(ISSUER_AND_CLIENT_TAKEN, errors={"client_id": "already in use for this issuer"})
    platform = Platform(
        tenant_id=tenant.id,
        name=fields.name or urlsplit(fields.issuer).hostname or fields.issuer,
        issuer=fields.issuer,
        client_id=fields.client_id,
        auth_login_url=fields.auth_login_url,
        auth_token_url=fields.auth_token_url,
        key_set_url=fields.key_set_url,
        token_audience=fields.token_audience,
        deployments=[Deployment(deployment_id=d) for d in fields.deployment_ids],
    )
    db.session.add(platform)
    db.session.flush()
    keys.active_key(tenant.id)
    audit.record_event(
        tenant.id,
        actor,
        "lti.platform_added",
        subject=("lti_platform", platform.id),
        data={
            "issuer": platform.issuer,
            "client_id": platform.client_id,
            "deployment_ids": platform.deployment_ids,
        },
        ip_address=ip_address,
    )
    return platform


ISSUER_AND_CLIENT_TAKEN = (
    "A connection with this issuer and client id already exists. If it is listed on this page, add the "
    "deployment to it; otherwise register the tool in your LMS again, which gives it a new client id."
)


def validate_platform_fields(fields: PlatformFields) -> dict[str, str]:
    errors = {}
    texts = [(name, getattr(fields, name)) for name in MAX_LENGTHS]
    for name, value in [*texts, *(("deployment_id", d) for d in fields.deployment_ids)]:
        character = unsafe_character(value or "")
        if character:
            errors.setdefault(name, f"contains a control or text-direction character ({character})")
    for name in ("issuer", "auth_login_url", "auth_token_url", "key_set_url"):
        problem = url_problem(getattr(fields, name), fetched=name in FETCHED_URLS)
        if problem:
            errors[name] = problem
    if fields.token_audience and url_problem(fields.token_audience):
        errors["token_audience"] = url_problem(fields.token_audience) or ""
    if not fields.client_id.strip():
        errors["client_id"] = "required"
    for name, limit in MAX_LENGTHS.items():
        if name not in errors and len(getattr(fields, name) or "") > limit:
            errors[name] = f"at most {limit} characters"
    if not [d for d in fields.deployment_ids if d.strip()]:
        errors["deployment_id"] = "at least one deployment id is required"
    elif any(len(d) > MAX_DEPLOYMENT_ID for d in fields.deployment_ids):
        errors["deployment_id"] = f"a deployment id has at most {MAX_DEPLOYMENT_ID} characters"
    return errors


FETCHED_URLS = ("auth_token_url", "key_set_url")  # the others are identifiers or browser redirects


def url_problem(url: str, *, fetched: bool = False) -> str | None:
    """Why this URL may not be used, or None: an absolute https URL (http in development), and for
    a URL the service fetches, a destination training_app.outbound allows."""
    policy = outbound.policy()
    return outbound.host_problem(url, policy) if fetched else policy.url_problem(url)


def add_deployment(
    platform: Platform, deployment_id: str, *, actor: str, ip_address: str | None = None
) -> Deployment:
    deployment_id = deployment_id.strip()
    if not deployment_id or len(deployment_id) > MAX_DEPLOYMENT_ID:
        raise ValidationFailed(
            f"A deployment id is 1 to {MAX_DEPLOYMENT_ID} characters long.",
            errors={"deployment_id": "required" if not deployment_id else "too long"},
        )
    if deployment_id in platform.deployment_ids:
        raise Conflict(
            f"Deployment {deployment_id!r} is already registered.",
            errors={"deployment_id": "already registered"},
        )
    deployment = Deployment(platform_id=platform.id, deployment_id=deployment_id)
    platform.deployments.append(deployment)
    db.session.flush()
    audit.record_event(
        platform.tenant_id,
        actor,
        "lti.deployment_added",
        subject=("lti_platform", platform.id),
        data={"deployment_id": deployment_id},
        ip_address=ip_address,
    )
    return deployment


def tenant_platform(tenant_id: int, platform_id: int) -> Platform:
    return get_in_tenant(Platform, platform_id, tenant_id, "There is no such LMS connection.")


def platforms_of(tenant_id: int) -> list[Platform]:
    return list(
        db.session.scalars(
            select(Platform).where(Platform.tenant_id == tenant_id).order_by(Platform.created_at)
        )
    )


def platform_origins(platform: Platform | PlatformRecord) -> list[str]:
    """The origins this LMS shows the tool from: its issuer, its login page and, for Canvas, the
    school's own domain (only the dynamic registration's openid_configuration URL tells us)."""
    urls = [
        platform.issuer,
        platform.auth_login_url,
        (platform.registration or {}).get("openid_configuration"),
    ]
    return sorted(
        {f"{p.scheme}://{p.netloc}" for p in map(urlsplit, filter(None, urls)) if p.scheme and p.netloc}
    )
