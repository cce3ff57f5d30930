"""Open Badges 3.0 credentials for certificates, signed as VC-JWT (JOSE, RS256).

A certificate is also issued as an `OpenBadgeCredential` a learner can keep in a wallet and any
verifier can check without asking us: the credential is signed with the tenant's RSA key and
points to a revocation list the service serves (the 1EdTech Revocation List Status Method, the
status method the OB 3.0 verification rules name).

Spec references: OB 3.0 "Proofs (Signatures)" > "JSON Web Token Proof Format" for the JOSE header
(alg RS256, kid a dereferenceable URI, typ "JWT" when present, no other headers) and the JWT
claims (iss = issuer.id, jti = id, sub = credentialSubject.id, nbf = validFrom,
exp = validUntil); the 1EdTech validator reads a revocation list's `revokedCredential` entries.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from certificates.errors import InvalidCredential

OB_CONTEXT = [
    "https://www.w3.org/ns/credentials/v2",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
]
OB_SCHEMA_URL = (
    "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
)
OB_SCHEMA_TYPE = "1EdTechJsonSchemaValidator2019"
REVOCATION_LIST_TYPE = "1EdTechRevocationList"
SIGNING_ALGORITHM = "RS256"
RSA_KEY_BITS = 2048
JWT_CLAIMS = ("iss", "jti", "sub", "nbf", "exp", "iat", "vc")


@dataclass(frozen=True)
class IssuerProfile:
    """The tenant as an OB 3.0 Profile; `id` is a URL the service answers with this profile."""

    id: str
    name: str
    url: str | None = None


@dataclass(frozen=True)
class AchievementDefinition:
    """What was achieved: one course (version), the same for every learner who completes it."""

    id: str
    name: str
    description: str
    criteria: str
    achievement_type: str = "CertificateOfCompletion"
    version: str | None = None


@dataclass(frozen=True)
class RevokedCredential:
    credential_id: str
    reason: str | None = None


# --- building ----------------------------------------------------------------------------------


def build_credential(
    *,
    credential_id: str,
    issuer: IssuerProfile,
    achievement: AchievementDefinition,
    subject_id: str,
    holder_name: str,
    valid_from: datetime,
    valid_until: datetime | None = None,
    score: int | None = None,
    holder_email: str | None = None,
    status_url: str | None = None,
) -> dict[str, Any]:
    """An unsigned OB 3.0 OpenBadgeCredential (a plain dict, ready for JSON and for signing).

    `subject_id` identifies the learner without personal data (e.g. `urn:uuid:...`); the name is
    an `identifier` so wallets can show it, the e-mail (if given) only as a salted SHA-256 hash.
    `status_url` is where the service serves this issuer's revocation list.
    """
    achievement_json: dict[str, Any] = {
        "id": achievement.id,
        "type": ["Achievement"],
        "achievementType": achievement.achievement_type,
        "name": achievement.name,
        "description": achievement.description,
        "criteria": {"narrative": achievement.criteria},
    }
    if achievement.version:
        achievement_json["version"] = achievement.version
    subject: dict[str, Any] = {
        "id": subject_id,
        "type": ["AchievementSubject"],
        "achievement": achievement_json,
        "identifier": _identifiers(holder_name, holder_email),
    }
    if score is not None:
        score_id = f"{achievement.id}#score"
        achievement_json["resultDescription"] = [
            {
                "id": score_id,
                "type": ["ResultDescription"],
                "name": "Quiz score",
                "resultType": "Percent",
                "valueMin": "0",
                "valueMax": "100",
            }
        ]
        subject["result"] = [{"type": ["Result"], "resultDescription": score_id, "value": str(score)}]

    credential: dict[str, Any] = {
        "@context": list(OB_CONTEXT),
        "id": credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": achievement.name,
        "description": achievement.description,
        "issuer": _profile(issuer),
        "validFrom": _timestamp(valid_from),
        "awardedDate": _timestamp(valid_from),
        "credentialSubject": subject,
        "credentialSchema": [{"id": OB_SCHEMA_URL, "type": OB_SCHEMA_TYPE}],
    }
    if valid_until is not None:
        if valid_until <= valid_from:
            raise ValueError("valid_until must be after valid_from")
        credential["validUntil"] = _timestamp(valid_until)
    if status_url is not None:
        credential["credentialStatus"] = {"id": status_url, "type": REVOCATION_LIST_TYPE}
    return credential


def build_revocation_list(
    list_url: str, issuer_id: str, revoked: Iterable[RevokedCredential]
) -> dict[str, Any]:
    """The document to serve at a credential's `credentialStatus.id` (1EdTech Revocation List)."""
    entries = []
    for item in revoked:
        entry: dict[str, Any] = {"id": item.credential_id, "revoked": True}
        if item.reason:
            entry["revocationReason"] = item.reason
        entries.append(entry)
    return {"id": list_url, "issuer": issuer_id, "revokedCredential": entries}


def is_revoked(credential: dict[str, Any], revocation_list: dict[str, Any]) -> bool:
    """Whether `revocation_list` (fetched from the credential's status URL) revokes it."""
    status = credential.get("credentialStatus")
    if (
        not status
        or status.get("type") != REVOCATION_LIST_TYPE
        or status.get("id") != revocation_list.get("id")
    ):
        return False
    return any(
        entry.get("id") == credential["id"] and entry.get("revoked", True)
        for entry in revocation_list.get("revokedCredential", [])
    )


# --- keys --------------------------------------------------------------------------------------


def generate_signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)


def signing_key_pem(private_key: rsa.RSAPrivateKey) -> bytes:
    """PKCS#8 PEM for storage (encrypt it at rest; never commit it)."""
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_signing_key(pem: bytes) -> rsa.RSAPrivateKey:
    """Load once and keep the object: signing with a PEM string re-validates the key every time."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the signing key is not an RSA private key")
    return key


def public_jwk(private_key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    """The public half as a JWK for the JWKS the service publishes (never contains "d")."""
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": SIGNING_ALGORITHM, "use": "sig"}


# --- signing and verifying ---------------------------------------------------------------------


def sign_credential_jwt(credential: dict[str, Any], private_key: rsa.RSAPrivateKey, kid: str) -> str:
    """The credential as a Compact JWS (VC-JWT). `kid` should be a URL that returns the public JWK.

    The payload is the credential itself plus the registered claims (OB 3.0 with VC 2.0), and the
    same credential under `vc` for verifiers written for VC 1.1 JWTs.
    """
    try:
        subject_id = credential["credentialSubject"]["id"]
        claims: dict[str, Any] = {
            **credential,
            "iss": _issuer_id(credential),
            "jti": credential["id"],
            "sub": subject_id,
            "nbf": _epoch(credential["validFrom"]),
            "vc": credential,
        }
    except KeyError as missing:
        raise ValueError(f"the credential has no {missing.args[0]!r}, which the JWT needs") from None
    if "validUntil" in credential:
        claims["exp"] = _epoch(credential["validUntil"])
    return jwt.encode(claims, private_key, algorithm=SIGNING_ALGORITHM, headers={"kid": kid, "typ": "JWT"})


def verify_credential_jwt(token: str, public_jwk: dict[str, Any], *, leeway: int = 60) -> dict[str, Any]:
    """The credential inside `token` once its signature, dates and claims check out.

    Raises InvalidCredential whose `reason` says what failed: "malformed", "key", "signature",
    "expired", "not_yet_valid" or "claims".
    """
    if "d" in public_jwk:
        raise InvalidCredential("A private key was given where the public key belongs.", reason="key")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise InvalidCredential("This is not a signed credential (VC-JWT).", reason="malformed") from None
    if header.get("alg") != SIGNING_ALGORITHM:
        raise InvalidCredential(f"The credential is not signed with {SIGNING_ALGORITHM}.", reason="malformed")
    if public_jwk.get("kid") and header.get("kid") != public_jwk["kid"]:
        raise InvalidCredential("The credential was signed with another key.", reason="key")
    try:
        key = jwt.PyJWK(public_jwk, algorithm=SIGNING_ALGORITHM).key
        claims = jwt.decode(
            token,
            key,
            algorithms=[SIGNING_ALGORITHM],
            options={"require": ["iss", "jti", "sub", "nbf"], "verify_aud": False},
            leeway=leeway,
        )
    except jwt.InvalidSignatureError:
        raise InvalidCredential(
            "The signature does not match: the credential was altered.", reason="signature"
        ) from None
    except jwt.ExpiredSignatureError:
        raise InvalidCredential("The credential has expired.", reason="expired") from None
    except jwt.ImmatureSignatureError:
        raise InvalidCredential("The credential is not valid yet.", reason="not_yet_valid") from None
    except jwt.MissingRequiredClaimError as error:
        raise InvalidCredential(f"The credential lacks the {error.claim!r} claim.", reason="claims") from None
    except (jwt.InvalidTokenError, jwt.PyJWKError):
        raise InvalidCredential("This is not a valid signed credential.", reason="malformed") from None
    credential = claims.get("vc") or {name: value for name, value in claims.items() if name not in JWT_CLAIMS}
    _check_claims_match(claims, credential)
    return credential


def _check_claims_match(claims: dict[str, Any], credential: dict[str, Any]) -> None:
    expected = {
        "iss": _issuer_id(credential),
        "jti": credential.get("id"),
        "sub": (credential.get("credentialSubject") or {}).get("id"),
    }
    wrong = [name for name, value in expected.items() if claims.get(name) != value]
    if wrong:
        raise InvalidCredential(
            f"The JWT claims {', '.join(wrong)} do not match the credential inside.", reason="claims"
        )


# --- small pieces --------------------------------------------------------------------------------


def _profile(issuer: IssuerProfile) -> dict[str, Any]:
    profile: dict[str, Any] = {"id": issuer.id, "type": ["Profile"], "name": issuer.name}
    if issuer.url:
        profile["url"] = issuer.url
    return profile


def _identifiers(holder_name: str, holder_email: str | None) -> list[dict[str, Any]]:
    identifiers: list[dict[str, Any]] = [
        {"type": "IdentityObject", "identityType": "name", "hashed": False, "identityHash": holder_name}
    ]
    if holder_email:
        salt = secrets.token_hex(8)
        digest = hashlib.sha256((holder_email.strip().lower() + salt).encode("utf-8")).hexdigest()
        identifiers.append(
            {
                "type": "IdentityObject",
                "identityType": "emailAddress",
                "hashed": True,
                "identityHash": f"sha256${digest}",
                "salt": salt,
            }
        )
    return identifiers


def _issuer_id(credential: dict[str, Any]) -> str | None:
    issuer = credential.get("issuer")
    return issuer.get("id") if isinstance(issuer, dict) else issuer


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("credential times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp).timestamp())
