"""IMS LTI Dynamic Registration: the LMS opens our registration URL, we register ourselves.

The URL an LMS administrator enters names the tenant and carries its registration code
(`/lti/register?tenant=acme&code=...`, printed by `lti tool-config --tenant` and shown in the
console); the LMS appends `openid_configuration` and `registration_token`.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import select

from lti import keys, services, tool_config
from lti.models import Deployment, Platform
from lti.services import url_problem
from training_app import audit, outbound
from training_app.errors import N_, DomainError, Forbidden
from training_app.extensions import db
from training_app.models import Tenant
from training_app.urls import external_url

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
log = logging.getLogger(__name__)
BRIGHTSPACE_TOKEN_AUDIENCE = "https://api.brightspace.com/auth/token"
CLAIMS = ["iss", "sub", "name", "given_name", "family_name", "email", "locale"]
ENDPOINTS = ("registration_endpoint", "authorization_endpoint", "token_endpoint", "jwks_uri")
FETCHED_ENDPOINTS = ("registration_endpoint", "token_endpoint", "jwks_uri")
PREFERRED_PLACEMENTS = {"LtiDeepLinkingRequest": ["ContentArea", "assignment_selection", "link_selection"]}


class RegistrationFailed(DomainError):
    status = 502
    code = "registration_failed"
    title = N_("The registration did not complete")


def current_code(tenant: Tenant) -> str | None:
    return (tenant.settings or {}).get("lti_registration_code")


def registration_code(tenant: Tenant) -> str:
    """The tenant's secret for dynamic registration URLs (created on first use)."""
    return current_code(tenant) or rotate_registration_code(tenant)


def tenant_for_registration(slug: str | None, code: str | None) -> Tenant:
    # Locked until the request ends (not against the rows that reference the tenant), so two
    # registrations with one code run one after the other and the second finds the code used.
    tenant = db.session.scalar(
        select(Tenant).where(Tenant.slug == (slug or "")).with_for_update(key_share=True)
    )
    expected = current_code(tenant) if tenant else None
    if tenant is None or not expected or not code or not hmac.compare_digest(expected, code):
        raise Forbidden(
            "This registration link is not valid. Copy the dynamic registration URL from the "
            "Postwise HR console (LMS connections) or from `flask --app wsgi lti tool-config --tenant ...`."
        )
    return tenant


def register(tenant: Tenant, openid_configuration_url: str, registration_token: str | None) -> Platform:
    """Register with the LMS; the tenant's registration code is used up (a new one replaces it),
    unless the registration fails and the request's transaction rolls back."""
    configuration = fetch_configuration(openid_configuration_url, registration_token)
    answer = post_registration(configuration, registration_token)
    platform = save_platform(tenant, configuration, answer, configuration_url=openid_configuration_url)
    rotate_registration_code(tenant)
    return platform


def rotate_registration_code(tenant: Tenant) -> str:
    code = secrets.token_urlsafe(18)
    tenant.settings = {**(tenant.settings or {}), "lti_registration_code": code}
    db.session.flush()
    return code


def fetch_configuration(url: str, token: str | None) -> dict[str, Any]:
    if outbound.policy().url_problem(url):
        raise RegistrationFailed(
            "The LMS did not send a valid openid_configuration URL (an absolute https URL).", status=400
        )
    # Used as given: Canvas already put the registration token in its query string.
    headers = {"Accept": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    configuration = _json_call("GET", url, headers=headers, what="the LMS's configuration")
    missing = [k for k in ("issuer", *ENDPOINTS) if not configuration.get(k)]
    if missing:
        raise RegistrationFailed(f"The LMS's configuration ({url}) lacks {', '.join(missing)}.")
    problems = {k: _url_problem(k, configuration[k]) for k in ("issuer", *ENDPOINTS)}
    invalid = {k: problem for k, problem in problems.items() if problem}
    if invalid:
        names, details = ", ".join(invalid), "; ".join(invalid.values())
        raise RegistrationFailed(f"The LMS's configuration ({url}) has invalid {names}: {details}")
    if not isinstance(configuration.get(PLATFORM_CONFIGURATION), dict):
        raise RegistrationFailed(
            f"The LMS's configuration ({url}) does not describe an LTI platform ({PLATFORM_CONFIGURATION})."
        )
    return configuration


def _url_problem(name: str, value: Any) -> str | None:
    limit = services.MAX_LENGTHS["issuer" if name == "issuer" else "key_set_url"]
    if isinstance(value, str) and len(value) > limit:
        return f"{name} is longer than {limit} characters"
    return url_problem(str(value), fetched=name in FETCHED_ENDPOINTS)


def placements(configuration: dict[str, Any], message_type: str) -> list[str]:
    """Our preferred placements the platform offers for this message type (Moodle: ContentArea;
    Canvas: its own names, and it refuses ones it does not know)."""
    offered: set[str] = set()
    for message in configuration[PLATFORM_CONFIGURATION].get("messages_supported") or []:
        # Older Moodle releases list plain strings instead of objects.
        if isinstance(message, dict) and message.get("type") == message_type:
            offered.update(message.get("placements") or [])
    return [p for p in PREFERRED_PLACEMENTS.get(message_type, []) if p in offered]


def tool_registration(configuration: dict[str, Any]) -> dict[str, Any]:
    launch = tool_config.launch_url()
    supported = configuration.get("scopes_supported")
    scopes = [s for s in tool_config.SCOPES if not supported or s in supported]
    deep_linking: dict[str, Any] = {
        "type": "LtiDeepLinkingRequest",
        "target_link_uri": launch,
        "label": "Postwise training",
    }
    offered = placements(configuration, "LtiDeepLinkingRequest")
    if offered:
        deep_linking["placements"] = offered
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": external_url("lti.login"),
        "redirect_uris": [launch],
        "client_name": tool_config.TOOL_NAME,
        "jwks_uri": external_url("lti.jwks"),
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(scopes),
        TOOL_CONFIGURATION: {
            # Moodle refuses a domain that is not host[:port] of target_link_uri.
            "domain": urlsplit(launch).netloc,
            "target_link_uri": launch,
            "description": tool_config.TOOL_DESCRIPTION,
            "claims": CLAIMS,
            "messages": [{"type": "LtiResourceLinkRequest", "target_link_uri": launch}, deep_linking],
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
    tool_answer = answer.get(TOOL_CONFIGURATION)
    deployment_id = tool_answer.get("deployment_id") if isinstance(tool_answer, dict) else None
    if len(str(answer["client_id"])) > 255 or len(str(deployment_id or "")) > services.MAX_DEPLOYMENT_ID:
        raise RegistrationFailed("The LMS answered a client id or deployment id longer than 255 characters.")
    return answer


def save_platform(
    tenant: Tenant, configuration: dict[str, Any], answer: dict[str, Any], *, configuration_url: str
) -> Platform:
    issuer, client_id = configuration["issuer"], str(answer["client_id"])
    tool_answer = answer.get(TOOL_CONFIGURATION)
    deployment_id = tool_answer.get("deployment_id") if isinstance(tool_answer, dict) else None
    platform = db.session.scalar(
        select(Platform).where(Platform.issuer == issuer, Platform.client_id == client_id)
    )
    if platform is not None and platform.tenant_id != tenant.id:
        raise RegistrationFailed(services.ISSUER_AND_CLIENT_TAKEN, status=409)
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
    platform.registration = {
        "answer": answer,
        "openid_configuration": configuration_url,
        "accept_first_deployment": deployment_id is None,
    }
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
    """The LMS's JSON answer. What the LMS answered is logged, never shown: the page must not
    become a way to read other servers, and every unreachable or refused address reads the same."""
    try:
        response = outbound.session().request(method, url, headers=headers, json=body, timeout=15)
    except (requests.RequestException, outbound.DestinationRefused) as exc:
        log.info("registration call failed", extra={"url": url, "error": str(exc)[:300]})
        raise RegistrationFailed(_unreachable(what)) from None
    if response.status_code >= 400:
        log.info(
            "registration refused by the LMS",
            extra={"url": url, "status": response.status_code, "answer": response.text[:300]},
        )
        raise RegistrationFailed(
            f"Your LMS refused {what} (HTTP {response.status_code}). Start the registration again "
            "from the LMS; if it fails again, your LMS's logs say why.",
            errors={"lms_status": str(response.status_code)},
        )
    try:
        data = response.json()
    except ValueError:
        raise RegistrationFailed(f"Your LMS answered {what} with something that is not JSON.") from None
    if not isinstance(data, dict):
        raise RegistrationFailed(f"Your LMS answered {what} with unexpected JSON.")
    return data


def _unreachable(what: str) -> str:
    return (
        f"Could not reach your LMS for {what}. The LMS must be reachable at a public https address "
        "(an LMS on an internal network needs its host in TRAINING_OUTBOUND_ALLOWED_HOSTS)."
    )
