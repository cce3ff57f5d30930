"""JWT signing for id_tokens and other platform messages, including deliberately broken ones."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import jwt

from tests.lti_platform.keys import RsaKey

NO_KID = ""
"""Pass as `kid` to sign without a `kid` header."""

SUPPORTED_ALGS = ("RS256", "RS384", "RS512", "PS256", "none")


@dataclass(frozen=True)
class TokenOptions:
    """How to sign one id_token; the defaults make a valid token.

    key: sign with this key instead of the platform's current key.
    kid: header kid; None means the signing key's kid, NO_KID means no kid header.
    iat_offset / exp_offset: seconds from now for `iat` and `exp`.
    aud / iss / azp: override the audience (str or list), issuer, authorized party.
        With a list `aud` of several values, azp defaults to the client id (OIDC Core §2).
    drop: claim names removed after everything else is set (e.g. "nonce", "exp", CLAIM_ROLES).
    nonce: replace the nonce the tool sent to /auth (for a "wrong nonce" token).
    alg: RS256/RS384/RS512/PS256 or "none" (unsigned).
    """

    key: RsaKey | None = None
    kid: str | None = None
    iat_offset: int = 0
    exp_offset: int = 3600
    aud: str | list[str] | None = None
    iss: str | None = None
    azp: str | None = None
    drop: tuple[str, ...] = ()
    nonce: str | None = None
    alg: str = "RS256"

    def but(self, **changes: Any) -> TokenOptions:
        return replace(self, **changes)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(payload: Mapping[str, Any], key: RsaKey, *, kid: str | None = None, alg: str = "RS256") -> str:
    """Sign `payload`; kid None means `key.kid`, NO_KID means no kid header; alg "none" is unsigned."""
    if alg not in SUPPORTED_ALGS:
        raise ValueError(f"unsupported alg {alg!r}")
    header_kid = key.kid if kid is None else kid
    if alg == "none":
        header: dict[str, Any] = {"alg": "none", "typ": "JWT"}
        if header_kid:
            header["kid"] = header_kid
        parts = [json.dumps(header).encode(), json.dumps(dict(payload)).encode()]
        return ".".join(_b64url(part) for part in parts) + "."
    headers = {"kid": header_kid} if header_kid else None
    return jwt.encode(dict(payload), key.private_key, algorithm=alg, headers=headers)


def build_id_token_payload(
    claims: Mapping[str, Any],
    nonce: str,
    *,
    issuer: str,
    client_id: str,
    options: TokenOptions,
    now: float | None = None,
) -> dict[str, Any]:
    """The id_token body: message claims plus iss/aud/azp/iat/exp/nonce, then `options.drop`."""
    moment = int(now if now is not None else time.time())
    payload = dict(claims)
    aud: str | list[str] = options.aud if options.aud is not None else client_id
    payload.update(
        {
            "iss": options.iss if options.iss is not None else issuer,
            "aud": aud,
            "iat": moment + options.iat_offset,
            "exp": moment + options.exp_offset,
            "nonce": options.nonce if options.nonce is not None else nonce,
        }
    )
    if options.azp is not None:
        payload["azp"] = options.azp
    elif isinstance(aud, list) and len(aud) > 1:
        payload["azp"] = client_id
    for name in options.drop:
        payload.pop(name, None)
    return payload


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, payload) of a JWT without checking anything (for assertions in tests)."""
    header_b64, payload_b64 = token.split(".")[:2]

    def decode(part: str) -> dict[str, Any]:
        padded = part + "=" * (-len(part) % 4)
        return json.loads(base64.urlsafe_b64decode(padded))

    return decode(header_b64), decode(payload_b64)
