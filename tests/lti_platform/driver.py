"""Drive a whole LTI launch against the tool as a browser would, through a Flask test client or
a requests.Session against a live server. The platform side always runs over real HTTP.

    driver = LaunchDriver(platform, client)                      # Flask test client
    driver = LaunchDriver(platform, "http://127.0.0.1:5000")     # live server (requests)
    result = driver.launch(platform.resource_link_claims(user, roles))
    assert result.response.status == 200

Step by step, to tamper in between:
    login = driver.login(claims)            # POST iss, login_hint, ... to /lti/login
    auth = driver.authorize(login)          # follow the redirect to the platform's /auth
    auth.form.fields["id_token"] = platform.bad_token("expired", claims, auth.nonce)
    response = driver.post_launch(auth)     # POST id_token + state to /lti/launch
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import requests
from flask.testing import FlaskClient
from requests.structures import CaseInsensitiveDict

from tests.lti_platform.claims import Claims
from tests.lti_platform.html_forms import Form, parse_form, parse_js_redirect
from tests.lti_platform.oidc import AuthRecord, LoginInitiation
from tests.lti_platform.platform import Platform
from tests.lti_platform.security import BadTokenCase
from tests.lti_platform.tokens import TokenOptions, unverified_parts

FLASK_BASE_URL = "http://localhost"


@dataclass
class ToolResponse:
    status: int
    headers: CaseInsensitiveDict[str]
    text: str
    url: str
    set_cookies: list[str] = field(default_factory=list)

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")

    def json(self) -> Any:
        return json.loads(self.text)


class Transport(Protocol):
    def request(self, method: str, url: str, data: Mapping[str, str] | None = None) -> ToolResponse: ...


class FlaskTransport:
    """Requests through a Flask test client; the client keeps the tool's cookies."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def request(self, method: str, url: str, data: Mapping[str, str] | None = None) -> ToolResponse:
        if method == "GET":
            extra = {"query_string": dict(data)} if data else {}
            response = self.client.get(url, follow_redirects=False, **extra)
        else:
            response = self.client.open(url, method=method, data=dict(data or {}), follow_redirects=False)
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(dict(response.headers.items()))
        return ToolResponse(
            status=response.status_code,
            headers=headers,
            text=response.get_data(as_text=True),
            url=url,
            set_cookies=response.headers.getlist("Set-Cookie"),
        )


class RequestsTransport:
    """Requests through a requests.Session (keeps cookies) against a live tool."""

    def __init__(self, session: requests.Session) -> None:
        self.session = session

    def request(self, method: str, url: str, data: Mapping[str, str] | None = None) -> ToolResponse:
        if method == "GET":
            response = self.session.get(url, params=dict(data or {}), allow_redirects=False, timeout=30)
        else:
            response = self.session.request(
                method, url, data=dict(data or {}), allow_redirects=False, timeout=30
            )
        return ToolResponse(
            status=response.status_code,
            headers=CaseInsensitiveDict(response.headers),
            text=response.text,
            url=url,
            set_cookies=list(response.raw.headers.getlist("Set-Cookie")),
        )


@dataclass
class LoginStep:
    initiation: LoginInitiation
    response: ToolResponse
    auth_url: str | None  # where the tool sent the browser (None if it did not redirect)


@dataclass
class AuthStep:
    login: LoginStep
    status: int
    page: str
    form: Form | None
    record: AuthRecord | None

    @property
    def nonce(self) -> str:
        return urlsplit_params(self.login.auth_url or "").get("nonce", "")

    @property
    def state(self) -> str:
        return urlsplit_params(self.login.auth_url or "").get("state", "")

    @property
    def id_token(self) -> str | None:
        return self.form.fields.get("id_token") if self.form else None

    @property
    def claims(self) -> dict[str, Any] | None:
        token = self.id_token
        return unverified_parts(token)[1] if token else None


@dataclass
class LaunchResult:
    login: LoginStep
    auth: AuthStep | None
    response: ToolResponse

    @property
    def status(self) -> int:
        return self.response.status

    @property
    def text(self) -> str:
        return self.response.text

    def json(self) -> Any:
        return self.response.json()


def urlsplit_params(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


class LaunchDriver:
    """Runs the OIDC third-party initiated login and launch against the tool."""

    def __init__(
        self,
        platform: Platform,
        tool: FlaskClient | str,
        *,
        session: requests.Session | None = None,
        tool_base_url: str | None = None,
    ) -> None:
        self.platform = platform
        if isinstance(tool, str):
            self.transport: Transport = RequestsTransport(session or requests.Session())
            self.tool_base_url = tool_base_url or tool.rstrip("/")
        else:
            self.transport = FlaskTransport(tool)
            self.tool_base_url = tool_base_url or FLASK_BASE_URL
        self.browser = requests.Session()  # the "browser" talking to the platform
        if platform.tool is None:
            platform.use_tool(self.tool_base_url)

    def close(self) -> None:
        self.browser.close()
        if isinstance(self.transport, RequestsTransport):
            self.transport.session.close()

    # --- steps ---
    def login(
        self,
        claims: Claims,
        *,
        token: TokenOptions | None = None,
        method: str = "POST",
        target_link_uri: str | None = None,
        login_hint: str | None = None,
        params: Mapping[str, str | None] | None = None,
    ) -> LoginStep:
        """Send the login initiation to the tool. `params` adds or (with None) removes parameters."""
        initiation = self.platform.initiate_login(
            claims, token=token, target_link_uri=target_link_uri, login_hint=login_hint
        )
        data = dict(initiation.params)
        for name, value in (params or {}).items():
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value
        response = self.transport.request(method, initiation.url, data)
        return LoginStep(initiation, response, _redirect_target(response))

    def authorize(self, login: LoginStep) -> AuthStep:
        """Follow the tool's redirect to the platform's /auth and read the auto-post form."""
        if login.auth_url is None:
            response = login.response
            raise AssertionError(
                f"the tool did not redirect to the platform: {response.status} {response.text[:500]}"
            )
        before = len(self.platform.oidc.records)
        response = self.browser.get(login.auth_url, allow_redirects=False, timeout=30)
        records = self.platform.oidc.records
        record = records[-1] if len(records) > before else None
        return AuthStep(login, response.status_code, response.text, parse_form(response.text), record)

    def post_launch(self, auth: AuthStep, fields: Mapping[str, str] | None = None) -> ToolResponse:
        """POST the form from /auth (id_token and state) to the tool's redirect_uri."""
        if auth.form is None:
            raise AssertionError(f"/auth answered no form: {auth.status} {auth.page[:500]}")
        data = dict(auth.form.fields)
        data.update(fields or {})
        return self.transport.request("POST", auth.form.action, data)

    # --- whole flows ---
    def launch(
        self,
        claims: Claims,
        *,
        token: TokenOptions | None = None,
        bad: str | BadTokenCase | None = None,
        method: str = "POST",
        target_link_uri: str | None = None,
    ) -> LaunchResult:
        """A complete launch. `token` or `bad` (a BadTokenCase name) makes the id_token wrong."""
        if bad is not None:
            case = bad if isinstance(bad, BadTokenCase) else self.platform.bad_token_case(bad)
            claims = case.apply(claims)
            token = self.platform.case_options(case)
        login = self.login(claims, token=token, method=method, target_link_uri=target_link_uri)
        if login.auth_url is None:
            return LaunchResult(login, None, login.response)
        auth = self.authorize(login)
        return LaunchResult(login, auth, self.post_launch(auth))

    def replay(self, result: LaunchResult) -> ToolResponse:
        """POST the same id_token and state again (a replay a tool must refuse)."""
        if result.auth is None:
            raise AssertionError("that launch never reached /auth")
        return self.post_launch(result.auth)

    def get(self, path_or_url: str) -> ToolResponse:
        """GET a tool page with the launch's cookies (e.g. the page the launch redirected to)."""
        url = path_or_url if "://" in path_or_url else self.tool_base_url + path_or_url
        return self.transport.request("GET", url)

    def register(self, register_url: str | None = None) -> ToolResponse:
        """Open the tool's dynamic registration URL as the LMS admin's browser would."""
        url = self.platform.registration.start_url(register_url)
        return self.transport.request("GET", url)


def _redirect_target(response: ToolResponse) -> str | None:
    if response.status in (301, 302, 303, 307, 308) and response.location:
        return response.location
    if response.status == 200:
        return parse_js_redirect(response.text)
    return None
