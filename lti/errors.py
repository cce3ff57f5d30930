"""Launch failures as pages that tell the learner what happened and what to do (never a 500)."""

from __future__ import annotations

import logging

from pylti1p3.exception import LtiException, LtiInvalidNonceException, OIDCException
from pylti1p3.tool_config.dict import ToolConfException

from lti.launch import LaunchError
from training_app.errors import DomainError

log = logging.getLogger("lti.launch")

GO_BACK = "Go back to your LMS and open the training again."
TELL_ADMIN = "If it happens again, tell your LMS administrator and quote the reference below."

REASONS: dict[str, tuple[int, str]] = {
    "expired": (401, f"The launch from your LMS has expired. {GO_BACK}"),
    "not_yet_valid": (
        401,
        "Your LMS's clock and ours disagree by more than a minute, so the launch "
        f"cannot be trusted yet. Try again in a moment. {TELL_ADMIN}",
    ),
    "replayed": (401, f"This launch has already been used (a page was reloaded or went back). {GO_BACK}"),
    "state": (
        401,
        "This launch does not belong to this browser session (it may have been opened in "
        f"another tab or window). {GO_BACK}",
    ),
    "bad_signature": (401, f"We could not verify that this launch came from your LMS. {TELL_ADMIN}"),
    "unknown_kid": (401, f"Your LMS signed the launch with a key it does not publish. {TELL_ADMIN}"),
    "no_kid": (401, f"The launch does not say which key signed it. {TELL_ADMIN}"),
    "bad_algorithm": (401, f"The launch is signed in a way we do not accept. {TELL_ADMIN}"),
    "jwks_unavailable": (
        502,
        f"We could not reach your LMS to check the launch. Try again later. {TELL_ADMIN}",
    ),
    "bad_audience": (401, f"This launch was meant for another tool. {TELL_ADMIN}"),
    "bad_issuer": (401, f"This launch comes from an LMS that is not registered with us. {TELL_ADMIN}"),
    "bad_azp": (401, f"This launch was meant for another tool. {TELL_ADMIN}"),
    "unknown_platform": (
        403,
        "Your LMS is not registered with this training service. Your LMS "
        "administrator needs to install the tool first.",
    ),
    "unknown_deployment": (
        403,
        "This LMS installation (deployment) is not registered with this training "
        "service. Your LMS administrator needs to add the deployment id.",
    ),
    "unsupported_message": (400, f"Your LMS sent a kind of launch this tool does not support. {TELL_ADMIN}"),
    "missing_claim": (400, f"Your LMS sent an incomplete launch. {TELL_ADMIN}"),
    "bad_version": (
        400,
        f"Your LMS sent a launch in an LTI version we do not support (1.3.0 only). {TELL_ADMIN}",
    ),
    "invalid_token": (400, f"The launch could not be read. {TELL_ADMIN}"),
    "platform_error": (400, "Your LMS could not complete the sign-in for this tool"),
}


class LaunchFailed(DomainError):
    code = "launch_failed"
    title = "We could not open your training"

    def __init__(self, reason: str, detail: str) -> None:
        status, message = REASONS.get(reason, REASONS["invalid_token"])
        super().__init__(message, status=status, errors={"reason": reason})
        self.reason = reason
        self.detail = detail
        log.warning("LTI launch refused", extra={"reason": reason, "detail": detail[:500]})


def classify(exc: Exception) -> str:
    if isinstance(exc, LaunchError):
        return exc.reason
    text = str(exc)
    if isinstance(exc, LtiInvalidNonceException) or "nonce" in text.lower():
        return "replayed"
    rules = [
        ("State not found", "state"),
        ("Missing state", "state"),
        ("Registration not found", "unknown_platform"),
        ("Could not find registration", "unknown_platform"),
        ("Client id not registered", "unknown_platform"),
        ("deployment ID", "unknown_deployment"),
        ("Unrecognized message type", "unsupported_message"),
        ("Invalid message type", "unsupported_message"),
        ("Incorrect version", "bad_version"),
        ("Missing", "missing_claim"),
        ("Must have a user", "missing_claim"),
        ("JWT must contain 3 parts", "invalid_token"),
        ("can't be decoded", "invalid_token"),
        ("issuer", "unknown_platform"),
        ("login hint", "missing_claim"),
    ]
    return next((reason for marker, reason in rules if marker in text), "invalid_token")


def launch_failed(exc: Exception) -> LaunchFailed:
    return LaunchFailed(classify(exc), str(exc))


LIBRARY_ERRORS = (LtiException, OIDCException, ToolConfException)
