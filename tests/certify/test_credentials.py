"""Open Badges 3.0 credentials: valid against 1EdTech's schema, signed as VC-JWT, revocable."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jsonschema import Draft201909Validator

from certificates.credentials import (
    OB_CONTEXT,
    REVOCATION_LIST_TYPE,
    AchievementDefinition,
    IssuerProfile,
    RevokedCredential,
    build_credential,
    build_revocation_list,
    generate_signing_key,
    is_revoked,
    load_signing_key,
    public_jwk,
    sign_credential_jwt,
    signing_key_pem,
    verify_credential_jwt,
)
from certificates.errors import InvalidCredential

BASE = "https://training.example.com"
KID = f"{BASE}/certificates/keys/2026-11"
STATUS_URL = f"{BASE}/certificates/status/acme"
CREDENTIAL_ID = f"{BASE}/certificates/credentials/7KQ2-M9XD-4HPT-ZR3B"
SUBJECT_ID = "urn:uuid:9b2f3c1e-5a4d-4e8f-9c1b-2d3e4f5a6b7c"
NOW = datetime.now(UTC).replace(microsecond=0)


def credential(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "credential_id": CREDENTIAL_ID,
        "issuer": IssuerProfile(
            f"{BASE}/certificates/issuers/acme", "Acme Corporation", "https://acme.example"
        ),
        "achievement": AchievementDefinition(
            id=f"{BASE}/certificates/achievements/orientation/v3",
            name="Social Media Policy — Orientation",
            description="Completed Acme's social media policy orientation and attested policy v3.",
            criteria="Complete every lesson, attest the policy and score at least 80% in the quiz.",
            version="v3 · 2026-11-02",
        ),
        "subject_id": SUBJECT_ID,
        "holder_name": "نور الهدى عبد الله",
        "holder_email": "Nour@Example.com",
        "valid_from": NOW - timedelta(days=1),
        "valid_until": NOW + timedelta(days=364),
        "score": 90,
        "status_url": STATUS_URL,
    }
    values.update(changes)
    return build_credential(**values)


def test_the_credential_is_a_valid_open_badge_3_credential(validator: Draft201909Validator) -> None:
    built = credential()

    errors = sorted(validator.iter_errors(built), key=lambda e: list(e.path))
    assert errors == [], [f"{list(e.path)}: {e.message}" for e in errors]
    assert built["@context"] == OB_CONTEXT
    assert built["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert built["issuer"]["type"] == ["Profile"]
    assert built["credentialSubject"]["type"] == ["AchievementSubject"]
    assert built["credentialSubject"]["achievement"]["criteria"]["narrative"].startswith("Complete every")
    assert built["validUntil"].endswith("Z")
    assert built["name"] == "Social Media Policy — Orientation"


def test_the_minimal_credential_is_valid_too(validator: Draft201909Validator) -> None:
    built = credential(valid_until=None, score=None, holder_email=None, status_url=None)

    assert list(validator.iter_errors(built)) == []
    assert "validUntil" not in built and "credentialStatus" not in built


def test_the_shipped_schema_does_catch_a_broken_credential(validator: Draft201909Validator) -> None:
    broken = credential()
    del broken["validFrom"]
    broken["@context"] = ["https://www.w3.org/2018/credentials/v1"]
    broken["credentialSubject"]["identifier"][0]["hashed"] = "no"
    broken["validUntil"] = "next year"

    messages = {error.message for error in validator.iter_errors(broken)}

    assert any("'validFrom' is a required property" in m for m in messages)
    assert any("'no' is not of type 'boolean'" in m for m in messages)
    assert any("is not a 'date-time'" in m for m in messages)
    assert len(messages) >= 4


def test_the_score_and_the_holder_are_in_the_credential_without_the_email_in_clear() -> None:
    subject = credential()["credentialSubject"]

    assert subject["result"][0]["value"] == "90"
    assert subject["result"][0]["resultDescription"] == subject["achievement"]["resultDescription"][0]["id"]
    name, email = subject["identifier"]
    assert name == {
        "type": "IdentityObject",
        "identityType": "name",
        "hashed": False,
        "identityHash": "نور الهدى عبد الله",
    }
    assert email["hashed"] is True and email["identityHash"].startswith("sha256$")
    assert "nour" not in json.dumps(subject).lower()


def test_credential_times_must_carry_a_timezone_and_be_in_order() -> None:
    with pytest.raises(ValueError, match="timezone"):
        credential(valid_from=datetime(2026, 11, 2, 10, 0), valid_until=None)
    with pytest.raises(ValueError, match="after"):
        credential(valid_until=NOW - timedelta(days=2))


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    return decode(header), decode(payload)


def test_the_signed_credential_verifies_with_the_public_jwk(signing_key: rsa.RSAPrivateKey) -> None:
    built = credential()
    token = sign_credential_jwt(built, signing_key, KID)

    header, payload = _parts(token)
    assert header == {"alg": "RS256", "kid": KID, "typ": "JWT"}
    assert payload["iss"] == built["issuer"]["id"]
    assert payload["jti"] == CREDENTIAL_ID
    assert payload["sub"] == SUBJECT_ID
    assert payload["nbf"] == int((NOW - timedelta(days=1)).timestamp())
    assert payload["exp"] == int((NOW + timedelta(days=364)).timestamp())
    assert payload["vc"] == built
    assert payload["credentialSubject"] == built["credentialSubject"]

    assert verify_credential_jwt(token, public_jwk(signing_key, KID)) == built


def test_a_tampered_credential_fails_verification(signing_key: rsa.RSAPrivateKey) -> None:
    token = sign_credential_jwt(credential(), signing_key, KID)
    header, _payload, signature = token.split(".")
    claims = _parts(token)[1]
    claims["vc"]["credentialSubject"]["result"][0]["value"] = "100"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

    with pytest.raises(InvalidCredential) as caught:
        verify_credential_jwt(f"{header}.{forged}.{signature}", public_jwk(signing_key, KID))

    assert caught.value.reason == "signature"


def test_a_credential_signed_by_another_key_fails(signing_key: rsa.RSAPrivateKey) -> None:
    token = sign_credential_jwt(credential(), generate_signing_key(), KID)

    with pytest.raises(InvalidCredential) as caught:
        verify_credential_jwt(token, public_jwk(signing_key, KID))

    assert caught.value.reason == "signature"


def test_a_credential_signed_with_another_kid_is_refused_before_checking(
    signing_key: rsa.RSAPrivateKey,
) -> None:
    token = sign_credential_jwt(credential(), signing_key, f"{BASE}/certificates/keys/old")

    with pytest.raises(InvalidCredential) as caught:
        verify_credential_jwt(token, public_jwk(signing_key, KID))

    assert caught.value.reason == "key"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"valid_from": NOW - timedelta(days=400), "valid_until": NOW - timedelta(days=35)}, "expired"),
        ({"valid_from": NOW + timedelta(days=2), "valid_until": None}, "not_yet_valid"),
    ],
)
def test_a_credential_outside_its_validity_fails(
    changes: dict[str, Any], reason: str, signing_key: rsa.RSAPrivateKey
) -> None:
    token = sign_credential_jwt(credential(**changes), signing_key, KID)

    with pytest.raises(InvalidCredential) as caught:
        verify_credential_jwt(token, public_jwk(signing_key, KID))

    assert caught.value.reason == reason


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
def test_garbage_is_not_a_credential(token: str, signing_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(InvalidCredential) as caught:
        verify_credential_jwt(token, public_jwk(signing_key, KID))

    assert caught.value.reason == "malformed"


def test_claims_that_disagree_with_the_credential_inside_fail(signing_key: rsa.RSAPrivateKey) -> None:
    built = credential()
    claims = {
        **built,
        "iss": "https://attacker.example/issuer",
        "jti": built["id"],
        "sub": SUBJECT_ID,
        "nbf": int(NOW.timestamp()) - 60,
        "vc": built,
    }
    token = jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": KID})

    with pytest.raises(InvalidCredential) as caught:
        verify_credential_jwt(token, public_jwk(signing_key, KID))

    assert caught.value.reason == "claims"


def test_the_public_jwk_never_carries_the_private_key(signing_key: rsa.RSAPrivateKey) -> None:
    jwk = public_jwk(signing_key, KID)

    assert {"kty", "n", "e", "kid", "alg", "use"} <= set(jwk)
    assert jwk["kty"] == "RSA" and jwk["alg"] == "RS256" and jwk["kid"] == KID
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)


def test_a_private_jwk_is_refused_as_verification_key(signing_key: rsa.RSAPrivateKey) -> None:
    private = {**public_jwk(signing_key, KID), "d": "secret"}
    token = sign_credential_jwt(credential(), signing_key, KID)

    with pytest.raises(InvalidCredential) as caught:
        verify_credential_jwt(token, private)

    assert caught.value.reason == "key"


def test_a_signing_key_survives_storage_as_pem(signing_key: rsa.RSAPrivateKey) -> None:
    loaded = load_signing_key(signing_key_pem(signing_key))
    token = sign_credential_jwt(credential(), loaded, KID)

    assert verify_credential_jwt(token, public_jwk(signing_key, KID))["id"] == CREDENTIAL_ID


def test_the_credential_points_to_the_revocation_list_the_service_serves() -> None:
    built = credential()

    assert built["credentialStatus"] == {"id": STATUS_URL, "type": REVOCATION_LIST_TYPE}


def test_a_revoked_credential_is_listed_and_seen_as_revoked() -> None:
    built = credential()
    other = credential(credential_id=f"{BASE}/certificates/credentials/OTHER")
    revocations = build_revocation_list(
        STATUS_URL,
        built["issuer"]["id"],
        [RevokedCredential(built["id"], "Issued to the wrong employee")],
    )

    assert revocations == {
        "id": STATUS_URL,
        "issuer": built["issuer"]["id"],
        "revokedCredential": [
            {"id": CREDENTIAL_ID, "revoked": True, "revocationReason": "Issued to the wrong employee"}
        ],
    }
    assert is_revoked(built, revocations)
    assert not is_revoked(other, revocations)


def test_a_credential_without_status_or_with_another_list_is_not_revoked_by_a_list() -> None:
    revocations = build_revocation_list(STATUS_URL, "issuer", [RevokedCredential(CREDENTIAL_ID)])

    assert not is_revoked(credential(status_url=None), revocations)
    assert not is_revoked(credential(status_url=f"{BASE}/certificates/status/other"), revocations)
    assert is_revoked(credential(), revocations)
