"""The OIDC login and the launch, on pylti1p3next with the checks it lacks.

pylti1p3next 2.0.2 gives us the OIDC login (including auth URLs with a query string and the
Partitioned state cookie), registration and deployment lookup through a tool configuration, the
JWT format checks and the message validators. What we add, because the library does not do it:
- one single-use login record per OIDC login (state -> nonce, in storage every worker and
  instance sees: the database, or Redis), consumed atomically by the launch, which must carry
  that login's state cookie (or platform storage's word for it) and that login's nonce: replays
  and state/nonce mix-ups fail (lti.views.launch; the library never consumes nonces);
- exp/iat/nonce/iss/aud required, 60 s leeway for clock skew, `azp` checked;
- the platform's JWKS cached per process as key objects (lti.platform_keys);
- registrations, deployments and keys read from the database, per tenant (lti.platform_cache);
  no launch body stored;
- login nonces from `secrets` (the library's ends with a uuid1: the host's MAC address and clock);
- every refusal raised as a LaunchError naming its reason, by the step that refused (the
  library raises one exception type with different texts; lti.errors turns reasons into pages).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

import jwt
from flask import request
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest, FlaskSessionService
from pylti1p3.deployment import Deployment as LibDeployment
from pylti1p3.exception import LtiException, LtiMessageValidationException
from pylti1p3.registration import Registration
from pylti1p3.tool_config import ToolConfAbstract

from lti import claims, keys
from lti.errors import LaunchError
from lti.models import Deployment, Platform
from lti.platform_cache import PlatformRecord, find_platform, issuer_is_registered
from lti.platform_keys import platform_key
from training_app import outbound
from training_app.extensions import begin_writes, db

log = logging.getLogger(__name__)
LEEWAY_SECONDS = 60
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "nonce", "sub"]


class DatabaseToolConf(ToolConfAbstract):
    """Registrations keyed by (issuer, client id); an issuer may have several (Canvas, Blackboard)."""

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration | None:
        return self.find_registration_by_params(iss, None)

    def find_registration_by_params(
        self, iss: str, client_id: str | None, *args: Any, **kwargs: Any
    ) -> Registration | None:
        platform = find_platform(iss, client_id)
        return registration_for(platform, with_tool_key=False) if platform else None

    def find_deployment(self, iss: str, deployment_id: str) -> LibDeployment | None:
        return self.find_deployment_by_params(iss, deployment_id, None)

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str | None, *args: Any, **kwargs: Any
    ) -> LibDeployment | None:
        platform = find_platform(iss, client_id)
        if platform is not None and deployment_id not in platform.deployment_ids:
            platform = find_platform(iss, client_id, fresh=True)  # added since this process read it?
        if platform is None:
            return None
        if deployment_id not in platform.deployment_ids and not adopt_first_deployment(
            platform, deployment_id
        ):
            return None
        return LibDeployment().set_deployment_id(deployment_id)


def adopt_first_deployment(platform: PlatformRecord, deployment_id: str) -> bool:
    """Canvas registers dynamically without a deployment id: the first signed launch brings it."""
    if platform.deployment_ids or not (platform.registration or {}).get("accept_first_deployment"):
        return False
    row = db.session.get(Platform, platform.id)
    if row is None or row.deployments:
        return False
    begin_writes()  # the launch view runs without a transaction until it writes
    row.deployments.append(Deployment(deployment_id=deployment_id))
    row.registration = {**(row.registration or {}), "accept_first_deployment": False}
    db.session.flush()  # which also forgets the cached registration (see _forget_changed_platforms)
    return True


def registration_for(platform: Platform | PlatformRecord, *, with_tool_key: bool = True) -> Registration:
    """pylti1p3's view of a platform; the tool key only when something is signed (not on launch)."""
    registration = (
        Registration()
        .set_issuer(platform.issuer)
        .set_client_id(platform.client_id)
        .set_auth_login_url(platform.auth_login_url)
        .set_auth_token_url(platform.auth_token_url)
        .set_key_set_url(platform.key_set_url)
    )
    if with_tool_key:
        key = keys.active_key(platform.tenant_id)
        registration.set_tool_private_key(key.private_pem).set_tool_public_key(keys.public_pem(key))
    if platform.token_audience:
        registration.set_auth_audience(platform.token_audience)
    return registration


class LoginRecordSession(FlaskSessionService):
    """The tool keeps the nonce in its own single-use login record (lti.views.login), not here."""

    def save_nonce(self, nonce: str) -> None:
        pass


class ToolOIDCLogin(FlaskOIDCLogin):
    def _generate_nonce(self) -> str:
        # The library's is uuid4 + uuid1, and a uuid1 carries the tool host's MAC address and clock.
        return secrets.token_urlsafe(32)

    def validate_oidc_login(self) -> Registration:
        """The library's checks, each refusal raised with its reason."""
        issuer = self._get_request_param("iss")
        if not issuer:
            raise LaunchError("The login request names no issuer (iss).", reason="missing_claim")
        if not self._get_request_param("login_hint"):
            raise LaunchError("The login request has no login_hint.", reason="missing_claim")
        client_id = self._get_request_param("client_id") or None
        platform = find_platform(issuer, client_id)
        if platform is None:
            raise LaunchError(f"No registration for {issuer} / {client_id}.", reason=_unregistered(issuer))
        return registration_for(platform, with_tool_key=False)


class ToolMessageLaunch(FlaskMessageLaunch):
    """Each validation step of the library, with its refusal raised as a LaunchError that names
    the step's reason (the library raises the same exception type with different texts)."""

    def validate_jwt_format(self) -> ToolMessageLaunch:
        return _step(super().validate_jwt_format, lambda: "invalid_token")

    def validate_registration(self) -> ToolMessageLaunch:
        body = self._jwt.get("body", {})
        if not body.get("iss"):
            raise LaunchError("The launch token names no issuer (iss).", reason="missing_claim")
        return _step(super().validate_registration, lambda: _unregistered(body["iss"]))

    def validate_deployment(self) -> ToolMessageLaunch:
        if not self._jwt.get("body", {}).get(claims.DEPLOYMENT_ID):
            raise LaunchError("The launch names no deployment.", reason="no_deployment")
        return _step(super().validate_deployment, lambda: "unknown_deployment")

    def validate_message(self) -> ToolMessageLaunch:
        try:
            return super().validate_message()
        except LtiException as exc:
            raise LaunchError(str(exc), reason=message_reason(exc)) from None

    def validate_state(self) -> ToolMessageLaunch:
        return self  # checked by lti.views.launch: state cookie (or platform storage) + login record

    def validate_nonce(self) -> ToolMessageLaunch:
        return self  # checked by lti.views.launch: the token's nonce is the one of its consumed login

    def validate_jwt_signature(self) -> ToolMessageLaunch:
        header = self._jwt.get("header", {})
        key = platform_key(self._registration.get_key_set_url(), header.get("kid"), header.get("alg"))
        client_id = self.get_client_id()
        try:
            body = jwt.decode(
                self._get_id_token(),
                key.key,
                algorithms=["RS256"],
                audience=client_id,
                issuer=self._registration.get_issuer(),
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.InvalidTokenError as exc:
            raise LaunchError(f"The launch token is not valid: {exc}", reason=_jwt_reason(exc)) from None
        audiences = body["aud"] if isinstance(body["aud"], list) else [body["aud"]]
        if (len(audiences) > 1 or "azp" in body) and body.get("azp") != client_id:
            raise LaunchError("The launch token's authorised party (azp) is not this tool.", reason="bad_azp")
        return self

    def save_launch_data(self) -> ToolMessageLaunch:
        return self  # we keep only what later steps need (see lti.services), not the whole token

    def body(self) -> dict[str, Any]:
        return self._get_jwt_body()


def _step(validation: Callable[[], ToolMessageLaunch], reason: Callable[[], str]) -> ToolMessageLaunch:
    """Run one of the library's validation steps; its refusal becomes a LaunchError with the step's
    reason (found only then: it may read the database)."""
    try:
        return validation()
    except LtiException as exc:
        if isinstance(exc, LaunchError):
            raise
        raise LaunchError(str(exc), reason=reason()) from None


def _unregistered(issuer: str) -> str:
    """A known LMS whose token names another client id was meant for another tool; an unknown
    issuer is an LMS that is not registered here."""
    return "bad_audience" if issuer_is_registered(issuer) else "unknown_platform"


# The library's message validators raise one exception type for every problem of the message's
# claims; only their texts tell a wrong LTI version or message type from a missing claim.
_MESSAGE_REASONS = (("Incorrect version", "bad_version"), ("message type", "unsupported_message"))


def message_reason(exc: Exception) -> str:
    text = str(exc)
    return next((reason for marker, reason in _MESSAGE_REASONS if marker in text), "missing_claim")


def _jwt_reason(exc: jwt.InvalidTokenError) -> str:
    return {
        jwt.ExpiredSignatureError: "expired",
        jwt.ImmatureSignatureError: "not_yet_valid",
        jwt.InvalidAudienceError: "bad_audience",
        jwt.InvalidIssuerError: "bad_issuer",
        jwt.InvalidSignatureError: "bad_signature",
        jwt.MissingRequiredClaimError: "missing_claim",
        jwt.InvalidIssuedAtError: "not_yet_valid",
    }.get(type(exc), "invalid_token")


def lti_request() -> FlaskRequest:
    # The parameters handed over once: the library otherwise goes through Flask's request proxy
    # for each one it reads (method, then form or args).
    sent = request.args if request.method == "GET" else request.form
    return FlaskRequest(request_data=sent or None)


def new_login(request: FlaskRequest) -> ToolOIDCLogin:
    return ToolOIDCLogin(request, DatabaseToolConf(), session_service=LoginRecordSession(request))


def new_launch(request: FlaskRequest) -> ToolMessageLaunch:
    # Given none, the library builds a requests session per launch; a launch fetches nothing with it.
    return ToolMessageLaunch(request, DatabaseToolConf(), requests_session=outbound.session())


__all__ = [
    "DatabaseToolConf",
    "LtiMessageValidationException",
    "PlatformRecord",
    "ToolMessageLaunch",
    "ToolOIDCLogin",
    "find_platform",
    "lti_request",
    "new_launch",
    "new_login",
    "platform_key",
    "registration_for",
]
