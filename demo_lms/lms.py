"""The demo LMS's side of LTI 1.3: its OIDC authorization answer (a signed id_token for the launch
it started), its OAuth2 token endpoint for the tool's client assertions, and the AGS score
endpoint that fills its gradebook. It checks what a real LMS checks, no less.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt

from demo_lms import launches, platform
from demo_lms.launches import CLIENT_ID, DEPLOYMENT_ID, ISSUER, LaunchChoice
from lti import keys, tool_config
from training_app.db import utcnow
from training_app.urls import external_url

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
LEARNER_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_LINEITEM_READ = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
OFFERED_SCOPES = (SCOPE_SCORE, SCOPE_LINEITEM_READ)
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ID_TOKEN_SECONDS = 300
LEEWAY_SECONDS = 60
ACTIVITY_PROGRESS = ("Initialized", "Started", "InProgress", "Submitted", "Completed")
GRADING_PROGRESS = ("FullyGraded", "Pending", "PendingManual", "Failed", "NotReady")
CONTEXT = {
    "id": "demo-onboarding",
    "label": "ONBOARDING",
    "title": "Onboarding (demo LMS course)",
    "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
}


class LmsRefusal(Exception):
    """A request the demo LMS refuses, with the status and OAuth-style error it answers."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


@dataclass(frozen=True)
class AuthAnswer:
    """What the OIDC endpoint posts back to the tool's launch URL (form_post)."""

    redirect_uri: str
    fields: dict[str, str] = field(default_factory=dict)
    learner_name: str = ""


# --- OIDC authorization: the launch ---------------------------------------------------------------


def authorize(params: dict[str, str]) -> AuthAnswer:
    """Moodle's `auth.php` in small: an unknown client or redirect URI is refused here (400); any
    other problem goes back to the tool as an OAuth error, with the login's state."""
    if params.get("client_id") != CLIENT_ID:
        raise LmsRefusal(400, "unauthorized_client", "unknown client_id")
    redirect_uri = params.get("redirect_uri") or ""
    if redirect_uri != tool_config.launch_url():
        raise LmsRefusal(400, "invalid_request", "redirect_uri is not the tool's registered launch URL")
    state = params.get("state") or ""
    try:
        choice = _launch_asked(params)
    except LoginProblem as problem:
        error = {"error": "invalid_request", "error_description": str(problem), "state": state}
        return AuthAnswer(redirect_uri, error)
    platform.append_to_gradebook(
        {
            "event": "launch",
            "at": utcnow().isoformat(timespec="seconds"),
            "userId": choice.learner.subject,
            "name": choice.learner.name,
            "email": choice.learner.email,
            "course": choice.course,
            "locale": choice.locale,
        }
    )
    token = id_token(choice, params["nonce"])
    return AuthAnswer(redirect_uri, {"id_token": token, "state": state}, choice.learner.name)


class LoginProblem(Exception):
    """What is wrong with an authorization request, answered to the tool's launch URL."""


def _launch_asked(params: dict[str, str]) -> LaunchChoice:
    """The launch this login is for (used up now), once the request is a valid LTI login."""
    expected = {"response_type": "id_token", "response_mode": "form_post", "prompt": "none"}
    for name, value in expected.items():
        if params.get(name) != value:
            raise LoginProblem(f"{name} must be {value}")
    if "openid" not in (params.get("scope") or "").split():
        raise LoginProblem("scope must include openid")
    for name in ("nonce", "state", "login_hint", "lti_message_hint"):
        if not params.get(name):
            raise LoginProblem(f"{name} is missing")
    choice = launches.take_launch(params["lti_message_hint"])
    if choice is None:
        raise LoginProblem("this launch was already used or has expired; start a new one from /demo/try")
    if params["login_hint"] != choice.learner.subject:
        raise LoginProblem("login_hint is not the user this launch is for")
    return choice


def id_token(choice: LaunchChoice, nonce: str) -> str:
    key, kid = platform.signing_key()
    return jwt.encode(launch_claims(choice, nonce), key, algorithm="RS256", headers={"kid": kid})


def launch_claims(choice: LaunchChoice, nonce: str) -> dict[str, Any]:
    learner = choice.learner
    given, _, family = learner.name.partition(" ")
    now = int(time.time())
    custom = {"course": choice.course}
    if learner.employee_id:
        custom["employee_id"] = learner.employee_id  # as Moodle sends the user's ID number
    return {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "azp": CLIENT_ID,
        "sub": learner.subject,
        "iat": now,
        "exp": now + ID_TOKEN_SECONDS,
        "nonce": nonce,
        "name": learner.name,
        "given_name": given,
        "family_name": family,
        "email": learner.email,
        LTI + "message_type": "LtiResourceLinkRequest",
        LTI + "version": "1.3.0",
        LTI + "deployment_id": DEPLOYMENT_ID,
        LTI + "target_link_uri": tool_config.launch_url(),
        LTI + "resource_link": {"id": f"demo-{choice.course}", "title": choice.course_title},
        LTI + "context": CONTEXT,
        LTI + "roles": [LEARNER_ROLE],
        LTI + "custom": custom,
        LTI + "launch_presentation": {
            "locale": choice.locale,
            "document_target": "window",
            "return_url": external_url("demo_lms.gradebook"),
        },
        LTI + "tool_platform": {
            "guid": CLIENT_ID,
            "name": launches.NAME,
            "product_family_code": "postwise-demo-lms",
        },
        AGS_ENDPOINT: {
            "scope": list(OFFERED_SCOPES),
            "lineitem": external_url("demo_lms.lineitem", course=choice.course),
        },
    }


# --- OAuth2 token endpoint (client_credentials with a signed JWT assertion) ------------------------


def grant_token(form: dict[str, str], token_url: str) -> dict[str, Any]:
    if form.get("grant_type") != "client_credentials":
        raise LmsRefusal(400, "unsupported_grant_type", "grant_type must be client_credentials")
    if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
        raise LmsRefusal(400, "invalid_request", "a JWT client assertion is required")
    _check_client_assertion(form["client_assertion"], token_url)
    granted = [scope for scope in (form.get("scope") or "").split() if scope in OFFERED_SCOPES]
    if not granted:
        raise LmsRefusal(400, "invalid_scope", "none of the requested scopes is offered")
    return {
        "access_token": platform.issue_access_token(granted),
        "token_type": "Bearer",
        "expires_in": platform.ACCESS_TOKEN_SECONDS,
        "scope": " ".join(granted),
    }


def _check_client_assertion(assertion: str, token_url: str) -> None:
    """Signed by the tool with a key of its JWKS (read in-process: the tool is this same app)."""
    try:
        kid = jwt.get_unverified_header(assertion).get("kid")
        published = {jwk["kid"]: jwk for jwk in keys.published_keys()}
        if kid not in published:
            raise LmsRefusal(401, "invalid_client", "the assertion's key is not in the tool's JWKS")
        claims = jwt.decode(
            assertion,
            jwt.PyJWK(published[kid]).key,
            algorithms=["RS256"],
            audience=token_url,
            issuer=CLIENT_ID,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except jwt.InvalidTokenError as exc:
        raise LmsRefusal(401, "invalid_client", f"the client assertion is not valid: {exc}") from None
    if claims["sub"] != CLIENT_ID:
        raise LmsRefusal(401, "invalid_client", "the assertion's sub is not the client id")


def bearer_scopes(authorization: str | None) -> list[str]:
    scheme, _, token = (authorization or "").partition(" ")
    scopes = platform.access_token_scopes(token.strip()) if scheme.lower() == "bearer" else None
    if scopes is None:
        raise LmsRefusal(401, "invalid_token", "a valid bearer token is required")
    return scopes


# --- AGS: the line item of a course and its scores ------------------------------------------------


def lineitem(course: str) -> dict[str, Any]:
    title = _course_title(course)
    return {
        "id": external_url("demo_lms.lineitem", course=course),
        "label": title,
        "scoreMaximum": 100,
        "resourceId": course,
        "resourceLinkId": f"demo-{course}",
    }


def record_score(course: str, scopes: list[str], content_type: str | None, body: Any) -> None:
    if SCOPE_SCORE not in scopes:
        raise LmsRefusal(403, "insufficient_scope", "the token does not grant the score scope")
    _course_title(course)
    if (content_type or "").split(";")[0].strip() != SCORE_TYPE:
        raise LmsRefusal(415, "invalid_request", f"a score is sent as {SCORE_TYPE}")
    problem = score_problem(body)
    if problem:
        raise LmsRefusal(400, "invalid_request", problem)
    platform.append_to_gradebook(
        {
            "event": "score",
            "at": utcnow().isoformat(timespec="seconds"),
            "course": course,
            **{name: body.get(name) for name in ("userId", "scoreGiven", "scoreMaximum", "comment")},
            **{name: body[name] for name in ("activityProgress", "gradingProgress", "timestamp")},
        }
    )


def score_problem(body: Any) -> str | None:
    """What is wrong with a score (IMS AGS score publish service), or None."""
    if not isinstance(body, dict):
        return "the score must be a JSON object"
    if not isinstance(body.get("userId"), str) or not body["userId"]:
        return "userId is required"
    if body.get("activityProgress") not in ACTIVITY_PROGRESS:
        return f"activityProgress must be one of {', '.join(ACTIVITY_PROGRESS)}"
    if body.get("gradingProgress") not in GRADING_PROGRESS:
        return f"gradingProgress must be one of {', '.join(GRADING_PROGRESS)}"
    try:
        moment = datetime.fromisoformat(str(body.get("timestamp")))
    except ValueError:
        return "timestamp must be an ISO 8601 date and time"
    if moment.tzinfo is None:
        return "timestamp must carry its time zone"
    given, maximum = body.get("scoreGiven"), body.get("scoreMaximum")
    if given is not None and not (_number(given) and _number(maximum) and maximum > 0 and given >= 0):
        return "scoreGiven needs a scoreMaximum above 0, both numbers, and is not negative"
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _course_title(course: str) -> str:
    title = launches.course_titles().get(course)
    if title is None:
        raise LmsRefusal(404, "not_found", "no such line item")
    return title


# --- The gradebook page -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GradebookRow:
    learner: str
    email: str
    course: str
    score_given: float | None
    score_maximum: float | None
    activity_progress: str
    grading_progress: str
    timestamp: datetime
    received_at: datetime
    comment: str | None


def gradebook() -> tuple[list[GradebookRow], int]:
    """Every score received, newest first; and how many launches the demo LMS made."""
    entries = platform.gradebook_entries()
    launched = [e for e in entries if e.get("event") == "launch"]
    people = {e["userId"]: e for e in launched}
    titles = launches.course_titles()
    rows = [
        GradebookRow(
            learner=people.get(e["userId"], {}).get("name") or e["userId"],
            email=people.get(e["userId"], {}).get("email") or "",
            course=titles.get(e["course"], e["course"]),
            score_given=e.get("scoreGiven"),
            score_maximum=e.get("scoreMaximum"),
            activity_progress=e["activityProgress"],
            grading_progress=e["gradingProgress"],
            timestamp=datetime.fromisoformat(e["timestamp"]),
            received_at=datetime.fromisoformat(e["at"]),
            comment=e.get("comment"),
        )
        for e in entries
        if e.get("event") == "score"
    ]
    return rows[::-1], len(launched)
