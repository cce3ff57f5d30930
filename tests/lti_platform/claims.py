"""Builders for LTI message claims (everything but iss/aud/iat/exp/nonce, which the signer adds).

Each builder returns a plain dict so a test can change, add or delete any claim before signing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.lti_platform.constants import (
    CLAIM_AGS,
    CLAIM_CONTEXT,
    CLAIM_CUSTOM,
    CLAIM_DEPLOYMENT_ID,
    CLAIM_DL_SETTINGS,
    CLAIM_LAUNCH_PRESENTATION,
    CLAIM_MESSAGE_TYPE,
    CLAIM_NRPS,
    CLAIM_RESOURCE_LINK,
    CLAIM_ROLES,
    CLAIM_TARGET_LINK_URI,
    CLAIM_TOOL_PLATFORM,
    CLAIM_VERSION,
    CONTEXT_COURSE_OFFERING,
    LTI_VERSION,
    MESSAGE_DEEP_LINKING,
    MESSAGE_RESOURCE_LINK,
)

Claims = dict[str, Any]


@dataclass(frozen=True)
class User:
    """An LMS user. `sub` is the stable LTI user id; PII is optional (platform privacy settings)."""

    sub: str
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    picture: str | None = None
    locale: str | None = None

    @classmethod
    def named(cls, sub: str, given: str, family: str, *, email: str | None = None) -> User:
        return cls(
            sub=sub,
            name=f"{given} {family}",
            given_name=given,
            family_name=family,
            email=email or f"{given.lower()}.{family.lower()}@example.com",
        )

    def claims(self) -> Claims:
        values = {
            "sub": self.sub,
            "name": self.name,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "email": self.email,
            "picture": self.picture,
            "locale": self.locale,
        }
        return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class Context:
    id: str = "course-101"
    label: str = "SMP-101"
    title: str = "Social media policy"
    type: tuple[str, ...] = (CONTEXT_COURSE_OFFERING,)

    def claim(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "title": self.title, "type": list(self.type)}


@dataclass(frozen=True)
class ResourceLink:
    id: str = "resource-link-1"
    title: str = "Orientation"
    description: str | None = None

    def claim(self) -> dict[str, Any]:
        claim = {"id": self.id, "title": self.title}
        if self.description is not None:
            claim["description"] = self.description
        return claim


@dataclass(frozen=True)
class ToolPlatform:
    guid: str
    name: str
    product_family_code: str
    version: str
    url: str | None = None
    contact_email: str | None = None

    def claim(self) -> dict[str, Any]:
        claim = {
            "guid": self.guid,
            "name": self.name,
            "product_family_code": self.product_family_code,
            "version": self.version,
            "url": self.url,
            "contact_email": self.contact_email,
        }
        return {key: value for key, value in claim.items() if value is not None}


@dataclass(frozen=True)
class LaunchPresentation:
    document_target: str = "iframe"
    return_url: str | None = None
    locale: str | None = None
    width: int | None = None
    height: int | None = None

    def claim(self) -> dict[str, Any]:
        claim: dict[str, Any] = {"document_target": self.document_target}
        optional = {
            "return_url": self.return_url,
            "locale": self.locale,
            "width": self.width,
            "height": self.height,
        }
        claim.update({key: value for key, value in optional.items() if value is not None})
        return claim


@dataclass(frozen=True)
class DeepLinkingSettings:
    deep_link_return_url: str
    accept_types: tuple[str, ...] = ("ltiResourceLink",)
    accept_presentation_document_targets: tuple[str, ...] = ("iframe", "window")
    accept_multiple: bool = True
    auto_create: bool = False
    accept_lineitem: bool | None = True
    data: str | None = None
    title: str | None = None
    text: str | None = None
    accept_media_types: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def claim(self) -> dict[str, Any]:
        claim: dict[str, Any] = {
            "deep_link_return_url": self.deep_link_return_url,
            "accept_types": list(self.accept_types),
            "accept_presentation_document_targets": list(self.accept_presentation_document_targets),
            "accept_multiple": self.accept_multiple,
            "auto_create": self.auto_create,
        }
        optional = {
            "accept_lineitem": self.accept_lineitem,
            "data": self.data,
            "title": self.title,
            "text": self.text,
            "accept_media_types": self.accept_media_types,
        }
        claim.update({key: value for key, value in optional.items() if value is not None})
        claim.update(self.extra)
        return claim


def ags_claim(*, lineitems: str, lineitem: str | None = None, scopes: Iterable[str]) -> dict[str, Any]:
    claim: dict[str, Any] = {"scope": list(scopes), "lineitems": lineitems}
    if lineitem is not None:
        claim["lineitem"] = lineitem
    return claim


def nrps_claim(context_memberships_url: str) -> dict[str, Any]:
    return {"context_memberships_url": context_memberships_url, "service_versions": ["2.0"]}


def _common_claims(
    message_type: str,
    user: User,
    roles: Sequence[str],
    *,
    context: Context | None,
    custom: Mapping[str, str] | None,
    launch_presentation: LaunchPresentation | None,
    locale: str | None,
    target_link_uri: str | None,
    deployment_id: str | None,
    tool_platform: ToolPlatform | None,
) -> Claims:
    claims: Claims = {
        CLAIM_MESSAGE_TYPE: message_type,
        CLAIM_VERSION: LTI_VERSION,
        CLAIM_ROLES: list(roles),
        **user.claims(),
    }
    if locale is not None:
        claims["locale"] = locale
    if deployment_id is not None:
        claims[CLAIM_DEPLOYMENT_ID] = deployment_id
    if target_link_uri is not None:
        claims[CLAIM_TARGET_LINK_URI] = target_link_uri
    if context is not None:
        claims[CLAIM_CONTEXT] = context.claim()
    if tool_platform is not None:
        claims[CLAIM_TOOL_PLATFORM] = tool_platform.claim()
    if custom:
        claims[CLAIM_CUSTOM] = dict(custom)
    if launch_presentation is None and locale is not None:
        launch_presentation = LaunchPresentation(locale=locale)
    if launch_presentation is not None:
        claims[CLAIM_LAUNCH_PRESENTATION] = launch_presentation.claim()
    return claims


def resource_link_claims(
    user: User,
    roles: Sequence[str],
    *,
    custom: Mapping[str, str] | None = None,
    context: Context | None = None,
    resource_link: ResourceLink | None = None,
    ags: Mapping[str, Any] | None = None,
    nrps: Mapping[str, Any] | None = None,
    launch_presentation: LaunchPresentation | None = None,
    locale: str | None = None,
    target_link_uri: str | None = None,
    deployment_id: str | None = None,
    tool_platform: ToolPlatform | None = None,
) -> Claims:
    """An LtiResourceLinkRequest (LTI 1.3 §5.3) with optional AGS and NRPS service claims."""
    claims = _common_claims(
        MESSAGE_RESOURCE_LINK,
        user,
        roles,
        context=context if context is not None else Context(),
        custom=custom,
        launch_presentation=launch_presentation,
        locale=locale,
        target_link_uri=target_link_uri,
        deployment_id=deployment_id,
        tool_platform=tool_platform,
    )
    claims[CLAIM_RESOURCE_LINK] = (resource_link or ResourceLink()).claim()
    if ags is not None:
        claims[CLAIM_AGS] = dict(ags)
    if nrps is not None:
        claims[CLAIM_NRPS] = dict(nrps)
    return claims


def deep_linking_claims(
    user: User,
    roles: Sequence[str],
    settings: DeepLinkingSettings,
    *,
    custom: Mapping[str, str] | None = None,
    context: Context | None = None,
    launch_presentation: LaunchPresentation | None = None,
    locale: str | None = None,
    target_link_uri: str | None = None,
    deployment_id: str | None = None,
    tool_platform: ToolPlatform | None = None,
    ags: Mapping[str, Any] | None = None,
) -> Claims:
    """An LtiDeepLinkingRequest (Deep Linking 2.0 §4.4): no resource_link claim."""
    claims = _common_claims(
        MESSAGE_DEEP_LINKING,
        user,
        roles,
        context=context if context is not None else Context(),
        custom=custom,
        launch_presentation=launch_presentation,
        locale=locale,
        target_link_uri=target_link_uri,
        deployment_id=deployment_id,
        tool_platform=tool_platform,
    )
    claims[CLAIM_DL_SETTINGS] = settings.claim()
    if ags is not None:
        claims[CLAIM_AGS] = dict(ags)
    return claims


def with_claims(claims: Mapping[str, Any], **changes: Any) -> Claims:
    """A deep copy of `claims` with top-level claims replaced; use `CLAIM_*` names via `**{...}`."""
    result = copy.deepcopy(dict(claims))
    result.update(changes)
    return result


def without_claims(claims: Mapping[str, Any], *names: str) -> Claims:
    result = copy.deepcopy(dict(claims))
    for name in names:
        result.pop(name, None)
    return result
