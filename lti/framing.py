"""Which sites may frame a response (CSP frame-ancestors): the web layer's part of the LTI contract,
read from the request and the session (services never read them).
"""

from __future__ import annotations

from flask import g, request, session

# LTI entry points are framed by an LMS before we know which one (login, launch, registration);
# they hold no session-bound action a framing site could abuse.
OPEN_FRAME_ENDPOINTS = {"lti.login", "lti.launch", "lti.register"}
FRAME_ORIGINS_KEY = "lti_frame_origins"
LAUNCHED_PAGE = "lti_launched_page"


def frame_origins() -> list[str]:
    """CSP frame-ancestors for this response: the launching LMS only (never other tenants')."""
    if request.endpoint in OPEN_FRAME_ENDPOINTS and not g.get(LAUNCHED_PAGE):
        return ["*"]
    return list(session.get(FRAME_ORIGINS_KEY) or [])


def frame_as_a_launched_page() -> None:
    """This launch answers with a page of the course (the overview): framed like the pages after
    it, by the launching LMS only, not by any site like the launch's other answers."""
    setattr(g, LAUNCHED_PAGE, True)
