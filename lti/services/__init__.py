"""LMS registrations (platforms) and what a validated launch does (launches). Services flush and
never commit; callers import from here. Which sites may frame a response is the web layer's
(lti.framing).
"""

from lti.services.launches import (
    LAST_LAUNCH_PRECISION,
    LEARNER_DETAILS,
    LaunchOutcome,
    LaunchRefused,
    add_grade_target,
    parse_hire_date,
    process_launch,
    standing_key,
    touch_grade_target,
    upsert_resource_link,
    upsert_user,
)
from lti.services.platforms import (
    FETCHED_URLS,
    ISSUER_AND_CLIENT_TAKEN,
    MAX_DEPLOYMENT_ID,
    MAX_LENGTHS,
    PlatformFields,
    add_deployment,
    add_platform,
    platform_origins,
    platforms_of,
    tenant_platform,
    url_problem,
    validate_platform_fields,
)

__all__ = [
    "FETCHED_URLS",
    "ISSUER_AND_CLIENT_TAKEN",
    "LAST_LAUNCH_PRECISION",
    "LEARNER_DETAILS",
    "MAX_DEPLOYMENT_ID",
    "MAX_LENGTHS",
    "LaunchOutcome",
    "LaunchRefused",
    "PlatformFields",
    "add_deployment",
    "add_grade_target",
    "add_platform",
    "parse_hire_date",
    "platform_origins",
    "platforms_of",
    "process_launch",
    "standing_key",
    "tenant_platform",
    "touch_grade_target",
    "upsert_resource_link",
    "upsert_user",
    "url_problem",
    "validate_platform_fields",
]
