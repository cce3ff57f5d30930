"""An LTI 1.3 Advantage platform (LMS) on 127.0.0.1 for driving the tool over real HTTP."""

from __future__ import annotations

import re
import secrets
import string
import threading
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests

from tests.lti_platform.claims import (
    Claims,
    Context,
    DeepLinkingSettings,
    LaunchPresentation,
    ResourceLink,
    ToolPlatform,
    User,
    ags_claim,
    deep_linking_claims,
    nrps_claim,
    resource_link_claims,
)
from tests.lti_platform.constants import (
    AGS_SCOPES,
    ALL_SERVICE_SCOPES,
    CLAIM_DEPLOYMENT_ID,
    CLAIM_TARGET_LINK_URI,
    TOOL_CONFIGURATION,
    Flavour,
)
from tests.lti_platform.deep_linking import DeepLinkingService
from tests.lti_platform.httpio import HttpRequest, HttpResponse, bearer_error, json_response, text_response
from tests.lti_platform.keys import RsaKey, jwks_of
from tests.lti_platform.oauth import TokenService
from tests.lti_platform.oidc import LoginInitiation, OidcService
from tests.lti_platform.registration import RegistrationRecord, RegistrationService, canvas_deployment_id
from tests.lti_platform.security import BadTokenCase, bad_token_cases
from tests.lti_platform.services import AgsService, LineItem, NrpsService
from tests.lti_platform.tokens import TokenOptions, build_id_token_payload, sign_jwt

Handler = Callable[..., HttpResponse]

ENDPOINTS = (
    "jwks",
    "auth",
    "token",
    "lineitems",
    "lineitem",
    "scores",
    "results",
    "memberships",
    "openid-configuration",
    "registrations",
    "deep-link-return",
)


@dataclass
class ToolEndpoints:
    """Where the platform believes the tool lives (what an admin registers in the LMS)."""

    login_url: str
    redirect_uris: list[str]
    jwks_url: str
    register_url: str
    jwks: dict[str, Any] | None = None  # a fixed tool JWKS instead of fetching jwks_url

    @classmethod
    def at(cls, base_url: str) -> ToolEndpoints:
        base = base_url.rstrip("/")
        return cls(
            login_url=f"{base}/lti/login",
            redirect_uris=[f"{base}/lti/launch"],
            jwks_url=f"{base}/lti/jwks",
            register_url=f"{base}/lti/register",
        )

    @property
    def launch_url(self) -> str:
        return self.redirect_uris[0]


@dataclass
class ScriptedResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1

    def response(self) -> HttpResponse:
        if isinstance(self.body, dict | list):
            response = json_response(self.status, self.body)
        elif self.body is None:
            response = json_response(self.status, {"error": f"scripted {self.status}"})
        else:
            response = text_response(self.status, str(self.body))
        response.headers.update(self.headers)
        return response


@dataclass
class RequestRecord:
    endpoint: str | None
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int = 0
    scripted: bool = False


@dataclass
class _Route:
    endpoint: str
    methods: frozenset[str]
    pattern: re.Pattern[str]


_CTX = r"(?P<context_id>[^/]+)"
_ROUTES = [
    _Route("jwks", frozenset({"GET"}), re.compile(r"/jwks")),
    _Route("auth", frozenset({"GET", "POST"}), re.compile(r"/auth")),
    _Route("token", frozenset({"POST"}), re.compile(r"/token")),
    _Route("lineitems", frozenset({"GET", "POST"}), re.compile(rf"/api/ags/{_CTX}/lineitems")),
    _Route(
        "lineitem",
        frozenset({"GET", "PUT", "DELETE"}),
        re.compile(rf"/api/ags/{_CTX}/lineitems/(?P<item_id>[^/]+)"),
    ),
    _Route(
        "scores", frozenset({"POST"}), re.compile(rf"/api/ags/{_CTX}/lineitems/(?P<item_id>[^/]+)/scores")
    ),
    _Route(
        "results", frozenset({"GET"}), re.compile(rf"/api/ags/{_CTX}/lineitems/(?P<item_id>[^/]+)/results")
    ),
    _Route("memberships", frozenset({"GET"}), re.compile(rf"/api/nrps/{_CTX}/memberships")),
    _Route("openid-configuration", frozenset({"GET"}), re.compile(r"/\.well-known/openid-configuration")),
    _Route("registrations", frozenset({"POST"}), re.compile(r"/registrations")),
    _Route("deep-link-return", frozenset({"POST"}), re.compile(r"/deep-link-return")),
]


def _default_client_id(flavour: Flavour) -> str:
    if flavour == "canvas":
        return "10000000000001"
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(15))


def _default_deployment_id(flavour: Flavour) -> str:
    return canvas_deployment_id(1) if flavour == "canvas" else "1"


@dataclass(eq=False)
class Platform:
    """An LMS emulator. Start it (`with Platform() as platform:` or `start()`/`stop()`), point it
    at the tool (`use_tool(base_url)`), then launch with `LaunchDriver`.

    flavour: "moodle" or "canvas" (openid-configuration and registration shapes, service quirks,
        default client and deployment ids).
    custom_issuer: an issuer other than the base URL (e.g. "https://canvas.instructure.com").
    Services: `tokens` (OAuth), `oidc` (/auth), `ags`, `nrps`, `registration`, `deep_linking`;
    each records what it received. `fail(endpoint, status, times=...)` scripts failures.
    """

    flavour: Flavour = "moodle"
    client_id: str = ""
    deployment_id: str = ""
    custom_issuer: str | None = None
    tool: ToolEndpoints | None = None
    allowed_scopes: set[str] = field(default_factory=lambda: set(ALL_SERVICE_SCOPES))
    jwks_cache_seconds: int = 300
    auth_query: str = ""  # e.g. "tenant=acme": an authorization URL that already has a query string

    def __post_init__(self) -> None:
        self.client_id = self.client_id or _default_client_id(self.flavour)
        self.deployment_id = self.deployment_id or _default_deployment_id(self.flavour)
        self.lock = threading.RLock()
        self.keys: list[RsaKey] = [RsaKey.generate()]
        self.signing_key: RsaKey = self.keys[0]
        self.jwks_override: dict[str, Any] | None = None
        self.jwks_fetches = 0
        self.tool_jwks_fetches = 0
        self.requests: list[RequestRecord] = []
        self.scripted: dict[str, list[ScriptedResponse]] = {}
        self.contexts: dict[str, Context] = {}
        self.tool_platform = self._tool_platform()
        self.tokens = TokenService(
            client_id=lambda: self.client_id,
            token_url=lambda: self.token_url,
            allowed_scopes=lambda: self.allowed_scopes,
            tool_jwks=self.fetch_tool_jwks,
        )
        self.oidc = OidcService(self)
        self.ags = AgsService(self)
        self.nrps = NrpsService(self)
        self.registration = RegistrationService(self)
        self.deep_linking = DeepLinkingService(self)
        self._other_key: RsaKey | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Handler] = {
            "jwks": self._serve_jwks,
            "auth": self.oidc.handle,
            "token": self.tokens.handle,
            "lineitems": self._lineitems,
            "lineitem": self.ags.lineitem,
            "scores": self.ags.post_score,
            "results": self.ags.results,
            "memberships": self.nrps.memberships,
            "openid-configuration": self.registration.handle_configuration,
            "registrations": self.registration.handle_registration,
            "deep-link-return": self.deep_linking.handle,
        }

    # --- lifecycle ---
    def start(self) -> Platform:
        if self._server is not None:
            return self
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="lti-platform",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> Platform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- URLs ---
    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("start() the platform first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def host(self) -> str:
        return self.base_url.split("//", 1)[1]

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def issuer(self) -> str:
        return self.custom_issuer or self.base_url

    @property
    def jwks_url(self) -> str:
        return self.url("/jwks")

    @property
    def auth_url(self) -> str:
        return self.url("/auth") + (f"?{self.auth_query}" if self.auth_query else "")

    @property
    def token_url(self) -> str:
        return self.url("/token")

    @property
    def registration_url(self) -> str:
        return self.url("/registrations")

    @property
    def openid_configuration_url(self) -> str:
        return self.url("/.well-known/openid-configuration")

    @property
    def deep_link_return_url(self) -> str:
        return self.url("/deep-link-return")

    def tool_config(self) -> dict[str, Any]:
        """This platform as a pylti1p3 ToolConfDict entry (issuer -> settings)."""
        return {
            self.issuer: {
                "client_id": self.client_id,
                "auth_login_url": self.auth_url,
                "auth_token_url": self.token_url,
                "key_set_url": self.jwks_url,
                "deployment_ids": [self.deployment_id],
            }
        }

    # --- the tool ---
    def use_tool(self, base_url: str) -> ToolEndpoints:
        self.tool = ToolEndpoints.at(base_url)
        return self.tool

    def require_tool(self) -> ToolEndpoints:
        if self.tool is None:
            raise RuntimeError("call platform.use_tool(base_url) first")
        return self.tool

    def fetch_tool_jwks(self) -> dict[str, Any]:
        """The tool's public keys: fetched over HTTP from its jwks_url (or `tool.jwks` if set)."""
        tool = self.require_tool()
        if tool.jwks is not None:
            return tool.jwks
        response = requests.get(tool.jwks_url, timeout=10)
        response.raise_for_status()
        with self.lock:
            self.tool_jwks_fetches += 1
        return response.json()

    def adopt_registration(self, record: RegistrationRecord) -> None:
        """Configure the platform as the LMS would after a successful dynamic registration."""
        body, response = record.body, record.response
        self.client_id = response["client_id"]
        self.deployment_id = record.deployment_id or canvas_deployment_id(len(self.registration.records))
        self.tool = ToolEndpoints(
            login_url=body["initiate_login_uri"],
            redirect_uris=list(body["redirect_uris"]),
            jwks_url=body["jwks_uri"],
            register_url=self.tool.register_url if self.tool else "",
            jwks=self.tool.jwks if self.tool else None,
        )
        granted = set(str(response.get("scope") or "").split()) & set(ALL_SERVICE_SCOPES)
        self.allowed_scopes = granted
        target = response[TOOL_CONFIGURATION].get("target_link_uri")
        if target and target not in self.tool.redirect_uris:
            self.tool.redirect_uris.append(target)

    # --- keys ---
    def jwks(self) -> dict[str, Any]:
        with self.lock:
            return self.jwks_override if self.jwks_override is not None else jwks_of(*self.keys)

    def rotate_key(self, *, keep_old: bool = True) -> RsaKey:
        """A new signing key, published alongside the old one (unless keep_old=False)."""
        key = RsaKey.generate()
        with self.lock:
            self.keys = [*self.keys, key] if keep_old else [key]
            self.signing_key = key
        return key

    def add_key(self, key: RsaKey | None = None) -> RsaKey:
        """Publish another key without signing with it."""
        key = key or RsaKey.generate()
        with self.lock:
            self.keys.append(key)
        return key

    def serve_jwks(self, jwks: dict[str, Any] | None) -> None:
        """Serve exactly `jwks` at /jwks (e.g. one lacking the signing kid); None restores."""
        with self.lock:
            self.jwks_override = jwks

    @property
    def other_key(self) -> RsaKey:
        """A key the platform never publishes."""
        with self.lock:
            if self._other_key is None:
                self._other_key = RsaKey.generate(kid="unpublished-key")
            return self._other_key

    # --- messages ---
    def _tool_platform(self) -> ToolPlatform:
        if self.flavour == "canvas":
            guid = f"{secrets.token_hex(20)}:canvas-lms"
            return ToolPlatform(
                guid=guid, name="Emulated University", product_family_code="canvas", version="cloud"
            )
        return ToolPlatform(
            guid="lms.example.com", name="Emulated Moodle", product_family_code="moodle", version="2024100700"
        )

    def add_context(self, context: Context) -> Context:
        with self.lock:
            self.contexts[context.id] = context
        return context

    def ags_claim(
        self, context_id: str, lineitem: LineItem | None = None, scopes: Iterable[str] | None = None
    ) -> dict[str, Any]:
        chosen = list(scopes) if scopes is not None else [s for s in AGS_SCOPES if s in self.allowed_scopes]
        return ags_claim(
            lineitems=self.ags.lineitems_url(context_id),
            lineitem=self.ags.lineitem_url(lineitem) if lineitem else None,
            scopes=chosen,
        )

    def nrps_claim(self, context_id: str) -> dict[str, Any]:
        return nrps_claim(self.nrps.memberships_url(context_id))

    def resource_link_claims(
        self,
        user: User,
        roles: Sequence[str],
        *,
        context: Context | None = None,
        resource_link: ResourceLink | None = None,
        custom: dict[str, str] | None = None,
        ags: bool | dict[str, Any] = False,
        lineitem: LineItem | None = None,
        nrps: bool | dict[str, Any] = False,
        launch_presentation: LaunchPresentation | None = None,
        locale: str | None = None,
    ) -> Claims:
        """A resource link launch from this platform. ags=True adds the AGS claim with a line item
        for the link (made if `lineitem` is not given), as an LMS does for a graded activity."""
        context = self.add_context(context or Context())
        link = resource_link or ResourceLink()
        ags_value: dict[str, Any] | None = ags if isinstance(ags, dict) else None
        if ags is True:
            item = lineitem or self.ags.create(context.id, link.title, 100, resource_link_id=link.id)
            ags_value = self.ags_claim(context.id, item)
        nrps_value = nrps if isinstance(nrps, dict) else (self.nrps_claim(context.id) if nrps else None)
        return resource_link_claims(
            user,
            roles,
            custom=custom,
            context=context,
            resource_link=link,
            ags=ags_value,
            nrps=nrps_value,
            launch_presentation=launch_presentation or self._presentation(locale),
            locale=locale,
            target_link_uri=self.require_tool().launch_url,
            deployment_id=self.deployment_id,
            tool_platform=self.tool_platform,
        )

    def deep_linking_claims(
        self,
        user: User,
        roles: Sequence[str],
        *,
        context: Context | None = None,
        data: str | None = None,
        accept_types: Sequence[str] = ("ltiResourceLink",),
        accept_presentation_document_targets: Sequence[str] = ("iframe", "window"),
        accept_multiple: bool = True,
        accept_lineitem: bool | None = True,
        auto_create: bool = False,
        title: str | None = None,
        text: str | None = None,
        custom: dict[str, str] | None = None,
        locale: str | None = None,
    ) -> Claims:
        """A deep linking request whose return URL is this platform's /deep-link-return.
        `data` defaults to a fresh opaque value that the response must echo."""
        context = self.add_context(context or Context())
        data = data if data is not None else f"dl-{secrets.token_hex(8)}"
        self.deep_linking.expect_data(data)
        settings = DeepLinkingSettings(
            deep_link_return_url=self.deep_link_return_url,
            accept_types=tuple(accept_types),
            accept_presentation_document_targets=tuple(accept_presentation_document_targets),
            accept_multiple=accept_multiple,
            accept_lineitem=accept_lineitem,
            auto_create=auto_create,
            data=data,
            title=title,
            text=text,
        )
        return deep_linking_claims(
            user,
            roles,
            settings,
            custom=custom,
            context=context,
            launch_presentation=self._presentation(locale),
            locale=locale,
            target_link_uri=self.require_tool().launch_url,
            deployment_id=self.deployment_id,
            tool_platform=self.tool_platform,
        )

    def _presentation(self, locale: str | None) -> LaunchPresentation:
        return LaunchPresentation(document_target="iframe", return_url=self.url("/return"), locale=locale)

    # --- signing ---
    def sign_id_token(self, claims: Claims, nonce: str, options: TokenOptions | None = None) -> str:
        options = options or TokenOptions()
        message = dict(claims)
        message.setdefault(CLAIM_DEPLOYMENT_ID, self.deployment_id)
        if self.tool is not None:
            message.setdefault(CLAIM_TARGET_LINK_URI, self.tool.launch_url)
        payload = build_id_token_payload(
            message, nonce, issuer=self.issuer, client_id=self.client_id, options=options
        )
        return sign_jwt(payload, options.key or self.signing_key, kid=options.kid, alg=options.alg)

    def id_token(
        self,
        claims: Claims,
        nonce: str,
        *,
        key: RsaKey | None = None,
        kid: str | None = None,
        iat_offset: int = 0,
        exp_offset: int = 3600,
        aud: str | list[str] | None = None,
        iss: str | None = None,
        azp: str | None = None,
        drop: Sequence[str] = (),
        alg: str = "RS256",
    ) -> str:
        """Sign an id_token for `claims`; every keyword makes one thing about it wrong on purpose
        (see TokenOptions). kid=NO_KID omits the header."""
        options = TokenOptions(
            key=key,
            kid=kid,
            iat_offset=iat_offset,
            exp_offset=exp_offset,
            aud=aud,
            iss=iss,
            azp=azp,
            drop=tuple(drop),
            alg=alg,
        )
        return self.sign_id_token(claims, nonce, options)

    def bad_token_cases(self) -> list[BadTokenCase]:
        return bad_token_cases(self.client_id, self.signing_key.kid)

    def bad_token_case(self, name: str) -> BadTokenCase:
        return next(case for case in self.bad_token_cases() if case.name == name)

    def case_options(self, case: BadTokenCase) -> TokenOptions:
        return case.options.but(key=self.other_key) if case.other_key else case.options

    def bad_token(self, name: str, claims: Claims, nonce: str) -> str:
        case = self.bad_token_case(name)
        return self.sign_id_token(case.apply(claims), nonce, self.case_options(case))

    # --- launches ---
    def initiate_login(
        self,
        claims: Claims,
        *,
        token: TokenOptions | None = None,
        target_link_uri: str | None = None,
        login_hint: str | None = None,
    ) -> LoginInitiation:
        """Start a launch: the parameters the LMS sends to the tool's OIDC login URL."""
        return self.oidc.initiate(claims, token=token, target_link_uri=target_link_uri, login_hint=login_hint)

    # --- scripted failures ---
    def fail(
        self,
        endpoint: str,
        status: int,
        *,
        times: int = 1,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `times` requests to `endpoint` with `status` (queued in call order).
        e.g. fail("scores", 500, times=2) then the third score succeeds."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {ENDPOINTS}")
        scripted = ScriptedResponse(status, body, dict(headers or {}), times)
        with self.lock:
            self.scripted.setdefault(endpoint, []).append(scripted)

    def fail_token_expired(self, endpoint: str = "scores", *, times: int = 1) -> None:
        """Answer 401 invalid_token "expired" as a platform does when a cached token ran out."""
        response = bearer_error(401, "invalid_token", "the access token expired")
        self.fail(endpoint, 401, times=times, body=response.body.decode(), headers=response.headers)

    def _take_scripted(self, endpoint: str) -> HttpResponse | None:
        with self.lock:
            queue = self.scripted.get(endpoint) or []
            if not queue:
                return None
            scripted = queue[0]
            scripted.times -= 1
            if scripted.times <= 0:
                queue.pop(0)
        return scripted.response()

    # --- request log ---
    def requests_to(self, endpoint: str) -> list[RequestRecord]:
        with self.lock:
            return [record for record in self.requests if record.endpoint == endpoint]

    @property
    def token_requests(self) -> int:
        return len(self.requests_to("token"))

    # --- dispatch ---
    def dispatch(self, request: HttpRequest) -> HttpResponse:
        record = RequestRecord(
            None, request.method, request.path, request.query, request.headers, request.body
        )
        with self.lock:
            self.requests.append(record)
        route, params = _match(request)
        if route is None:
            record.status = 404
            return text_response(404, f"no endpoint at {request.path}")
        record.endpoint = route.endpoint
        if request.method not in route.methods:
            record.status = 405
            response = text_response(405, f"{request.method} not allowed")
            response.headers["Allow"] = ", ".join(sorted(route.methods))
            return response
        response = self._take_scripted(route.endpoint)
        if response is not None:
            record.scripted = True
            if route.endpoint == "scores":
                self.ags.record_scripted(request, params["context_id"], params["item_id"], response)
        else:
            response = self._call(route.endpoint, request, params)
        record.status = response.status
        return response

    def _call(self, endpoint: str, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        try:
            return self._handlers[endpoint](request, **params)
        except Exception:
            return text_response(500, "platform emulator error:\n" + traceback.format_exc())

    def _serve_jwks(self, request: HttpRequest) -> HttpResponse:
        with self.lock:
            self.jwks_fetches += 1
        response = json_response(200, self.jwks())
        response.headers["Cache-Control"] = f"max-age={self.jwks_cache_seconds}"
        return response

    def _lineitems(self, request: HttpRequest, context_id: str) -> HttpResponse:
        if request.method == "POST":
            return self.ags.create_lineitem(request, context_id)
        return self.ags.list_lineitems(request, context_id)


def _match(request: HttpRequest) -> tuple[_Route | None, dict[str, str]]:
    for route in _ROUTES:
        match = route.pattern.fullmatch(request.path)
        if match:
            return route, {name: unquote(value) for name, value in match.groupdict().items()}
    return None, {}


def _handler_class(platform: Platform) -> type[BaseHTTPRequestHandler]:
    class PlatformHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            query = {key: values[0] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
            headers = {key.lower(): value for key, value in self.headers.items()}
            response = platform.dispatch(HttpRequest(self.command, split.path, query, headers, body))
            try:
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return PlatformHandler
