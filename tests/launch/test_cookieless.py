"""Launches when the browser blocks cookies in the LMS frame (Moodle, Canvas or Brightspace as they
are): the launch is validated in the frame (after LTI Platform Storage vouched for the state, when
the platform offers it), then a one-time link, framed only by the LMS and naming the learner,
continues it in a new top-level window. A top-level POST without the cookie (a login CSRF's shape)
is refused; a browser without Fetch Metadata needs the LMS's own page to have posted the launch."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine

from tests.helpers import FormClient
from tests.launch.conftest import ORIENTATION, learner_claims
from tests.lti_platform import LaunchDriver, User
from tests.lti_platform.constants import roles_for
from tests.lti_platform.driver import FlaskTransport, LoginStep, ToolResponse
from tests.lti_platform.html_forms import parse_form
from training_app.db import utcnow

STORAGE = {"lti_storage_target": "post_message_forwarding"}


def data_attributes(page: str, marker: str) -> dict[str, str]:
    tag = re.search(rf"<[^>]*\b{marker}\b[^>]*>", page)
    assert tag, page
    return {name: unescape(value) for name, value in re.findall(r'data-([a-z-]+)="([^"]*)"', tag.group(0))}


def link_of(page: str) -> str:
    match = re.search(r'<a class="button" href="([^"]+)"', page)
    assert match, page
    return unescape(match.group(1))


def assert_clear_refusal(response: ToolResponse, status: int | None = None) -> None:
    assert 400 <= response.status < 500, (response.status, response.text[:500])
    if status is not None:
        assert response.status == status, response.text[:500]
    assert "<h1" in response.text and "Traceback" not in response.text
    assert response.headers["X-Request-ID"] in response.text


FRAME = {"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "cross-site"}
TOP_LEVEL = {**FRAME, "Sec-Fetch-Dest": "document"}
CLICKED_ON_THE_TOOL_PAGE = {
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Site": "same-origin",
}


def sending(client, headers: dict[str, str]):
    """The client sends these request headers with every request, as a browser sends Fetch Metadata."""
    client.environ_base.update(
        {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    )
    return client


def without_cookies(app, headers: dict[str, str]) -> FlaskTransport:
    return FlaskTransport(sending(app.test_client(use_cookies=False), headers))


@pytest.fixture
def iframe(app) -> FlaskTransport:
    """The LMS frame in a browser that blocks third-party cookies: nothing is kept, nothing sent."""
    return without_cookies(app, FRAME)


@pytest.fixture
def new_window(app) -> FormClient:
    """A top-level window of the same browser, opened by the button on the tool's page in the frame:
    first-party cookies work there."""
    return sending(FormClient(app), CLICKED_ON_THE_TOOL_PAGE)


def frame_ancestors(response: ToolResponse) -> list[str]:
    policy = response.headers["Content-Security-Policy"]
    return policy.split("frame-ancestors", 1)[1].split(";")[0].split()


def storage_login(driver: LaunchDriver, claims) -> LoginStep:
    login = driver.login(claims, params=STORAGE)
    assert login.auth_url is None and login.response.status == 200, login.response.text[:500]
    return LoginStep(login.initiation, login.response, link_of(login.response.text))


def test_login_with_a_storage_target_renders_the_platform_storage_page(driver, registered):
    login = storage_login(driver, learner_claims(registered))
    page = login.response.text
    state = parse_qs(urlsplit(login.auth_url).query)["state"][0]
    assert data_attributes(page, "data-lti-storage-put") == {
        "target": "post_message_forwarding",
        "origin": registered.base_url,
        "state": state,
        "next": login.auth_url,
    }
    assert login.auth_url.startswith(registered.auth_url + "?")
    assert "/static/js/lti.js" in page
    assert any(c.startswith(f"lti1p3-{state}={state};") for c in login.response.set_cookies), (
        "the state cookie is still set: it works where the browser allows it"
    )
    with_cookie = driver.post_launch(driver.authorize(login))
    assert with_cookie.status == 200, "a browser that kept the cookie launches as usual"


def test_a_launch_without_cookie_asks_platform_storage_then_continues_in_a_new_window(
    driver, registered, iframe, new_window
):
    auth = driver.authorize(storage_login(driver, learner_claims(registered)))
    asked = iframe.request("POST", auth.form.action, auth.form.fields)
    assert asked.status == 200, asked.text[:500]
    assert data_attributes(asked.text, "data-lti-storage-get") == {
        "target": "post_message_forwarding",
        "origin": registered.base_url,
        "state": auth.state,
    }
    form = parse_form(asked.text)
    assert form.action == "/lti/launch" and form.method == "POST"
    assert form.fields == {"id_token": auth.id_token, "state": auth.state, "lti_storage_verified": "1"}

    verified = iframe.request("POST", "http://localhost/lti/launch", form.fields)
    assert_continuation_page(verified, registered)
    link = link_of(verified.text)

    opened = new_window.get(link)
    assert opened.status_code == 303 and opened.headers["Location"].endswith(f"/courses/{ORIENTATION}/")
    overview = new_window.get(opened.headers["Location"])
    assert overview.status_code == 200, "signed in in the new window"
    assert_clear_refusal(FlaskTransport(new_window).request("GET", link), 401)
    assert_clear_refusal(iframe.request("POST", "http://localhost/lti/launch", form.fields))


def assert_continuation_page(page: ToolResponse, platform, name: str = "Ada Lovelace") -> None:
    """The page in the frame: it names the learner, only the LMS may frame it, no cache keeps it."""
    assert page.status == 200, page.text[:500]
    assert "Open the training in a new window" in page.text
    assert f"Continue as {name}" in page.text and f"signed in as {name}." in page.text
    assert re.fullmatch(r"http://localhost/lti/continue/[\w-]{20,}", link_of(page.text)), page.text
    assert 'target="_blank"' in page.text
    assert frame_ancestors(page) == ["'self'", platform.base_url]
    assert "no-store" in page.headers["Cache-Control"]


def launch_form(driver, registered, path: str, claims=None) -> tuple[str, dict[str, str]]:
    """Where and what the frame posts last: with platform storage, the tool's own page posts the
    platform's form again once the storage vouched for the state."""
    claims = claims or learner_claims(registered)
    if path == "platform storage":
        auth = driver.authorize(storage_login(driver, claims))
        return auth.form.action, {**auth.form.fields, "lti_storage_verified": "1"}
    auth = driver.authorize(driver.login(claims))
    return auth.form.action, auth.form.fields


def continuation_page(driver, registered, iframe, path: str) -> ToolResponse:
    return iframe.request("POST", *launch_form(driver, registered, path))


PATHS = ["platform storage", "frame only"]


@pytest.mark.parametrize("path", PATHS)
def test_the_continue_link_expires_after_two_minutes(driver, registered, iframe, new_window, path):
    link = link_of(continuation_page(driver, registered, iframe, path).text)
    with time_machine.travel(utcnow() + timedelta(seconds=121)):
        late = FlaskTransport(new_window).request("GET", link)
    assert_clear_refusal(late, 401)
    assert "expired" in late.text


def test_without_platform_storage_a_frame_continues_as_the_learner_in_a_new_window(
    driver, registered, iframe, new_window
):
    """Moodle 4.5 offers no platform storage, and its launch id works once: the launch is validated
    in the frame, and a one-time link carries it to a top-level window."""
    login = driver.login(learner_claims(registered))
    auth = driver.authorize(login)
    page = iframe.request("POST", auth.form.action, auth.form.fields)
    assert_continuation_page(page, registered)
    link = link_of(page.text)

    opened = new_window.get(link)
    assert opened.status_code == 303 and opened.headers["Location"].endswith(f"/courses/{ORIENTATION}/")
    overview = new_window.get(opened.headers["Location"])
    assert overview.status_code == 200, "signed in in the new window"
    assert "Start the course" in overview.get_data(as_text=True)
    assert_clear_refusal(FlaskTransport(new_window).request("GET", link), 401)

    replayed = iframe.request("POST", auth.form.action, auth.form.fields)
    assert_clear_refusal(replayed, 401)
    assert "/lti/continue/" not in replayed.text


@pytest.mark.parametrize("path", PATHS)
def test_a_replayed_launch_post_is_refused_in_a_frame_and_with_a_cookie(
    driver, registered, iframe, new_window, path
):
    action, fields = launch_form(driver, registered, path)
    assert_continuation_page(iframe.request("POST", action, fields), registered)
    assert_clear_refusal(iframe.request("POST", action, fields), 401)
    new_window.set_cookie(f"lti1p3-{fields['state']}", fields["state"])
    with_the_cookie = FlaskTransport(new_window).request("POST", action, fields)
    assert_clear_refusal(with_the_cookie, 401)
    assert "already been used" in unescape(with_the_cookie.text)


@pytest.mark.parametrize("path", PATHS)
def test_a_top_level_post_without_the_cookie_is_refused(driver, registered, app, path):
    """What a login CSRF looks like: another site posts its own valid launch as the page."""
    action, fields = launch_form(driver, registered, path)
    refused = without_cookies(app, TOP_LEVEL).request("POST", action, fields)
    assert_clear_refusal(refused, 403)
    assert "Go back to your LMS and open the training again." in unescape(refused.text)
    assert "/lti/continue/" not in refused.text
    in_the_frame = without_cookies(app, FRAME).request("POST", action, fields)
    assert in_the_frame.status == 200, "the refusal consumed nothing"


def test_the_continue_link_opens_only_from_the_button_on_the_tools_page(driver, registered, iframe, app):
    """A link handed to someone else, or opened by another site, signs no one in."""
    link = link_of(continuation_page(driver, registered, iframe, "frame only").text)
    for site in ("cross-site", "same-site", "none"):
        elsewhere = without_cookies(app, {**CLICKED_ON_THE_TOOL_PAGE, "Sec-Fetch-Site": site})
        refused = elsewhere.request("GET", link)
        assert_clear_refusal(refused, 403)
        assert "only from its button" in unescape(refused.text)
    assert_clear_refusal(without_cookies(app, {}).request("GET", link), 403)  # no Fetch Metadata, no Referer
    assert_clear_refusal(without_cookies(app, {"Referer": "http://evil.example/"}).request("GET", link), 403)
    old_browser = without_cookies(app, {"Referer": "http://localhost/lti/launch"})
    assert old_browser.request("GET", link).status == 303, "the refusals left the link usable"


def test_without_fetch_metadata_the_lms_page_must_have_posted_the_launch(driver, registered, app):
    """Plain http to a host other than localhost, or an old browser: no Sec-Fetch-Dest. The LMS's
    own page (Origin) posts only its signed-in user's launch, so that one continues."""
    auth = driver.authorize(driver.login(learner_claims(registered)))
    from_the_lms = without_cookies(app, {"Origin": registered.base_url})
    assert_continuation_page(from_the_lms.request("POST", auth.form.action, auth.form.fields), registered)

    auth = driver.authorize(storage_login(driver, learner_claims(registered)))
    asked = from_the_lms.request("POST", auth.form.action, auth.form.fields)
    verified = parse_form(asked.text).fields
    assert_clear_refusal(from_the_lms.request("POST", "http://localhost/lti/launch", verified), 403)
    from_our_page = without_cookies(app, {"Origin": "http://localhost"})
    assert_continuation_page(
        from_our_page.request("POST", "http://localhost/lti/launch", verified), registered
    )


def test_without_fetch_metadata_another_origin_gets_a_new_login_at_top_level(
    driver, registered, app, new_window
):
    login = driver.login(learner_claims(registered))
    auth = driver.authorize(login)
    old_browser = without_cookies(app, {"Origin": "https://elsewhere.example"})
    page = old_browser.request("POST", auth.form.action, auth.form.fields)
    assert page.status == 200 and "Open the training in a new window" in page.text
    assert "Continue as" not in page.text
    restart = link_of(page.text)
    assert restart.startswith("http://localhost/lti/login?")
    sent = {name: values[0] for name, values in parse_qs(urlsplit(restart).query).items()}
    assert sent == login.initiation.params
    again = new_window.get(restart)
    assert again.status_code == 302 and again.headers["Location"].startswith(registered.auth_url)
    assert parse_qs(urlsplit(again.headers["Location"]).query)["login_hint"] == [sent["login_hint"]]


def test_instructor_context_survives_the_new_window(driver, registered, iframe, new_window):
    grace = User.named("t-grace", "Grace", "Hopper", email="grace@acme.example")
    claims = registered.resource_link_claims(
        grace, roles_for("moodle", "instructor"), custom={"course": ORIENTATION}
    )
    auth = driver.authorize(storage_login(driver, claims))
    asked = iframe.request("POST", auth.form.action, auth.form.fields)
    verified = iframe.request("POST", "http://localhost/lti/launch", parse_form(asked.text).fields)
    opened = new_window.get(link_of(verified.text))
    assert opened.status_code == 303 and opened.headers["Location"].endswith("/lti/report")
    report = new_window.get(opened.headers["Location"])
    assert report.status_code == 200, "the instructor's launch context came along"


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"state": "state-nobody-issued", "id_token": "x.y.z"},
        {"state": "state-nobody-issued", "id_token": "x.y.z", "lti_storage_verified": "1"},
        {"id_token": "only-a-token"},
    ],
)
def test_malformed_cookieless_posts_are_clear_refusals(registered, iframe, fields):
    assert_clear_refusal(iframe.request("POST", "http://localhost/lti/launch", fields))


def test_a_storage_verified_post_needs_the_token_issued_for_that_state(driver, registered, iframe):
    first = driver.authorize(storage_login(driver, learner_claims(registered)))
    second = driver.authorize(storage_login(driver, learner_claims(registered)))
    mixed = {"id_token": second.id_token, "state": first.state, "lti_storage_verified": "1"}
    refused = iframe.request("POST", "http://localhost/lti/launch", mixed)
    assert_clear_refusal(refused, 401)
    assert "does not belong to this browser session" in refused.text
    garbage = {"id_token": "not-a-jwt", "state": first.state, "lti_storage_verified": "1"}
    assert_clear_refusal(iframe.request("POST", "http://localhost/lti/launch", garbage))


def test_an_unknown_continue_token_and_an_unknown_platform_are_clear_refusals(registered, iframe, new_window):
    unknown_token = FlaskTransport(new_window).request("GET", "http://localhost/lti/continue/never-issued")
    assert_clear_refusal(unknown_token, 401)
    unknown = iframe.request(
        "POST",
        "http://localhost/lti/login",
        {
            "iss": "https://unknown.example",
            "login_hint": "x",
            "target_link_uri": "http://localhost/lti/launch",
        }
        | STORAGE,
    )
    assert_clear_refusal(unknown, 403)
