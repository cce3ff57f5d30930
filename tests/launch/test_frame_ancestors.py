"""Only the launching LMS may frame the tool's pages (CSP frame-ancestors, never X-Frame-Options).

The origins come from the launch itself (kept in the session), so they are right at once in every
worker, and one tenant's LMS hosts never appear in another tenant's responses.
"""

from __future__ import annotations

from tests.launch.conftest import landed_on, learner_claims


def frame_ancestors(response) -> list[str]:
    assert "X-Frame-Options" not in response.headers
    return response.headers["Content-Security-Policy"].split("frame-ancestors", 1)[1].split(";")[0].split()


def test_before_a_launch_only_the_tool_itself_may_frame_its_pages(client, registered):
    assert frame_ancestors(client.get("/")) == ["'self'"]
    assert frame_ancestors(client.get("/healthz")) == ["'self'"]


def test_the_launch_endpoints_may_be_framed_by_any_lms(client, registered):
    response = client.post("/lti/launch", data={"error": "login_required"})
    assert frame_ancestors(response) == ["'self'", "*"]


def test_after_a_launch_the_launching_lms_may_frame_the_course(driver, registered):
    result = driver.launch(learner_claims(registered))
    assert frame_ancestors(result.response) == ["'self'", registered.base_url.rstrip("/")]  # the page
    overview = driver.get(landed_on(result.text))
    assert frame_ancestors(overview) == ["'self'", registered.base_url.rstrip("/")]


def test_configured_extra_origins_are_always_allowed(app, client, registered):
    app.config["FRAME_ANCESTORS"] = "https://intranet.acme.example"
    assert frame_ancestors(client.get("/")) == ["'self'", "https://intranet.acme.example"]


def test_a_refused_launch_may_be_framed_by_any_lms_even_after_a_launch(driver, registered):
    """A refused launch can come from another LMS's frame than the session's: never a blank frame."""
    result = driver.launch(learner_claims(registered))
    assert frame_ancestors(result.response) == ["'self'", registered.base_url.rstrip("/")]
    replay = driver.replay(result)
    assert replay.status == 401
    assert frame_ancestors(replay) == ["'self'", "*"]
