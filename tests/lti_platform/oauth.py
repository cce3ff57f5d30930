"""The platform's OAuth 2 token endpoint: client_credentials with a JWT client assertion.

LTI Advantage Security 1.0 §4.1 and RFC 7523: the tool signs {iss: client_id, sub: client_id,
aud: token endpoint, iat, exp, jti} with its private key; the platform checks it against the
tool's JWKS (fetched from the registered jwks_uri) and answers
{"access_token", "token_type": "Bearer", "expires_in", "scope"}.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from tests.lti_platform.constants import CLIENT_ASSERTION_TYPE
from tests.lti_platform.httpio import HttpRequest, HttpResponse, bearer_error, json_response, oauth_error
from tests.lti_platform.tokens import unverified_parts

ASSERTION_ALGS = ("RS256", "RS384", "RS512", "PS256")


class ClientAssertionError(Exception):
    def __init__(self, description: str, error: str = "invalid_client", status: int = 401) -> None:
        super().__init__(description)
        self.description = description
        self.error = error
        self.status = status


@dataclass(frozen=True)
class AccessToken:
    value: str
    client_id: str
    scopes: frozenset[str]
    expires_at: float

    def expired(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) >= self.expires_at


@dataclass
class TokenRequestRecord:
    form: dict[str, str]
    status: int
    error: str | None = None
    description: str | None = None
    granted_scopes: tuple[str, ...] = ()
    assertion_claims: dict[str, Any] | None = None


def select_jwk(jwks: Mapping[str, Any], kid: str | None) -> jwt.PyJWK:
    keys = [key for key in jwks.get("keys", []) if key.get("kty") == "RSA"]
    if kid is None:
        if len(keys) == 1:
            return jwt.PyJWK(keys[0])
        raise ClientAssertionError("the client assertion has no kid and the tool JWKS has several keys")
    for key in keys:
        if key.get("kid") == kid:
            return jwt.PyJWK(key)
    raise ClientAssertionError(f"no key with kid {kid!r} in the tool JWKS")


def verify_client_assertion(
    assertion: str,
    *,
    jwks: Mapping[str, Any],
    client_id: str,
    audiences: Iterable[str],
    seen_jti: set[str],
    leeway: float = 60,
) -> dict[str, Any]:
    try:
        header, _ = unverified_parts(assertion)
    except (ValueError, IndexError) as error:
        raise ClientAssertionError("the client assertion is not a JWT") from error
    alg = header.get("alg")
    if alg not in ASSERTION_ALGS:
        raise ClientAssertionError(f"unsupported client assertion alg {alg!r}")
    key = select_jwk(jwks, header.get("kid"))
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            key,
            algorithms=[alg],
            audience=list(audiences),
            issuer=client_id,
            leeway=leeway,
            options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
        )
    except jwt.InvalidTokenError as error:
        raise ClientAssertionError(f"client assertion rejected: {error}") from error
    if claims["sub"] != client_id:
        raise ClientAssertionError("client assertion sub is not the client id")
    if claims["jti"] in seen_jti:
        raise ClientAssertionError("client assertion jti was already used", error="invalid_grant", status=400)
    seen_jti.add(claims["jti"])
    return claims


@dataclass
class TokenService:
    """State of the token endpoint; `platform` supplies client id, scopes and the tool JWKS."""

    client_id: Callable[[], str]
    token_url: Callable[[], str]
    allowed_scopes: Callable[[], set[str]]
    tool_jwks: Callable[[], Mapping[str, Any]]
    lifetime: int = 3600
    leeway: float = 60
    extra_audiences: list[str] = field(default_factory=list)
    tokens: dict[str, AccessToken] = field(default_factory=dict)
    records: list[TokenRequestRecord] = field(default_factory=list)
    seen_jti: set[str] = field(default_factory=set)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # --- the endpoint ---
    def handle(self, request: HttpRequest) -> HttpResponse:
        form = request.form()
        record = TokenRequestRecord(form=form, status=200)
        try:
            claims = self._authenticate(form)
            record.assertion_claims = claims
            granted = self._grant(form.get("scope", ""))
        except ClientAssertionError as error:
            record.status, record.error, record.description = error.status, error.error, error.description
            with self.lock:
                self.records.append(record)
            return oauth_error(error.status, error.error, error.description)
        token = self.issue(granted)
        record.granted_scopes = tuple(sorted(granted))
        with self.lock:
            self.records.append(record)
        body = {
            "access_token": token.value,
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "scope": " ".join(sorted(granted)),
        }
        response = json_response(200, body)
        response.headers["Cache-Control"] = "no-store"
        return response

    def _authenticate(self, form: Mapping[str, str]) -> dict[str, Any]:
        if form.get("grant_type") != "client_credentials":
            raise ClientAssertionError("grant_type must be client_credentials", "unsupported_grant_type", 400)
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise ClientAssertionError(
                f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}", "invalid_request", 400
            )
        assertion = form.get("client_assertion", "")
        if not assertion:
            raise ClientAssertionError("client_assertion is missing", "invalid_request", 400)
        try:
            _, unverified = unverified_parts(assertion)
        except (ValueError, IndexError) as error:
            raise ClientAssertionError("the client assertion is not a JWT") from error
        if unverified.get("iss") != self.client_id():
            raise ClientAssertionError(f"unknown client {unverified.get('iss')!r}")
        try:
            jwks = self.tool_jwks()
        except Exception as error:
            raise ClientAssertionError(f"could not fetch the tool JWKS: {error}") from error
        with self.lock:
            return verify_client_assertion(
                assertion,
                jwks=jwks,
                client_id=self.client_id(),
                audiences=[self.token_url(), *self.extra_audiences],
                seen_jti=self.seen_jti,
                leeway=self.leeway,
            )

    def _grant(self, scope: str) -> set[str]:
        requested = set(scope.split())
        granted = requested & self.allowed_scopes()
        if not granted:
            raise ClientAssertionError(
                f"none of the scopes {sorted(requested)} is allowed", "invalid_scope", 400
            )
        return granted

    # --- tokens ---
    def issue(self, scopes: Iterable[str]) -> AccessToken:
        token = AccessToken(
            value=secrets.token_urlsafe(24),
            client_id=self.client_id(),
            scopes=frozenset(scopes),
            expires_at=time.time() + self.lifetime,
        )
        with self.lock:
            self.tokens[token.value] = token
        return token

    def revoke_all(self) -> None:
        with self.lock:
            self.tokens.clear()

    def check(self, request: HttpRequest, *any_of: str) -> HttpResponse | AccessToken:
        """The request's valid access token holding one of `any_of`, or the 401/403 to answer."""
        value = request.bearer_token()
        if value is None:
            return bearer_error(401, "invalid_request", "no Bearer access token")
        with self.lock:
            token = self.tokens.get(value)
        if token is None:
            return bearer_error(401, "invalid_token", "unknown access token")
        if token.expired():
            return bearer_error(401, "invalid_token", "the access token expired")
        if any_of and not token.scopes.intersection(any_of):
            return bearer_error(403, "insufficient_scope", f"needs one of {' '.join(any_of)}")
        return token

    @property
    def request_count(self) -> int:
        with self.lock:
            return len(self.records)
