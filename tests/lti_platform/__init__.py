"""An LTI 1.3 Advantage platform emulator for driving the tool over real HTTP in tests.

See NOTES.md for what the tool must do and what real platforms send.
"""

from tests.lti_platform.claims import (
    Context,
    DeepLinkingSettings,
    LaunchPresentation,
    ResourceLink,
    ToolPlatform,
    User,
    ags_claim,
    deep_linking_claims,
    nrps_claim,
    resource_link_claims,
    with_claims,
    without_claims,
)
from tests.lti_platform.driver import AuthStep, LaunchDriver, LaunchResult, LoginStep, ToolResponse
from tests.lti_platform.keys import RsaKey, jwks_of
from tests.lti_platform.live_server import LiveServer
from tests.lti_platform.platform import ENDPOINTS, Platform, ToolEndpoints
from tests.lti_platform.security import BadTokenCase, problems
from tests.lti_platform.services import LineItem, Member
from tests.lti_platform.tokens import NO_KID, TokenOptions, sign_jwt, unverified_parts

__all__ = [
    "ENDPOINTS",
    "NO_KID",
    "AuthStep",
    "BadTokenCase",
    "Context",
    "DeepLinkingSettings",
    "LaunchDriver",
    "LaunchPresentation",
    "LaunchResult",
    "LineItem",
    "LiveServer",
    "LoginStep",
    "Member",
    "Platform",
    "ResourceLink",
    "RsaKey",
    "TokenOptions",
    "ToolEndpoints",
    "ToolPlatform",
    "ToolResponse",
    "User",
    "ags_claim",
    "deep_linking_claims",
    "jwks_of",
    "nrps_claim",
    "problems",
    "resource_link_claims",
    "sign_jwt",
    "unverified_parts",
    "with_claims",
    "without_claims",
]
