"""Claim names, scopes, roles and media types from the IMS LTI 1.3 / Advantage specifications."""

from __future__ import annotations

from typing import Final, Literal

LTI_VERSION: Final = "1.3.0"

# --- LTI 1.3 Core message claims (https://www.imsglobal.org/spec/lti/v1p3) ---
_LTI = "https://purl.imsglobal.org/spec/lti/claim/"
CLAIM_MESSAGE_TYPE: Final = _LTI + "message_type"
CLAIM_VERSION: Final = _LTI + "version"
CLAIM_DEPLOYMENT_ID: Final = _LTI + "deployment_id"
CLAIM_TARGET_LINK_URI: Final = _LTI + "target_link_uri"
CLAIM_RESOURCE_LINK: Final = _LTI + "resource_link"
CLAIM_ROLES: Final = _LTI + "roles"
CLAIM_CONTEXT: Final = _LTI + "context"
CLAIM_TOOL_PLATFORM: Final = _LTI + "tool_platform"
CLAIM_LAUNCH_PRESENTATION: Final = _LTI + "launch_presentation"
CLAIM_CUSTOM: Final = _LTI + "custom"
CLAIM_LIS: Final = _LTI + "lis"
CLAIM_ROLE_SCOPE_MENTOR: Final = _LTI + "role_scope_mentor"
CLAIM_LTI1P1: Final = _LTI + "lti1p1"
CLAIM_FOR_USER: Final = _LTI + "for_user"

# --- Advantage service claims ---
CLAIM_AGS: Final = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
CLAIM_NRPS: Final = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"

# --- Deep Linking 2.0 (https://www.imsglobal.org/spec/lti-dl/v2p0) ---
_DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
CLAIM_DL_SETTINGS: Final = _DL + "deep_linking_settings"
CLAIM_DL_CONTENT_ITEMS: Final = _DL + "content_items"
CLAIM_DL_DATA: Final = _DL + "data"
CLAIM_DL_MSG: Final = _DL + "msg"
CLAIM_DL_LOG: Final = _DL + "log"
CLAIM_DL_ERRORMSG: Final = _DL + "errormsg"
CLAIM_DL_ERRORLOG: Final = _DL + "errorlog"

MESSAGE_RESOURCE_LINK: Final = "LtiResourceLinkRequest"
MESSAGE_DEEP_LINKING: Final = "LtiDeepLinkingRequest"
MESSAGE_DEEP_LINKING_RESPONSE: Final = "LtiDeepLinkingResponse"

# --- Scopes (AGS 2.0, NRPS 2.0) ---
SCOPE_LINEITEM: Final = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY: Final = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY: Final = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE: Final = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_NRPS: Final = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
AGS_SCOPES: Final = (SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY, SCOPE_SCORE)
ALL_SERVICE_SCOPES: Final = (*AGS_SCOPES, SCOPE_NRPS)

# --- Media types ---
MEDIA_LINEITEM: Final = "application/vnd.ims.lis.v2.lineitem+json"
MEDIA_LINEITEM_CONTAINER: Final = "application/vnd.ims.lis.v2.lineitemcontainer+json"
MEDIA_SCORE: Final = "application/vnd.ims.lis.v1.score+json"
MEDIA_RESULT_CONTAINER: Final = "application/vnd.ims.lis.v2.resultcontainer+json"
MEDIA_MEMBERSHIP_CONTAINER: Final = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"

# --- OAuth 2 client credentials with a JWT assertion (RFC 7523, LTI Security 1.0 §4.1) ---
CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# --- Dynamic Registration 1.0 ---
PLATFORM_CONFIGURATION: Final = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION: Final = "https://purl.imsglobal.org/spec/lti-tool-configuration"

# --- Roles (LIS v2 vocabulary, LTI 1.3 §A.2) ---
_MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
_INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"
_SYSTEM = "http://purl.imsglobal.org/vocab/lis/v2/system/person#"
ROLE_LEARNER: Final = _MEMBERSHIP + "Learner"
ROLE_INSTRUCTOR: Final = _MEMBERSHIP + "Instructor"
ROLE_CONTENT_DEVELOPER: Final = _MEMBERSHIP + "ContentDeveloper"
ROLE_MENTOR: Final = _MEMBERSHIP + "Mentor"
ROLE_ADMINISTRATOR: Final = _MEMBERSHIP + "Administrator"
ROLE_TEACHING_ASSISTANT: Final = (
    "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
)
ROLE_INSTITUTION_STUDENT: Final = _INSTITUTION + "Student"
ROLE_INSTITUTION_INSTRUCTOR: Final = _INSTITUTION + "Instructor"
ROLE_INSTITUTION_ADMINISTRATOR: Final = _INSTITUTION + "Administrator"
ROLE_SYSTEM_ADMINISTRATOR: Final = _SYSTEM + "Administrator"
ROLE_SYSTEM_USER: Final = _SYSTEM + "User"

CONTEXT_COURSE_OFFERING: Final = "http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"

Flavour = Literal["moodle", "canvas"]
RoleName = Literal["learner", "instructor", "admin"]

# Role lists as each LMS really sends them for the common cases.
FLAVOUR_ROLES: Final[dict[str, dict[str, list[str]]]] = {
    # Moodle 4.x (mod/lti/locallib.php lti_get_ims_role): a site admin also gets the
    # institution/system Administrator roles.
    "moodle": {
        "learner": [ROLE_LEARNER],
        "instructor": [ROLE_INSTRUCTOR],
        "admin": [ROLE_INSTITUTION_ADMINISTRATOR, ROLE_SYSTEM_ADMINISTRATOR, ROLE_INSTRUCTOR],
    },
    # Canvas always adds an institution role and system#User.
    "canvas": {
        "learner": [ROLE_INSTITUTION_STUDENT, ROLE_LEARNER, ROLE_SYSTEM_USER],
        "instructor": [ROLE_INSTITUTION_INSTRUCTOR, ROLE_INSTRUCTOR, ROLE_SYSTEM_USER],
        "admin": [ROLE_INSTITUTION_ADMINISTRATOR, ROLE_INSTRUCTOR, ROLE_SYSTEM_ADMINISTRATOR],
    },
}


def roles_for(flavour: Flavour, role: RoleName) -> list[str]:
    """The role URIs `flavour` sends for a learner, instructor or admin."""
    return list(FLAVOUR_ROLES[flavour][role])
