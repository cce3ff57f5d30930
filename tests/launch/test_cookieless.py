"""Launches when the browser blocks cookies in the LMS frame: LTI Platform Storage, then a one-time
link that continues the launch in a new window; without platform storage, a new-window restart."""

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


@pytest.fixture
def iframe(app) -> FlaskTransport:
    """The LMS frame in a browser that blocks third-party cookies: nothing is kept, nothing sent."""
    return FlaskTransport(app.test_client(use_cookies=False))


@pytest.fixture
def new_window(app) -> FormClient:
    """A top-level window of the same browser: first-party cookies work there."""
    return FormClient(app)


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
    assert verified.status == 200, verified.text[:500]
    assert "Open the training in a new window" in verified.text
    link = link_of(verified.text)
    assert re.fullmatch(r"http://localhost/lti/continue/[\w-]{20,}", link), link
    assert 'target="_blank"' in verified.text

    opened = new_window.get(link)
    assert opened.status_code == 303 and opened.headers["Location"].endswith(f"/courses/{ORIENTATION}/")
    overview = new_window.get(opened.headers["Location"])
    assert overview.status_code == 200, "signed in in the new window"
    assert_clear_refusal(FlaskTransport(new_window).request("GET", link), 401)
    assert_clear_refusal(iframe.request("POST", "http://localhost/lti/launch", form.fields))


def test_the_continue_link_expires_after_two_minutes(driver, registered, iframe, new_window):
    auth = driver.authorize(storage_login(driver, learner_claims(registered)))
    asked = iframe.request("POST", auth.form.action, auth.form.fields)
    verified = iframe.request("POST", "http://localhost/lti/launch", parse_form(asked.text).fields)
    link = link_of(verified.text)
    with time_machine.travel(utcnow() + timedelta(seconds=121)):
        late = FlaskTransport(new_window).request("GET", link)
    assert_clear_refusal(late, 401)
    assert "expired" in late.text


def test_without_platform_storage_the_page_restarts_the_login_at_top_level(
    driver, registered, iframe, new_window
):
    login = driver.login(learner_claims(registered))
    auth = driver.authorize(login)
    page = iframe.request("POST", auth.form.action, auth.form.fields)
    assert page.status == 200 and "Open the training in a new window" in page.text
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


def test_an_unknown_continue_token_and_an_unknown_platform_are_clear_refusals(registered, iframe):
    assert_clear_refusal(iframe.request("GET", "http://localhost/lti/continue/never-issued"), 401)
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
