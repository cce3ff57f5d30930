"""Cookie attributes in production: `Secure; SameSite=None; Partitioned; HttpOnly` over HTTPS, including
behind a TLS-terminating proxy (TRAINING_PROXY_FIX=1 and X-Forwarded-Proto: https)."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import settings_for
from tests.launch.conftest import learner_claims
from tests.lti_platform import LaunchDriver

EMBEDDABLE = {"secure", "samesite=none", "partitioned", "httponly"}


@pytest.fixture
def app_settings(database_url, tmp_path):
    return settings_for(
        database_url,
        tmp_path / "instance",
        CONFIG="production",
        PUBLIC_URL="https://localhost",
        PROXY_FIX=1,
    )


def attributes(set_cookies: list[str], name_prefix: str) -> list[set[str]]:
    """The attributes (lower-cased, without values except SameSite) of each cookie named name_prefix*."""
    found = []
    for header in set_cookies:
        name, _, rest = header.partition("=")
        if not name.startswith(name_prefix):
            continue
        parts = [part.strip().lower() for part in rest.split(";")[1:]]
        found.append({p for p in parts if "=" not in p or p.startswith("samesite=")})
    assert found, f"no {name_prefix}* cookie in {set_cookies}"
    return found


def test_over_https_the_state_and_session_cookies_work_in_the_lms_frame(client, registered):
    driver = LaunchDriver(registered, client, tool_base_url="https://localhost")
    result = driver.launch(learner_claims(registered))
    assert result.status == 200, result.text[:500]
    for cookie in attributes(result.login.response.set_cookies, "lti1p3-"):
        assert cookie >= EMBEDDABLE, cookie
    [session] = attributes(result.response.set_cookies, "session")
    assert session >= EMBEDDABLE, session


def test_behind_a_tls_proxy_the_cookies_are_secure(client, registered):
    registered.use_tool("https://localhost")
    initiation = registered.initiate_login(learner_claims(registered))
    forwarded = {"X-Forwarded-Proto": "https"}
    login = client.post("http://localhost/lti/login", data=initiation.params, headers=forwarded)
    assert login.status_code == 302
    assert "redirect_uri=https%3A%2F%2Flocalhost%2Flti%2Flaunch" in login.headers["Location"]
    for cookie in attributes(login.headers.getlist("Set-Cookie"), "lti1p3-"):
        assert cookie >= EMBEDDABLE, cookie

    auth = requests.get(login.headers["Location"], timeout=10)  # the browser at the LMS
    form = registered.oidc.last.form
    assert auth.status_code == 200 and form.action == "https://localhost/lti/launch"
    launched = client.post("http://localhost/lti/launch", data=form.fields, headers=forwarded)
    assert launched.status_code == 200, launched.get_data(as_text=True)[:500]
    [session] = attributes(launched.headers.getlist("Set-Cookie"), "session")
    assert session >= EMBEDDABLE, session


def test_without_the_proxy_header_the_state_cookie_is_not_marked_secure(client, registered):
    """Plain HTTP (a proxy that sets no X-Forwarded-Proto): the LTI cookies cannot claim Secure."""
    registered.use_tool("http://localhost")
    initiation = registered.initiate_login(learner_claims(registered))
    login = client.post("http://localhost/lti/login", data=initiation.params)
    assert login.status_code == 302
    for cookie in attributes(login.headers.getlist("Set-Cookie"), "lti1p3-"):
        assert "secure" not in cookie and "samesite=none" not in cookie, cookie
