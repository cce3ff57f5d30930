"""Third-party initiated login (LTI Security 1.0 §5.1.1) and the OIDC authorization endpoint.

1. The platform sends the tool's login URL: iss, login_hint, target_link_uri, lti_message_hint,
   client_id, lti_deployment_id (Moodle and Canvas POST these as an auto-submitted form).
2. The tool redirects the browser to the platform's /auth with scope=openid,
   response_type=id_token, response_mode=form_post, prompt=none, client_id, redirect_uri,
   login_hint, lti_message_hint, state and nonce.
3. The platform answers a page whose form POSTs id_token and state to redirect_uri.

Like Moodle's mod/lti/auth.php: an unknown client or an unregistered redirect_uri is an error page
(never a redirect); every other problem is posted back to redirect_uri as `error`,
`error_description` and `state` (OIDC Core §3.1.2.6). A pending launch is used once.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.lti_platform.constants import CLAIM_TARGET_LINK_URI
from tests.lti_platform.html_forms import Form, auto_submit_page
from tests.lti_platform.httpio import HttpRequest, HttpResponse, html_response
from tests.lti_platform.tokens import TokenOptions, sign_jwt, unverified_parts

if TYPE_CHECKING:
    from tests.lti_platform.platform import Platform


@dataclass
class PendingLaunch:
    """A launch the platform has started and will complete at /auth."""

    login_hint: str
    message_hint: str
    claims: dict[str, Any]
    target_link_uri: str
    token: TokenOptions = field(default_factory=TokenOptions)
    used: bool = False


@dataclass
class LoginInitiation:
    """What the platform sends to the tool's OIDC login URL."""

    url: str
    params: dict[str, str]
    pending: PendingLaunch


@dataclass
class AuthRecord:
    """One request to /auth: what the tool asked for and what the platform answered."""

    method: str
    params: dict[str, str]
    status: int
    form: Form | None = None
    error: str | None = None
    error_description: str | None = None
    id_token: str | None = None
    claims: dict[str, Any] | None = None

    @property
    def nonce(self) -> str | None:
        return self.params.get("nonce")

    @property
    def state(self) -> str | None:
        return self.params.get("state")


class AuthError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass
class OidcService:
    platform: Platform
    pending: dict[str, PendingLaunch] = field(default_factory=dict)
    records: list[AuthRecord] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # --- step 1: the platform starts a launch ---
    def initiate(
        self,
        claims: dict[str, Any],
        *,
        token: TokenOptions | None = None,
        target_link_uri: str | None = None,
        login_hint: str | None = None,
    ) -> LoginInitiation:
        tool = self.platform.require_tool()
        target = target_link_uri or claims.get(CLAIM_TARGET_LINK_URI) or tool.launch_url
        pending = PendingLaunch(
            login_hint=login_hint or str(claims.get("sub") or "anonymous"),
            message_hint=self._message_hint(claims),
            claims=dict(claims),
            target_link_uri=target,
            token=token or TokenOptions(),
        )
        with self.lock:
            self.pending[pending.message_hint] = pending
        params = {
            "iss": self.platform.issuer,
            "login_hint": pending.login_hint,
            "target_link_uri": target,
            "lti_message_hint": pending.message_hint,
            "client_id": self.platform.client_id,
            "lti_deployment_id": self.platform.deployment_id,
        }
        if self.platform.flavour == "canvas":
            params.update(
                {
                    "canvas_environment": "prod",
                    "canvas_region": "not_configured",
                    "lti_storage_target": "post_message_forwarding",
                }
            )
        return LoginInitiation(url=tool.login_url, params=params, pending=pending)

    def _message_hint(self, claims: dict[str, Any]) -> str:
        if self.platform.flavour == "canvas":
            # Canvas sends a signed JWT naming the launch context.
            payload = {"verifier": secrets.token_hex(32), "canvas_domain": self.platform.host}
            return sign_jwt(payload, self.platform.signing_key)
        # Moodle sends JSON: {"cmid": ..., "launchid": "ltilaunch<cmid>_<random>"}.
        cmid = secrets.randbelow(900) + 100
        return json.dumps({"cmid": cmid, "launchid": f"ltilaunch{cmid}_{secrets.randbelow(10**9)}"})

    # --- steps 2 and 3: the authorization endpoint ---
    def handle(self, request: HttpRequest) -> HttpResponse:
        params = request.params()
        record = AuthRecord(method=request.method, params=params, status=200)
        tool = self.platform.tool
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id") != self.platform.client_id:
            return self._error_page(record, "unauthorized_client", "unknown client_id")
        if tool is None or redirect_uri not in tool.redirect_uris:
            return self._error_page(
                record, "invalid_request", f"redirect_uri {redirect_uri!r} is not registered"
            )
        fields: dict[str, str]
        try:
            pending = self._check(params)
            claims = {CLAIM_TARGET_LINK_URI: pending.target_link_uri, **pending.claims}
            record.id_token = self.platform.sign_id_token(claims, params["nonce"], pending.token)
            record.claims = unverified_parts(record.id_token)[1]
            fields = {"id_token": record.id_token}
        except AuthError as error:
            record.error, record.error_description = error.error, error.description
            fields = {"error": error.error, "error_description": error.description}
        if "state" in params:
            fields["state"] = params["state"]
        record.form = Form(action=redirect_uri, method="POST", fields=fields)
        with self.lock:
            self.records.append(record)
        return html_response(200, auto_submit_page(record.form))

    def _error_page(self, record: AuthRecord, error: str, description: str) -> HttpResponse:
        record.status, record.error, record.error_description = 400, error, description
        with self.lock:
            self.records.append(record)
        return html_response(
            400, f"<!DOCTYPE html><html><body><h1>{error}</h1><p>{description}</p></body></html>"
        )

    def _check(self, params: dict[str, str]) -> PendingLaunch:
        if "openid" not in params.get("scope", "").split():
            raise AuthError("invalid_scope", "scope must be openid")
        if params.get("response_type") != "id_token":
            raise AuthError("unsupported_response_type", "response_type must be id_token")
        if params.get("response_mode") != "form_post":
            raise AuthError("invalid_request", "response_mode must be form_post")
        if params.get("prompt", "none") != "none":
            raise AuthError("invalid_request", "prompt must be none")
        for name in ("nonce", "state", "login_hint"):
            if not params.get(name):
                raise AuthError("invalid_request", f"{name} is missing")
        pending = self._take_pending(params)
        if params["login_hint"] != pending.login_hint:
            raise AuthError("access_denied", "login_hint does not match the launching user")
        return pending

    def _take_pending(self, params: dict[str, str]) -> PendingLaunch:
        with self.lock:
            hint = params.get("lti_message_hint")
            if hint is not None:
                pending = self.pending.get(hint)
            else:
                candidates = [p for p in self.pending.values() if p.login_hint == params["login_hint"]]
                pending = next((p for p in reversed(candidates) if not p.used), None)
            if pending is None:
                raise AuthError("invalid_request", "lti_message_hint does not name a launch")
            if pending.used:
                raise AuthError("invalid_request", "this launch was already authorized")
            pending.used = True
            return pending

    @property
    def last(self) -> AuthRecord | None:
        with self.lock:
            return self.records[-1] if self.records else None
