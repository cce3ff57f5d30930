"""Everything an LMS administrator enters to install the tool, from one place."""

from __future__ import annotations

from typing import Any

from training_app.urls import base_url, external_url

TOOL_NAME = "Postwise social media policy training"
TOOL_DESCRIPTION = (
    "Orientation and annual refresher training on the company's social media policy, "
    "with a policy attestation, a graded quiz and a certificate."
)
SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
]
# Only substitution variables the named LMSs expand: Moodle sends the user's "ID number" and
# Canvas the SIS id for $Person.sourcedId. No LMS knows a department, manager or hire date: those
# come from HR's employee import.
# Each parameter line is exactly what the administrator pastes; what it means follows it.
CUSTOM_PARAMETERS = {
    "course": "social-media-orientation",
    "employee_id": "$Person.sourcedId",
}
CUSTOM_PARAMETER_NOTES = [
    "(course: the course's slug; the content picker sets it for you)",
    "(employee_id: Moodle sends the user's ID number, Canvas the SIS id)",
    "(Department, manager and hire date come from HR's employee import, not from the LMS.)",
]
MESSAGES = ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]


def _url(endpoint: str) -> str:
    return external_url(endpoint)


def launch_url() -> str:
    return _url("lti.launch")


def registration_url(tenant_slug: str, code: str) -> str:
    """The URL an LMS administrator enters for dynamic registration (it names the tenant)."""
    return external_url("lti.register", tenant=tenant_slug, code=code)


def values(dynamic_registration_url: str | None = None) -> dict[str, Any]:
    """The values for a manual installation (CLI `lti tool-config`, README, HR console)."""
    return {
        "Tool name": TOOL_NAME,
        "Description": TOOL_DESCRIPTION,
        "Tool URL / target link URI": launch_url(),
        "OpenID Connect login (initiate login) URL": _url("lti.login"),
        "Redirect (launch) URLs": launch_url(),
        "Deep linking URL": launch_url(),
        "Public keyset (JWKS) URL": _url("lti.jwks"),
        "Dynamic registration URL": dynamic_registration_url
        or "per organisation: flask --app wsgi lti tool-config --tenant SLUG",
        "Canvas JSON configuration URL": _url("lti.canvas_config"),
        "Signature method": "RS256",
        "Messages": ", ".join(MESSAGES),
        "Scopes (services)": SCOPES,
        "Privacy": "send the user's name and email (and locale)",
        "Custom parameters": [
            *(f"{name}={value}" for name, value in CUSTOM_PARAMETERS.items()),
            *CUSTOM_PARAMETER_NOTES,
        ],
    }


def canvas_configuration() -> dict[str, Any]:
    """Canvas's "Paste JSON" / "Enter URL" developer key configuration."""
    domain = base_url().split("://", 1)[-1]
    return {
        "title": TOOL_NAME,
        "description": TOOL_DESCRIPTION,
        "oidc_initiation_url": _url("lti.login"),
        "target_link_uri": launch_url(),
        "public_jwk_url": _url("lti.jwks"),
        "scopes": SCOPES,
        "custom_fields": {"course": "social-media-orientation"},
        "extensions": [
            {
                "platform": "canvas.instructure.com",
                "domain": domain,
                "tool_id": "postwise",
                "privacy_level": "public",
                "settings": {
                    "placements": [
                        {
                            "placement": "assignment_selection",
                            "message_type": "LtiDeepLinkingRequest",
                            "target_link_uri": launch_url(),
                            "text": "Postwise training",
                        },
                        {
                            "placement": "link_selection",
                            "message_type": "LtiDeepLinkingRequest",
                            "target_link_uri": launch_url(),
                            "text": "Postwise training",
                        },
                    ],
                },
            }
        ],
    }
