"""Issue 5: the LMS embeds the tool in an iframe; the launch and the learner's session work there.

The platform (the emulator, http://127.0.0.1:<port>) serves a course page whose iframe opens the
tool's OIDC login on https://localhost:<port> - another site - with the production cookie
settings (Secure; SameSite=None; Partitioned). The browser goes: platform page -> tool /lti/login
-> platform /auth (auto-posted form) -> tool /lti/launch, which answers with the course overview and
gives the frame the overview's address (a reload reads it again), all inside the frame.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Browser, Playwright, Response, expect

from tests import factories
from tests.browser.support import DESKTOP, ORIENTATION, launch_chromium, screenshot
from tests.browser.tls import HttpsServer, localhost_certificate
from tests.conftest import settings_for
from tests.launch.conftest import learner_claims, register_platform
from tests.lti_platform import Platform
from tests.lti_platform.httpio import HttpRequest, HttpResponse, html_response
from tests.lti_platform.oidc import LoginInitiation
from training_app.extensions import db

COURSE_PAGE = "/course/view.php"
COURSE_TITLE = "Social media policy orientation"


@dataclass(eq=False)
class EmbeddingPlatform(Platform):
    """The emulator, also serving the LMS course page that embeds the tool (as Moodle does)."""

    course_page: str = ""

    def dispatch(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET" and request.path == COURSE_PAGE:
            return html_response(200, self.course_page)
        return super().dispatch(request)

    def embed(self, login: LoginInitiation) -> str:
        """Put the tool's login URL, with this launch's initiation parameters, in the course page."""
        src = f"{login.url}?{urlencode(login.params)}"
        self.course_page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Onboarding · Moodle</title>'
            "</head><body><h1>New hire onboarding</h1>"
            f'<iframe id="tool" title="Postwise" src="{html.escape(src)}" width="1180" height="760"></iframe>'
            "</body></html>"
        )
        return self.url(COURSE_PAGE)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return localhost_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_server(certificate: tuple[Path, Path]) -> Iterator[HttpsServer]:
    server = HttpsServer(*certificate)
    yield server
    server.stop()


@pytest.fixture
def app_settings(database_url: str, tmp_path: Path, https_server: HttpsServer) -> dict[str, object]:
    """Production cookies, public URL https://localhost:<port>."""
    return settings_for(
        database_url,
        tmp_path / "instance",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="None",
        SESSION_COOKIE_PARTITIONED=True,
        PUBLIC_URL=https_server.url,
    )


@pytest.fixture(scope="module")
def tls_browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = launch_chromium(playwright, "--ignore-certificate-errors")
    yield chromium
    chromium.close()


@pytest.fixture
def platform(app: Flask, https_server: HttpsServer, published: None) -> Iterator[EmbeddingPlatform]:
    """Courses published, and the emulator registered for acme, pointed at the tool on https://localhost."""
    https_server.mount(app)
    with EmbeddingPlatform(flavour="moodle") as running:
        running.use_tool(https_server.url)
        with app.app_context():
            register_platform(factories.tenant("acme"), running)
            db.session.commit()
        yield running


def csp_directive(policy: str, name: str) -> list[str]:
    for directive in policy.split(";"):
        tokens = directive.split()
        if tokens and tokens[0] == name:
            return tokens[1:]
    return []


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.mark.browser
def test_a_launch_inside_the_lms_iframe_opens_the_course_and_keeps_the_session(
    platform: EmbeddingPlatform, https_server: HttpsServer, tls_browser: Browser, backend: str
):
    context = tls_browser.new_context(viewport=DESKTOP, locale="en-US")
    context.set_default_timeout(15_000)
    tool_responses: list[Response] = []

    def record(response: Response) -> None:
        if response.url.startswith(https_server.url):
            tool_responses.append(response)

    context.on("response", record)
    try:
        page = context.new_page()
        page.goto(platform.embed(platform.initiate_login(learner_claims(platform))))
        frame = page.frame_locator("iframe#tool")

        expect(frame.get_by_role("heading", level=1)).to_have_text(COURSE_TITLE)
        expect(frame.get_by_role("link", name="Start the course")).to_be_visible()
        steps = [(r.request.method, urlsplit(r.url).path, r.status) for r in tool_responses]
        assert [s for s in steps if s[1].startswith("/lti/")] == [
            ("GET", "/lti/login", 302),
            ("POST", "/lti/launch", 200),  # the launch answers with the course overview
        ], steps
        assert platform.oidc.last is not None and platform.oidc.last.id_token, "the platform's /auth answered"
        overview = next(r for r in tool_responses if urlsplit(r.url).path == "/lti/launch")
        tool_frame = next(f for f in page.frames if f.url.startswith(https_server.url))
        assert urlsplit(tool_frame.url).path == f"/courses/{ORIENTATION}/", "the page took its own address"
        csp = overview.headers["content-security-policy"]
        assert platform.base_url in csp_directive(csp, "frame-ancestors"), csp
        session_cookie = next(c for c in context.cookies(https_server.url) if c["name"] == "session")
        assert session_cookie["secure"] and session_cookie["sameSite"] == "None", session_cookie
        assert session_cookie.get("partitionKey") == "http://127.0.0.1", "Partitioned: keyed by the LMS site"

        with page.expect_response(
            lambda r: r.url.startswith(https_server.url) and r.frame == tool_frame
        ) as reload:
            tool_frame.evaluate("location.reload()")  # a reload reads the overview, never resends the launch
        answer = reload.value
        assert (answer.request.method, urlsplit(answer.url).path, answer.status) == (
            "GET",
            f"/courses/{ORIENTATION}/",
            200,
        )
        expect(frame.get_by_role("link", name="Start the course")).to_be_visible()

        frame.get_by_role("link", name="Start the course").click()
        expect(frame.locator("article .eyebrow")).to_contain_text("Lesson 1 of 6")
        tool_responses.clear()
        tool_frame.evaluate("history.back()")  # Back from the lesson: the overview, not the launch resent
        expect(frame.get_by_role("heading", level=1)).to_have_text(COURSE_TITLE)
        assert ("POST", "/lti/launch") not in [
            (r.request.method, urlsplit(r.url).path) for r in tool_responses
        ]
        frame.get_by_role("link", name="Start the course").click()
        expect(frame.locator("article .eyebrow")).to_contain_text("Lesson 1 of 6")
        frame.get_by_role("button", name="Next lesson").click()  # a POST with the session's CSRF token
        expect(frame.locator("article .eyebrow")).to_contain_text("Lesson 2 of 6")
        assert origin(page.url) == platform.base_url, "the LMS page stays the top-level page"
        screenshot(page, f"lti-iframe-lesson-{backend}")
    finally:
        context.close()
