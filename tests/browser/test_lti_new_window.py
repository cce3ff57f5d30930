"""Issue 18: a browser that blocks the tool's cookies in the LMS frame, with an LMS that offers no
LTI Platform Storage (Moodle 4.5), still gets the learner into the training: the launch is validated
in the frame, whose page offers "Continue as <learner>"; the button opens a top-level window, where
the tool's cookie is first-party, signed in through a one-time link.

What blocks the cookie (Chromium 156): the tool's production cookies are `Secure; SameSite=None;
Partitioned`, and Chromium keeps partitioned cookies in a frame even with third-party cookies
blocked (`--test-third-party-cookie-phaseout` and "Block third-party cookies" block only the
unpartitioned ones). Listing the LMS's site under "Sites not allowed to use third-party cookies"
blocks them all in its frames, as browsers without partitioned cookies do; so does serving the
tool over plain http, whose cookies are `SameSite=Lax` (tried by hand: a tool on http://localhost
framed by http://127.0.0.1 gets no cookie back, and Fetch Metadata is still sent to localhost).
The LMS page (the emulator, http://127.0.0.1) frames the tool on https://localhost, another site,
as in tests/browser/test_lti_iframe.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Playwright, Response, expect

from tests.browser import test_lti_iframe as lms_frame
from tests.browser.support import CHROMIUM, CHROMIUM_ARGS, DESKTOP, ORIENTATION, screenshot
from tests.browser.test_lti_iframe import COURSE_TITLE, EmbeddingPlatform, csp_directive, origin
from tests.browser.tls import HttpsServer
from tests.launch.conftest import learner_claims

# The same tool on https://localhost (production cookies) and embedding LMS as test_lti_iframe.
app_settings = lms_frame.app_settings
certificate = lms_frame.certificate
https_server = lms_frame.https_server
platform = lms_frame.platform

LMS_SITE = "http://127.0.0.1:*"
# Chromium's profile: third-party cookies blocked, and all of them (partitioned ones too) on the LMS's site.
BLOCKING_PREFERENCES = {
    "profile": {
        "cookie_controls_mode": 1,
        "content_settings": {"exceptions": {"cookies": {f"*,{LMS_SITE}": {"setting": 2}}}},
    }
}


@pytest.fixture
def blocking_browser(playwright: Playwright, tmp_path: Path) -> Iterator[BrowserContext]:
    """Chromium with a profile that blocks the tool's cookies inside the LMS's frames."""
    profile = tmp_path / "chromium-profile"
    (profile / "Default").mkdir(parents=True)
    (profile / "Default" / "Preferences").write_text(json.dumps(BLOCKING_PREFERENCES))
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/system-packages.sh --test)")
    context = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        args=[*CHROMIUM_ARGS, "--ignore-certificate-errors"],
        viewport=DESKTOP,
        locale="en-US",
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.mark.browser
def test_blocked_cookies_in_the_lms_frame_continue_signed_in_in_a_new_window(
    platform: EmbeddingPlatform, https_server: HttpsServer, blocking_browser: BrowserContext, backend: str
):
    context = blocking_browser
    tool_responses: list[Response] = []

    def record(response: Response) -> None:
        if response.url.startswith(https_server.url):
            tool_responses.append(response)

    context.on("response", record)
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(platform.embed(platform.initiate_login(learner_claims(platform))))
    frame = page.frame_locator("iframe#tool")

    expect(frame.get_by_role("heading", level=1)).to_have_text("Open the training in a new window")
    button = frame.get_by_role("link", name="Continue as Ada Lovelace")
    expect(button).to_be_visible()
    expect(frame.get_by_text("You will be signed in as Ada Lovelace.")).to_be_visible()
    steps = [(r.request.method, urlsplit(r.url).path, r.status) for r in tool_responses]
    assert [s for s in steps if s[1].startswith("/lti/")] == [
        ("GET", "/lti/login", 302),
        ("POST", "/lti/launch", 200),  # validated in the frame; it answers with the button
    ], steps
    launch = next(r for r in tool_responses if urlsplit(r.url).path == "/lti/launch")
    assert launch.request.all_headers().get("cookie") is None, "the frame sent no cookie: blocked"
    assert launch.request.all_headers()["sec-fetch-dest"] == "iframe"
    assert csp_directive(launch.headers["content-security-policy"], "frame-ancestors") == [
        "'self'",
        platform.base_url,
    ], "only the LMS may frame the page that names the learner"
    assert "no-store" in launch.headers["cache-control"]
    screenshot(page, f"lti-new-window-frame-{backend}")

    with context.expect_page() as opened:
        button.click()
    window = opened.value
    expect(window.get_by_role("heading", level=1)).to_have_text(COURSE_TITLE)
    assert origin(window.url) == https_server.url, "a top-level window of the tool"
    assert urlsplit(window.url).path == f"/courses/{ORIENTATION}/"
    assert window.evaluate("window.top === window && window.opener === null")
    assert origin(page.url) == platform.base_url, "the LMS page stays where it was"
    cookies = context.cookies(https_server.url)
    assert {c.get("partitionKey") for c in cookies if c["name"] == "session"} == {"https://localhost"}, (
        "the session cookie is first-party, none was kept in the LMS's frame"
    )

    window.get_by_role("link", name="Start the course").click()
    expect(window.locator("article .eyebrow")).to_contain_text("Lesson 1 of 6")
    window.get_by_role("button", name="Next lesson").click()  # a POST with the session's CSRF token
    expect(window.locator("article .eyebrow")).to_contain_text("Lesson 2 of 6")
    screenshot(window, f"lti-new-window-lesson-{backend}")
