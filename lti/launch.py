"""The OIDC login and the launch, on pylti1p3next with the checks it lacks.

pylti1p3next 2.0.2 gives us the OIDC login (including auth URLs with a query string and the
Partitioned state cookie), registration and deployment lookup through a tool configuration, the
JWT format checks and the message validators. What we add, because the library does not do it:
- one single-use login record per OIDC login (state -> nonce, in storage every worker and
  instance sees: the database, or Redis), consumed atomically by the launch, which must carry
  that login's state cookie (or platform storage's word for it) and that login's nonce: replays
  and state/nonce mix-ups fail (lti.views.launch; the library never consumes nonces);
- exp/iat/nonce/iss/aud required, 60 s leeway for clock skew, `azp` checked;
- the platform's JWKS cached per process as key objects, refetched once on an unknown kid;
- registrations, deployments and keys read from the database, per tenant; no launch body stored;
- login nonces from `secrets` (the library's ends with a uuid1: the host's MAC address and clock);
- the id_token decoded by a PyJWT whose base64url segment check is a regular expression (PyJWT
  2.15 checks each character in Python), with PyJWT's rules (tests/launch/test_id_token_decoder.py).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from flask import current_app, g, has_app_context, request
from jwt.api_jws import PyJWS
from jwt.utils import base64url_decode, base64url_encode
from pylti1p3.contrib.flask import FlaskMessageLaunch, FlaskOIDCLogin, FlaskRequest, FlaskSessionService
from pylti1p3.deployment import Deployment as LibDeployment
from pylti1p3.exception import LtiException, LtiMessageValidationException
from pylti1p3.registration import Registration
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session

from lti import keys
from lti.models import Deployment, Platform
from training_app import outbound
from training_app.extensions import begin_writes, db

log = logging.getLogger(__name__)

LEEWAY_SECONDS = 60
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "nonce", "sub"]
JWKS_TTL_SECONDS = 3600
JWKS_NEGATIVE_SECONDS = 60  # a kid still unknown after a refetch is not refetched for again this long


class LaunchError(LtiException):
    """A launch refused for a reason we can explain to the learner."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


# --- tool configuration from the database ---------------------------------------------------------


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


@dataclass(frozen=True)
class PlatformRecord:
    """What a launch reads of a registration (a plain copy: no ORM instance, no lazy loads)."""

    id: int
    tenant_id: int
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    token_audience: str | None
    registration: dict[str, Any] | None
    deployment_ids: tuple[str, ...]


# Hot-path statements are built once, on the tables rather than the ORM entities: building a
# statement costs more CPU than running it, and the ORM layer adds to both.
_platforms, _deployments = Platform.__table__.c, Deployment.__table__.c
_PLATFORMS_OF_ISSUER = (
    select(
        _platforms.id,
        _platforms.tenant_id,
        _platforms.issuer,
        _platforms.client_id,
        _platforms.auth_login_url,
        _platforms.auth_token_url,
        _platforms.key_set_url,
        _platforms.token_audience,
        _platforms.registration,
        _deployments.deployment_id,
    )
    .select_from(Platform.__table__.outerjoin(Deployment.__table__))
    .where(_platforms.issuer == bindparam("issuer"))
)
_PLATFORM_OF_CLIENT = _PLATFORMS_OF_ISSUER.where(_platforms.client_id == bindparam("client_id"))


def find_platform(issuer: str, client_id: str | None, *, fresh: bool = False) -> PlatformRecord | None:
    """The registration for this issuer and client id; without a client id, the only one.

    Asked several times per launch (library and tool) and by every login and launch: read with its
    deployments in one statement, then reused for PLATFORM_CACHE_SECONDS by this process.
    What that means for correctness: an unknown registration is never cached, so one just added
    is found at once, and so is a new deployment (find_deployment_by_params reads again before
    refusing one); an edit made by this process is seen at once (flushes that touch registrations
    empty the cache); an edit made by another process or instance (a URL, a deleted registration)
    is seen within PLATFORM_CACHE_SECONDS, as the platform's own keys are within the JWKS cache's
    time. `fresh` reads the database now.
    """
    key = (issuer, client_id)
    memo = g.setdefault("lti_platforms", {})
    if fresh or key not in memo:
        memo[key] = _recent_platform(issuer, client_id, fresh=fresh)
    return memo[key]


PLATFORM_CACHE_SECONDS = 10.0


def _recent_platform(issuer: str, client_id: str | None, *, fresh: bool) -> PlatformRecord | None:
    cache = _platform_cache()
    now = time.monotonic()
    hit = cache.get((issuer, client_id))
    if hit is not None and not fresh and now - hit[0] < PLATFORM_CACHE_SECONDS:
        return hit[1]
    record = _platform_record(issuer, client_id)
    if record is None:
        cache.pop((issuer, client_id), None)
    else:
        cache[(issuer, client_id)] = (now, record)
    return record


def _platform_cache() -> dict[tuple[str, str | None], tuple[float, PlatformRecord]]:
    """Per app (one per process in production; one per test, so tests never share it)."""
    return current_app.extensions.setdefault("lti_recent_platforms", {})


_PLATFORMS_CHANGED = "lti_platforms_changed"


@event.listens_for(Session, "before_flush")
def _forget_changed_platforms(session: Session, _context: Any, _instances: Any) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if has_app_context() and any(isinstance(row, (Platform, Deployment)) for row in changed):
        session.info[_PLATFORMS_CHANGED] = True
        _platform_cache().clear()


@event.listens_for(Session, "after_rollback")
def _forget_platforms_read_in_a_rolled_back_transaction(session: Session) -> None:
    """A registration read after this transaction changed it, and the change did not commit.

    Only then: every error response rolls back, and most never touched a registration.
    """
    if session.info.pop(_PLATFORMS_CHANGED, False) and has_app_context():
        _platform_cache().clear()


@event.listens_for(Session, "after_commit")
def _platform_changes_committed(session: Session) -> None:
    session.info.pop(_PLATFORMS_CHANGED, None)


def _platform_record(issuer: str, client_id: str | None) -> PlatformRecord | None:
    if client_id:
        rows = db.session.execute(_PLATFORM_OF_CLIENT, {"issuer": issuer, "client_id": client_id}).all()
    else:
        rows = db.session.execute(_PLATFORMS_OF_ISSUER, {"issuer": issuer}).all()
    if len({row[0] for row in rows}) != 1:
        return None  # unknown, or several registrations for the issuer and no client id to choose
    deployment_ids = tuple(sorted(row[-1] for row in rows if row[-1] is not None))
    return PlatformRecord(*rows[0][:-1], deployment_ids=deployment_ids)


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


# --- the platform's keys -----------------------------------------------------------------------------

_jwks_cache: dict[str, tuple[float, dict[str, jwt.PyJWK]]] = {}
_missing_kids: dict[tuple[str, str], float] = {}  # (url, kid) refetched for and still unknown
_jwks_lock = threading.Lock()


def platform_key(key_set_url: str, kid: str | None, alg: str | None) -> jwt.PyJWK:
    """The platform's public key for `kid`, from a per-process cache of its JWKS.

    An unknown kid refetches the key set once (the LMS may have rotated its key); a kid still
    unknown after that is remembered for a minute, so forged kids cannot make us refetch per request.
    """
    if not kid:
        raise LaunchError("The launch token names no signing key (kid).", reason="no_kid")
    if alg != "RS256":
        raise LaunchError(
            f"The launch token is signed with {alg!r}; only RS256 is accepted.", reason="bad_algorithm"
        )
    now = time.monotonic()
    fetched_at, known = _jwks_cache.get(key_set_url, (0.0, {}))
    stale = now - fetched_at >= JWKS_TTL_SECONDS
    recently_missing = (
        now - _missing_kids.get((key_set_url, kid), -JWKS_NEGATIVE_SECONDS) < JWKS_NEGATIVE_SECONDS
    )
    if stale or (kid not in known and not recently_missing):
        known = _fetch_jwks(key_set_url)
    if kid not in known:
        with _jwks_lock:
            _missing_kids[(key_set_url, kid)] = now
        raise LaunchError(
            "The launch token was signed with a key the LMS does not publish.", reason="unknown_kid"
        )
    return known[kid]


def _fetch_jwks(key_set_url: str) -> dict[str, jwt.PyJWK]:
    try:
        response = outbound.session().get(key_set_url, timeout=10)
        response.raise_for_status()
        key_set = jwt.PyJWKSet.from_dict(response.json())
    except (requests.RequestException, ValueError, jwt.PyJWKSetError, outbound.DestinationRefused) as exc:
        log.warning("platform keys unavailable", extra={"url": key_set_url, "error": str(exc)[:300]})
        raise LaunchError(
            f"Could not read the LMS's public keys at {key_set_url}.", reason="jwks_unavailable"
        ) from None
    known = {key.key_id: key for key in key_set.keys if key.key_id}
    with _jwks_lock:
        _jwks_cache[key_set_url] = (time.monotonic(), known)
    return known


# --- the id_token's decoder ---------------------------------------------------------------------------

_BASE64URL_SEGMENT = re.compile(rb"[A-Za-z0-9_-]*")


class _RegexSegmentJWS(PyJWS):
    """PyJWS with its strict segment check (GHSA-hxm8-2xgr-2p9m) done by a regular expression.

    PyJWT 2.15 checks every character of the token against the base64url alphabet in a Python
    generator: ~0.1 ms of a launch's CPU for a 3 kB id_token. Same rules, same errors: at most two
    trailing '=' and only on a whole quantum, no length of 1 mod 4, nothing outside the alphabet,
    and the decoded bytes must encode back to the segment (no stray bits).
    """

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        stripped = segment.rstrip(b"=")
        padding = len(segment) - len(stripped)
        if (
            padding > 2
            or (padding and len(segment) % 4 != 0)
            or len(stripped) % 4 == 1
            or _BASE64URL_SEGMENT.fullmatch(stripped) is None
        ):
            raise jwt.DecodeError(f"Invalid {name} padding")
        decoded = base64url_decode(stripped)
        if base64url_encode(decoded) != stripped:
            raise jwt.DecodeError(f"Invalid {name} padding")
        return decoded


def _id_token_decoder() -> jwt.PyJWT:
    decoder = jwt.PyJWT()
    decoder._jws = _RegexSegmentJWS(options=decoder._get_sig_options())
    return decoder


_id_tokens = _id_token_decoder()


# --- login and launch ---------------------------------------------------------------------------------


class LoginRecordSession(FlaskSessionService):
    """The tool keeps the nonce in its own single-use login record (lti.views.login), not here."""

    def save_nonce(self, nonce: str) -> None:
        pass


class ToolOIDCLogin(FlaskOIDCLogin):
    def _generate_nonce(self) -> str:
        # The library's is uuid4 + uuid1, and a uuid1 carries the tool host's MAC address and clock.
        return secrets.token_urlsafe(32)


class ToolMessageLaunch(FlaskMessageLaunch):
    def validate_state(self) -> ToolMessageLaunch:
        return self  # checked by lti.views.launch: state cookie (or platform storage) + login record

    def validate_nonce(self) -> ToolMessageLaunch:
        return self  # checked by lti.views.launch: the token's nonce is the one of its consumed login

    def validate_jwt_signature(self) -> ToolMessageLaunch:
        header = self._jwt.get("header", {})
        key = platform_key(self._registration.get_key_set_url(), header.get("kid"), header.get("alg"))
        client_id = self.get_client_id()
        try:
            body = _id_tokens.decode(
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
    "LaunchError",
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
