"""The platform's deep_link_return_url (Deep Linking 2.0 §4.5): receives the tool's
LtiDeepLinkingResponse as a form field named `JWT` and checks it as an LMS would."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jwt

from tests.lti_platform.constants import (
    CLAIM_DEPLOYMENT_ID,
    CLAIM_DL_CONTENT_ITEMS,
    CLAIM_DL_DATA,
    CLAIM_MESSAGE_TYPE,
    CLAIM_VERSION,
    LTI_VERSION,
    MESSAGE_DEEP_LINKING_RESPONSE,
)
from tests.lti_platform.httpio import HttpRequest, HttpResponse, html_response, text_response
from tests.lti_platform.oauth import ASSERTION_ALGS, ClientAssertionError, select_jwk
from tests.lti_platform.tokens import unverified_parts

if TYPE_CHECKING:
    from tests.lti_platform.platform import Platform


@dataclass
class DeepLinkReturn:
    jwt: str
    status: int
    claims: dict[str, Any] | None = None
    error: str | None = None

    @property
    def content_items(self) -> list[dict[str, Any]]:
        return list((self.claims or {}).get(CLAIM_DL_CONTENT_ITEMS) or [])

    @property
    def ok(self) -> bool:
        return self.status == 200


class DeepLinkError(Exception):
    pass


@dataclass
class DeepLinkingService:
    platform: Platform
    issued_data: list[str] = field(default_factory=list)
    seen_nonces: set[str] = field(default_factory=set)
    returns: list[DeepLinkReturn] = field(default_factory=list)
    leeway: float = 60
    lock: threading.RLock = field(default_factory=threading.RLock)

    def expect_data(self, data: str) -> None:
        with self.lock:
            self.issued_data.append(data)

    def handle(self, request: HttpRequest) -> HttpResponse:
        token = request.form().get("JWT", "")
        record = DeepLinkReturn(jwt=token, status=200)
        try:
            record.claims = self._verify(token)
        except DeepLinkError as error:
            record.status, record.error = 400, str(error)
        with self.lock:
            self.returns.append(record)
        if not record.ok:
            return text_response(400, f"Deep linking response rejected: {record.error}")
        count = len(record.content_items)
        return html_response(200, f"<!DOCTYPE html><html><body><p>Added {count} item(s).</p></body></html>")

    def _verify(self, token: str) -> dict[str, Any]:
        if not token:
            raise DeepLinkError("no JWT form field")
        claims = self._verify_signature(token)
        if claims.get(CLAIM_MESSAGE_TYPE) != MESSAGE_DEEP_LINKING_RESPONSE:
            raise DeepLinkError(f"message_type must be {MESSAGE_DEEP_LINKING_RESPONSE}")
        if claims.get(CLAIM_VERSION) != LTI_VERSION:
            raise DeepLinkError(f"version must be {LTI_VERSION}")
        if claims.get(CLAIM_DEPLOYMENT_ID) != self.platform.deployment_id:
            raise DeepLinkError("deployment_id does not match the launch")
        items = claims.get(CLAIM_DL_CONTENT_ITEMS, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) and i.get("type") for i in items):
            raise DeepLinkError("content_items must be a list of objects with a type")
        self._check_data(claims.get(CLAIM_DL_DATA))
        with self.lock:
            if claims["nonce"] in self.seen_nonces:
                raise DeepLinkError("nonce was already used")
            self.seen_nonces.add(claims["nonce"])
        return claims

    def _verify_signature(self, token: str) -> dict[str, Any]:
        try:
            header, _ = unverified_parts(token)
        except (ValueError, IndexError) as error:
            raise DeepLinkError("JWT is malformed") from error
        if header.get("alg") not in ASSERTION_ALGS:
            raise DeepLinkError(f"unsupported alg {header.get('alg')!r}")
        try:
            key = select_jwk(self.platform.fetch_tool_jwks(), header.get("kid"))
            return jwt.decode(
                token,
                key,
                algorithms=[header["alg"]],
                audience=self.platform.issuer,
                issuer=self.platform.client_id,
                leeway=self.leeway,
                options={"require": ["iss", "aud", "exp", "iat", "nonce"]},
            )
        except ClientAssertionError as error:
            raise DeepLinkError(error.description) from error
        except jwt.InvalidTokenError as error:
            raise DeepLinkError(f"JWT rejected: {error}") from error
        except Exception as error:
            raise DeepLinkError(f"could not fetch the tool JWKS: {error}") from error

    def _check_data(self, data: Any) -> None:
        with self.lock:
            expected = self.issued_data[-1] if self.issued_data else None
            issued = list(self.issued_data)
        if data is None:
            if expected is not None:
                raise DeepLinkError("the data claim from deep_linking_settings was not echoed")
            return
        if data not in issued:
            raise DeepLinkError("the data claim does not echo deep_linking_settings.data")
