"""Launch failures as pages that tell the learner what happened and what to do (never a 500)."""

from __future__ import annotations

import logging

from flask_babel import gettext
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.tool_config.dict import ToolConfException

from training_app.errors import N_, DomainError

log = logging.getLogger("lti.launch")


class LaunchError(LtiException):
    """A launch refused for a reason we can explain to the learner (one of REASONS), raised by the
    step of the login or launch that refused it (lti.launch, lti.platform_keys)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


GO_BACK = N_("Go back to your LMS and open the training again.")
TELL_ADMIN = N_("If it happens again, tell your LMS administrator and quote the reference below.")

# reason -> (status, what happened, what to do); both translated when the page is shown.
REASONS: dict[str, tuple[int, str, str | None]] = {
    "expired": (401, N_("The launch from your LMS has expired."), GO_BACK),
    "not_yet_valid": (
        401,
        N_(
            "Your LMS's clock and ours disagree by more than a minute, so the launch cannot be "
            "trusted yet. Try again in a moment."
        ),
        TELL_ADMIN,
    ),
    "replayed": (
        401,
        N_("This launch has already been used (a page was reloaded or went back)."),
        GO_BACK,
    ),
    "state": (
        401,
        N_(
            "This launch does not belong to this browser session (it may have been opened in "
            "another tab or window)."
        ),
        GO_BACK,
    ),
    "outside_the_lms": (
        403,
        N_(
            "This launch reached us without the cookie our sign-in left in your browser, and not "
            "inside your LMS's page, so we cannot tell that you started it."
        ),
        GO_BACK,
    ),
    "continue_elsewhere": (
        403,
        N_(
            "This link opens the training only from its button on the training's page in your LMS, "
            "in the browser that showed it."
        ),
        GO_BACK,
    ),
    "bad_signature": (401, N_("We could not verify that this launch came from your LMS."), TELL_ADMIN),
    "unknown_kid": (401, N_("Your LMS signed the launch with a key it does not publish."), TELL_ADMIN),
    "no_kid": (401, N_("The launch does not say which key signed it."), TELL_ADMIN),
    "bad_algorithm": (401, N_("The launch is signed in a way we do not accept."), TELL_ADMIN),
    "jwks_unavailable": (
        502,
        N_("We could not reach your LMS to check the launch. Try again later."),
        TELL_ADMIN,
    ),
    "bad_audience": (401, N_("This launch was meant for another tool."), TELL_ADMIN),
    "bad_issuer": (401, N_("This launch comes from an LMS that is not registered with us."), TELL_ADMIN),
    "bad_azp": (401, N_("This launch was meant for another tool."), TELL_ADMIN),
    "unknown_platform": (
        403,
        N_(
            "Your LMS is not registered with this training service. Your LMS administrator needs "
            "to install the tool first."
        ),
        None,
    ),
    "unknown_deployment": (
        403,
        N_(
            "This LMS installation (deployment) is not registered with this training service. "
            "Your LMS administrator needs to add the deployment id."
        ),
        None,
    ),
    "no_deployment": (
        400,
        N_(
            "Your LMS sent a launch that does not say which installation (deployment) of the tool "
            "it comes from."
        ),
        TELL_ADMIN,
    ),
    "unsupported_message": (
        400,
        N_("Your LMS sent a kind of launch this tool does not support."),
        TELL_ADMIN,
    ),
    "missing_claim": (400, N_("Your LMS sent an incomplete launch."), TELL_ADMIN),
    "bad_version": (
        400,
        N_("Your LMS sent a launch in an LTI version we do not support (1.3.0 only)."),
        TELL_ADMIN,
    ),
    "invalid_token": (400, N_("The launch could not be read."), TELL_ADMIN),
    "platform_error": (400, N_("Your LMS could not complete the sign-in for this tool."), None),
}


def reason_message(reason: str) -> tuple[int, str]:
    status, happened, to_do = REASONS.get(reason, REASONS["invalid_token"])
    return status, " ".join(gettext(part) for part in (happened, to_do) if part)


class LaunchFailed(DomainError):
    code = "launch_failed"
    title = N_("We could not open your training")

    def __init__(self, reason: str, detail: str) -> None:
        status, message = reason_message(reason)
        super().__init__(message, status=status, errors={"reason": reason})
        self.reason = reason
        self.detail = detail
        log.warning("LTI launch refused", extra={"reason": reason, "detail": detail[:500]})


def classify(exc: Exception) -> str:
    """The reason of a refusal: LaunchErrors carry theirs; anything else the library raises (a
    check we do not wrap) is an unreadable launch."""
    return exc.reason if isinstance(exc, LaunchError) else "invalid_token"


def launch_failed(exc: Exception) -> LaunchFailed:
    return LaunchFailed(classify(exc), str(exc))


LIBRARY_ERRORS = (LtiException, OIDCException, ToolConfException)
