"""Read the claims of a validated LTI 1.3 message (names from the IMS specifications)."""

from __future__ import annotations

import re
from typing import Any

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE = LTI + "message_type"
DEPLOYMENT_ID = LTI + "deployment_id"
ROLES = LTI + "roles"
CUSTOM = LTI + "custom"
UNEXPANDED_VARIABLE = re.compile(r"\$[A-Za-z][A-Za-z0-9_.]*")
CONTEXT = LTI + "context"
RESOURCE_LINK = LTI + "resource_link"
LAUNCH_PRESENTATION = LTI + "launch_presentation"
TARGET_LINK_URI = LTI + "target_link_uri"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DEEP_LINKING_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"

# Roles that may see the course report and choose content (LIS vocabulary, context or institution).
INSTRUCTOR_ROLE_SUFFIXES = ("#Instructor", "#Administrator", "#ContentDeveloper", "#TeachingAssistant")
INSTRUCTOR_ROLE_EXCLUDED = ("#TeachingAssistantGrader",)


TITLE_SIZE = 500  # an LMS course's or link's title is shown, never identifies: a longer one is shortened


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


class LaunchClaims:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    @property
    def message_type(self) -> str:
        return self.body.get(MESSAGE_TYPE, "")

    @property
    def subject(self) -> str:
        return str(self.body["sub"])

    @property
    def deployment_id(self) -> str:
        return str(self.body.get(DEPLOYMENT_ID, ""))

    @property
    def name(self) -> str:
        given = " ".join(filter(None, [self.body.get("given_name"), self.body.get("family_name")]))
        return (self.body.get("name") or given or "").strip()

    @property
    def email(self) -> str | None:
        return self.body.get("email") or None

    @property
    def locale(self) -> str | None:
        return self.body.get(LAUNCH_PRESENTATION, {}).get("locale") or self.body.get("locale") or None

    @property
    def roles(self) -> list[str]:
        return list(self.body.get(ROLES) or [])

    @property
    def is_instructor(self) -> bool:
        return any(
            role.endswith(INSTRUCTOR_ROLE_SUFFIXES) and not role.endswith(INSTRUCTOR_ROLE_EXCLUDED)
            for role in self.roles
        )

    @property
    def custom(self) -> dict[str, str]:
        """The link's custom parameters, without the ones the LMS left unexpanded: a `$Variable`
        it does not know arrives as that literal text, which is no one's department."""
        return {
            str(k): str(v)
            for k, v in (self.body.get(CUSTOM) or {}).items()
            if v is not None and not UNEXPANDED_VARIABLE.fullmatch(str(v))
        }

    def texts_kept(self) -> dict[str, str | None]:
        """The launch's values the tool stores or prints, named as the LMS administrator knows them."""
        return {
            "The name your LMS sent": self.name,
            "The email your LMS sent": self.email,
            "The user id your LMS sent": self.subject,
            **{f"The LMS link's custom parameter {name}": value for name, value in self.custom.items()},
        }

    def sizes_kept(self) -> dict[str, tuple[str | None, int]]:
        """The launch's values the tool stores, with the most characters each may have (the size of
        its column), named as the LMS administrator knows them. Titles are not here: they are only
        shown, and are shortened instead (TITLE_SIZE)."""
        custom = self.custom
        ags, nrps = self.ags, self.nrps
        return {
            "The name your LMS sent": (self.name, 200),
            "The email your LMS sent": (self.email, 320),
            "The user id your LMS sent": (self.subject, 255),
            "The language your LMS sent": (self.locale, 16),
            "The LMS link's id": (self.resource_link_id, 255),
            "The LMS course's id": (_text_or_none(self.context.get("id")), 255),
            "The LMS deployment id": (self.deployment_id, 255),
            "The LMS link's custom parameter course": (custom.get("course"), 100),
            "The LMS link's custom parameter department": (custom.get("department"), 120),
            "The LMS link's custom parameter employee_id": (custom.get("employee_id"), 64),
            "The LMS link's custom parameter manager_email": (custom.get("manager_email"), 320),
            "The LMS grade column's address": (_text_or_none(ags.get("lineitem")), 1000),
            "The LMS grade columns' address": (_text_or_none(ags.get("lineitems")), 1000),
            "The LMS course members' address": (_text_or_none(nrps.get("context_memberships_url")), 1000),
        }

    @property
    def context(self) -> dict[str, Any]:
        return self.body.get(CONTEXT) or {}

    @property
    def resource_link(self) -> dict[str, Any]:
        return self.body.get(RESOURCE_LINK) or {}

    @property
    def resource_link_id(self) -> str:
        return str(self.resource_link.get("id", ""))

    @property
    def ags(self) -> dict[str, Any]:
        return self.body.get(AGS_ENDPOINT) or {}

    @property
    def nrps(self) -> dict[str, Any]:
        return self.body.get(NRPS) or {}

    @property
    def deep_linking_settings(self) -> dict[str, Any]:
        return self.body.get(DEEP_LINKING_SETTINGS) or {}

    @property
    def return_url(self) -> str | None:
        return self.body.get(LAUNCH_PRESENTATION, {}).get("return_url")
