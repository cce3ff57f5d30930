"""Bad id_tokens for security tests, and a reference checker saying what is wrong with a token.

Each `BadTokenCase` breaks exactly one rule of LTI Security 1.0 §5.1.3 / LTI 1.3 §5; `problems()`
reports every rule a token breaks, so a test can prove a case breaks only its own rule.
A tool must reject every case (pylti1p3 alone does not reject them all: see NOTES.md).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from tests.lti_platform.constants import (
    CLAIM_DEPLOYMENT_ID,
    CLAIM_DL_SETTINGS,
    CLAIM_MESSAGE_TYPE,
    CLAIM_RESOURCE_LINK,
    CLAIM_ROLES,
    CLAIM_VERSION,
    LTI_VERSION,
    MESSAGE_DEEP_LINKING,
    MESSAGE_RESOURCE_LINK,
)
from tests.lti_platform.keys import RsaKey
from tests.lti_platform.tokens import NO_KID, TokenOptions, unverified_parts

SIGNING_ALGS = ("RS256", "RS384", "RS512", "PS256")
REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp", "iat", "nonce", CLAIM_MESSAGE_TYPE, CLAIM_VERSION)
REQUIRED_CLAIMS += (CLAIM_DEPLOYMENT_ID, CLAIM_ROLES)
KNOWN_MESSAGE_TYPES = (MESSAGE_RESOURCE_LINK, MESSAGE_DEEP_LINKING)

OTHER_CLIENT = "client-of-another-tool"
OTHER_ISSUER = "https://lms.attacker.example"
UNKNOWN_KID = "kid-not-in-the-jwks"
UNKNOWN_DEPLOYMENT = "deployment-nobody-registered"
FOREIGN_NONCE = "nonce-the-tool-never-issued"


@dataclass(frozen=True)
class BadTokenCase:
    name: str
    problem: str  # what `problems()` reports for it
    options: TokenOptions = field(default_factory=TokenOptions)
    claim_changes: Mapping[str, Any] = field(default_factory=dict)
    other_key: bool = False  # sign with a key the platform does not publish

    def apply(self, claims: Mapping[str, Any]) -> dict[str, Any]:
        result = copy.deepcopy(dict(claims))
        result.update(copy.deepcopy(dict(self.claim_changes)))
        return result


def _missing(claim: str) -> BadTokenCase:
    short = claim.rsplit("/", 1)[-1]
    return BadTokenCase(f"missing_{short}", f"missing:{claim}", TokenOptions(drop=(claim,)))


def bad_token_cases(client_id: str, signing_kid: str) -> list[BadTokenCase]:
    cases = [
        BadTokenCase("expired", "expired", TokenOptions(iat_offset=-3720, exp_offset=-120)),
        BadTokenCase("iat_in_future", "iat_future", TokenOptions(iat_offset=300, exp_offset=3900)),
        BadTokenCase("wrong_aud", "aud", TokenOptions(aud=OTHER_CLIENT)),
        BadTokenCase("wrong_iss", "iss", TokenOptions(iss=OTHER_ISSUER)),
        BadTokenCase("bad_signature", "signature", TokenOptions(kid=signing_kid), other_key=True),
        BadTokenCase("unknown_kid", "unknown_kid", TokenOptions(kid=UNKNOWN_KID)),
        BadTokenCase("no_kid", "no_kid", TokenOptions(kid=NO_KID)),
        BadTokenCase("alg_none", "alg", TokenOptions(alg="none")),
        BadTokenCase("wrong_nonce", "nonce", TokenOptions(nonce=FOREIGN_NONCE)),
        BadTokenCase(
            "aud_list_without_azp", "azp", TokenOptions(aud=[client_id, OTHER_CLIENT], drop=("azp",))
        ),
        BadTokenCase("wrong_azp", "azp", TokenOptions(aud=[client_id, OTHER_CLIENT], azp=OTHER_CLIENT)),
        BadTokenCase(
            "unsupported_message_type",
            "message_type",
            claim_changes={CLAIM_MESSAGE_TYPE: "LtiUnknownRequest"},
        ),
        BadTokenCase("wrong_version", "version", claim_changes={CLAIM_VERSION: "1.1.0"}),
        BadTokenCase(
            "unknown_deployment_id", "deployment", claim_changes={CLAIM_DEPLOYMENT_ID: UNKNOWN_DEPLOYMENT}
        ),
        BadTokenCase(
            "missing_resource_link_id",
            "missing:resource_link.id",
            claim_changes={CLAIM_RESOURCE_LINK: {"title": "A link without an id"}},
        ),
    ]
    cases += [_missing(claim) for claim in REQUIRED_CLAIMS]
    return cases


def _signature_problem(token: str, header: Mapping[str, Any], jwks: Mapping[str, Any]) -> str | None:
    alg = header.get("alg")
    if alg not in SIGNING_ALGS:
        return "alg"
    kid = header.get("kid")
    if not kid:
        return "no_kid"
    match = [key for key in jwks.get("keys", []) if key.get("kid") == kid]
    if not match:
        return "unknown_kid"
    options = {"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False}
    try:
        jwt.decode(token, jwt.PyJWK(match[0]), algorithms=[alg], options=options)
    except jwt.InvalidSignatureError:
        return "signature"
    return None


def _audience_problems(payload: Mapping[str, Any], client_id: str) -> list[str]:
    if "aud" not in payload:
        return []
    aud = payload["aud"]
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        return ["aud"]
    if len(audiences) > 1 and payload.get("azp") != client_id:
        return ["azp"]
    if "azp" in payload and payload["azp"] != client_id:
        return ["azp"]
    return []


def _message_problems(payload: Mapping[str, Any], deployment_ids: Collection[str]) -> list[str]:
    problems = []
    message_type = payload.get(CLAIM_MESSAGE_TYPE)
    if message_type is not None and message_type not in KNOWN_MESSAGE_TYPES:
        problems.append("message_type")
    if CLAIM_VERSION in payload and payload[CLAIM_VERSION] != LTI_VERSION:
        problems.append("version")
    if CLAIM_DEPLOYMENT_ID in payload and payload[CLAIM_DEPLOYMENT_ID] not in deployment_ids:
        problems.append("deployment")
    if message_type == MESSAGE_RESOURCE_LINK and not (payload.get(CLAIM_RESOURCE_LINK) or {}).get("id"):
        problems.append("missing:resource_link.id")
    if message_type == MESSAGE_DEEP_LINKING and not payload.get(CLAIM_DL_SETTINGS):
        problems.append(f"missing:{CLAIM_DL_SETTINGS}")
    return problems


def problems(
    token: str,
    *,
    jwks: Mapping[str, Any],
    issuer: str,
    client_id: str,
    nonce: str,
    deployment_ids: Collection[str],
    leeway: float = 60,
    now: float | None = None,
) -> list[str]:
    """Every rule `token` breaks, as the strings `BadTokenCase.problem` uses; [] for a good token."""
    header, payload = unverified_parts(token)
    found = [problem for problem in [_signature_problem(token, header, jwks)] if problem]
    found += [f"missing:{claim}" for claim in REQUIRED_CLAIMS if claim not in payload]
    moment = now if now is not None else time.time()
    if "exp" in payload and payload["exp"] <= moment - leeway:
        found.append("expired")
    if "iat" in payload and payload["iat"] > moment + leeway:
        found.append("iat_future")
    if "iss" in payload and payload["iss"] != issuer:
        found.append("iss")
    found += _audience_problems(payload, client_id)
    if "nonce" in payload and payload["nonce"] != nonce:
        found.append("nonce")
    found += _message_problems(payload, deployment_ids)
    return found


def other_key_for(kid: str) -> RsaKey:
    """A fresh key that claims `kid` (for a signature the published key cannot verify)."""
    return RsaKey.generate(kid=kid)
