"""IMS LTI Dynamic Registration: the LMS opens our registration URL, we register ourselves.

The URL an LMS administrator enters names the tenant and carries its registration code
(`/lti/register?tenant=acme&code=...`, printed by `lti tool-config --tenant` and shown in the
console); the LMS appends `openid_configuration` and `registration_token`.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import select

from lti import keys, tool_config
from lti.models import Deployment, Platform
from training_app import audit
from training_app.errors import DomainError, Forbidden
from training_app.extensions import db
from training_app.models import Tenant

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
BRIGHTSPACE_TOKEN_AUDIENCE = "https://api.brightspace.com/auth/token"
CLAIMS = ["iss", "sub", "name", "given_name", "family_name", "email", "locale"]
_http = requests.Session()


class RegistrationFailed(DomainError):
    status = 502
    code = "registration_failed"
    title = "The registration did not complete"


def registration_code(tenant: Tenant) -> str:
    """The tenant's secret for dynamic registration URLs (created on first use)."""
    code = (tenant.settings or {}).get("lti_registration_code")
    if not code:
        code = secrets.token_urlsafe(18)
        tenant.settings = {**(tenant.settings or {}), "lti_registration_code": code}
        db.session.flush()
    return code


def tenant_for_registration(slug: str | None, code: str | None) -> Tenant:
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == (slug or "")))
    expected = (tenant.settings or {}).get("lti_registration_code") if tenant else None
    if tenant is None or not expected or not code or not hmac.compare_digest(expected, code):
        raise Forbidden(
            "This registration link is not valid. Copy the dynamic registration URL from the "
            "Postwise HR console (LMS settings) or from `flask --app wsgi lti tool-config --tenant ...`."
        )
    return tenant


def register(tenant: Tenant, openid_configuration_url: str, registration_token: str | None) -> Platform:
    configuration = fetch_configuration(openid_configuration_url, registration_token)
    answer = post_registration(configuration, registration_token)
    return save_platform(tenant, configuration, answer)


def fetch_configuration(url: str, token: str | None) -> dict[str, Any]:
    if urlsplit(url or "").scheme not in ("http", "https"):
        raise RegistrationFailed("The LMS did not send a valid openid_configuration URL.", status=400)
    headers = {"Accept": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    configuration = _json_call("GET", url, headers=headers, what="the LMS's configuration")
    missing = [
        k
        for k in ("issuer", "registration_endpoint", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if not configuration.get(k)
    ]
    if missing:
        raise RegistrationFailed(f"The LMS's configuration lacks {', '.join(missing)}.")
    if PLATFORM_CONFIGURATION not in configuration:
        raise RegistrationFailed("The LMS's configuration does not describe an LTI platform.")
    return configuration


def tool_registration(configuration: dict[str, Any]) -> dict[str, Any]:
    launch = tool_config.launch_url()
    supported = configuration.get("scopes_supported")
    scopes = [s for s in tool_config.SCOPES if not supported or s in supported]
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": tool_config.base_url() + "/lti/login",
        "redirect_uris": [launch],
        "client_name": tool_config.TOOL_NAME,
        "jwks_uri": tool_config.base_url() + "/lti/jwks",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(scopes),
        TOOL_CONFIGURATION: {
            "domain": urlsplit(launch).netloc,
            "target_link_uri": launch,
            "description": tool_config.TOOL_DESCRIPTION,
            "claims": CLAIMS,
            "messages": [
                {"type": "LtiResourceLinkRequest", "target_link_uri": launch},
                {
                    "type": "LtiDeepLinkingRequest",
                    "target_link_uri": launch,
                    "label": "Postwise training",
                    "placements": ["ContentArea"],
                },
            ],
        },
    }


def post_registration(configuration: dict[str, Any], token: str | None) -> dict[str, Any]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        **({"Authorization": f"Bearer {token}"} if token else {}),
    }
    answer = _json_call(
        "POST",
        configuration["registration_endpoint"],
        headers=headers,
        body=tool_registration(configuration),
        what="the registration",
    )
    if not answer.get("client_id"):
        raise RegistrationFailed("The LMS accepted the registration but returned no client id.")
    return answer


def save_platform(tenant: Tenant, configuration: dict[str, Any], answer: dict[str, Any]) -> Platform:
    issuer, client_id = configuration["issuer"], str(answer["client_id"])
    deployment_id = answer.get(TOOL_CONFIGURATION, {}).get("deployment_id")
    platform = db.session.scalar(
        select(Platform).where(Platform.issuer == issuer, Platform.client_id == client_id)
    )
    if platform is not None and platform.tenant_id != tenant.id:
        raise Forbidden("This LMS registration belongs to another organisation.")
    if platform is None:
        platform = Platform(
            tenant_id=tenant.id,
            issuer=issuer,
            client_id=client_id,
            auth_login_url="",
            auth_token_url="",
            key_set_url="",
        )
        db.session.add(platform)
    family = configuration.get(PLATFORM_CONFIGURATION, {}).get("product_family_code")
    platform.name = platform.name or f"{family or 'LMS'} · {urlsplit(issuer).hostname}"
    platform.auth_login_url = configuration["authorization_endpoint"]
    platform.auth_token_url = configuration["token_endpoint"]
    platform.key_set_url = configuration["jwks_uri"]
    platform.token_audience = BRIGHTSPACE_TOKEN_AUDIENCE if family == "desire2learn" else None
    platform.product_family = family
    platform.registration = {"answer": answer, "accept_first_deployment": deployment_id is None}
    if deployment_id is not None and str(deployment_id) not in platform.deployment_ids:
        platform.deployments.append(Deployment(deployment_id=str(deployment_id)))
    db.session.flush()
    keys.active_key(tenant.id)
    audit.record_event(
        tenant.id,
        "lti-registration",
        "lti.platform_registered",
        subject=("lti_platform", platform.id),
        data={
            "issuer": issuer,
            "client_id": client_id,
            "product_family": family,
            "deployment_id": deployment_id,
        },
    )
    return platform


def _json_call(
    method: str, url: str, *, headers: dict[str, str], what: str, body: Any = None
) -> dict[str, Any]:
    try:
        response = _http.request(method, url, headers=headers, json=body, timeout=15)
    except requests.RequestException as exc:
        raise RegistrationFailed(f"Could not reach your LMS for {what} ({type(exc).__name__}).") from None
    if response.status_code >= 400:
        raise RegistrationFailed(f"Your LMS refused {what} ({response.status_code}): {response.text[:300]}")
    try:
        data = response.json()
    except ValueError:
        raise RegistrationFailed(f"Your LMS answered {what} with something that is not JSON.") from None
    if not isinstance(data, dict):
        raise RegistrationFailed(f"Your LMS answered {what} with unexpected JSON.")
    return data
