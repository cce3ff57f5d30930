"""Deep linking: the instructor picks courses; we answer the LMS with a signed LtiDeepLinkingResponse."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from flask import render_template

from courses import publishing
from lti import claims, keys, tool_config
from lti.ags import TAG
from lti.models import Platform
from training_app import audit, security
from training_app.errors import ValidationFailed
from training_app.extensions import db

RESPONSE_LIFETIME = 600


@dataclass(frozen=True)
class CourseChoice:
    slug: str
    title: str
    summary: str
    audience: str
    minutes: int
    version: str
    locales: list[str]


def course_choices() -> list[CourseChoice]:
    return [
        CourseChoice(
            course.slug,
            course.title,
            version.manifest["summary"],
            course.audience,
            version.manifest["estimated_minutes"],
            version.label,
            version.manifest["locales"],
        )
        for course, version in publishing.published_courses()
    ]


def content_item(choice: CourseChoice) -> dict[str, Any]:
    """An ltiResourceLink that launches the course and asks the LMS for a gradebook column."""
    return {
        "type": "ltiResourceLink",
        "title": choice.title,
        "text": choice.summary[:500],
        "url": tool_config.launch_url(),  # strict platforms accept only the registered launch URL
        "custom": {"course": choice.slug},
        "lineItem": {"scoreMaximum": 100, "label": choice.title, "resourceId": choice.slug, "tag": TAG},
    }


def response_jwt(context: dict[str, Any], items: list[dict[str, Any]]) -> str:
    platform = db.session.get(Platform, context["platform_id"])
    key = keys.active_key(platform.tenant_id)
    now = int(time.time())
    message = {
        "iss": platform.client_id,
        "aud": platform.issuer,
        "iat": now,
        "exp": now + RESPONSE_LIFETIME,
        "nonce": uuid.uuid4().hex,
        claims.DEPLOYMENT_ID: context["deployment_id"],
        claims.MESSAGE_TYPE: "LtiDeepLinkingResponse",
        claims.LTI + "version": "1.3.0",
        "https://purl.imsglobal.org/spec/lti-dl/claim/content_items": items,
    }
    if context.get("data") is not None:
        message["https://purl.imsglobal.org/spec/lti-dl/claim/data"] = context["data"]
    return jwt.encode(message, keys.private_key_object(key), algorithm="RS256", headers={"kid": key.kid})


def response_form(context: dict[str, Any], chosen_slugs: list[str], *, actor: str) -> str:
    """The auto-submitting form that carries the signed response back to the LMS."""
    choices = {choice.slug: choice for choice in course_choices()}
    unknown = [slug for slug in chosen_slugs if slug not in choices]
    if not chosen_slugs or unknown:
        raise ValidationFailed("Choose at least one of the listed courses.", errors={"course": "required"})
    if len(chosen_slugs) > 1 and not context.get("accept_multiple"):
        raise ValidationFailed(
            "Your LMS accepts one course at a time here: choose one.", errors={"course": "one only"}
        )
    items = [content_item(choices[slug]) for slug in dict.fromkeys(chosen_slugs)]
    platform = db.session.get(Platform, context["platform_id"])
    audit.record_event(
        platform.tenant_id,
        actor,
        "lti.deep_link_created",
        subject=("lti_platform", platform.id),
        data={"courses": [item["custom"]["course"] for item in items]},
    )
    security.allow_form_target(context["return_url"])
    return render_template(
        "lti/deep_linking_response.html",
        return_url=context["return_url"],
        token=response_jwt(context, items),
        titles=[i["title"] for i in items],
    )
