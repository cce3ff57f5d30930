"""Open Badges 3.0: each certificate as a verifiable credential (VC-JWT) signed with the tenant's key.

Everything a verifier needs is public and linked from the credential: the issuer profile, the
achievement, the revocation list (credentialStatus) and the public key (the JWT's kid is its URL).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from certificates import credentials
from certificates.models import Certificate, CredentialKey
from courses.models import CourseVersion
from training_app.errors import NotFound
from training_app.extensions import db
from training_app.models import Tenant
from training_app.urls import external_url

CRITERIA = (
    "Completed every lesson of the course, signed the policy attestation for this policy version and "
    "passed the course quiz at or above the pass mark."
)
_loaded: dict[str, rsa.RSAPrivateKey] = {}
_lock = threading.Lock()


def signing_key(tenant_id: int) -> CredentialKey:
    key = db.session.scalar(
        select(CredentialKey)
        .where(CredentialKey.tenant_id == tenant_id)
        .order_by(CredentialKey.created_at.desc())
        .limit(1)
    )
    if key is None:
        private = credentials.generate_signing_key()
        kid = uuid.uuid4().hex
        key = CredentialKey(
            tenant_id=tenant_id,
            kid=kid,
            private_pem=credentials.signing_key_pem(private).decode(),
            public_jwk=credentials.public_jwk(private, key_url(kid)),
        )
        db.session.add(key)
        db.session.flush()
    return key


def key_url(kid: str) -> str:
    return external_url("certificates.credential_key", kid=kid)


def _private(key: CredentialKey) -> rsa.RSAPrivateKey:
    loaded = _loaded.get(key.kid)
    if loaded is None:
        loaded = credentials.load_signing_key(key.private_pem.encode())
        with _lock:
            _loaded[key.kid] = loaded
    return loaded


def issuer(tenant: Tenant) -> credentials.IssuerProfile:
    return credentials.IssuerProfile(
        id=external_url("certificates.issuer_profile", tenant_slug=tenant.slug), name=tenant.name
    )


def achievement(certificate: Certificate) -> credentials.AchievementDefinition:
    version = db.session.get(CourseVersion, certificate.course_version_id)
    return credentials.AchievementDefinition(
        id=external_url("certificates.achievement", course_slug=certificate.course_slug),
        name=certificate.course_title,
        description=version.manifest["summary"],
        criteria=CRITERIA,
        version=certificate.policy_version,
    )


def credential(certificate: Certificate) -> dict[str, Any]:
    tenant = db.session.get(Tenant, certificate.tenant_id)
    return credentials.build_credential(
        credential_id=certificate.credential_id,
        issuer=issuer(tenant),
        achievement=achievement(certificate),
        subject_id=certificate.subject_id,
        holder_name=certificate.holder_name,
        valid_from=certificate.completed_at,
        valid_until=certificate.expires_at,
        score=certificate.score,
        holder_email=certificate.holder_email,
        status_url=external_url("certificates.revocation_list", tenant_slug=tenant.slug),
    )


def credential_jwt(certificate: Certificate) -> str:
    key = signing_key(certificate.tenant_id)
    return credentials.sign_credential_jwt(credential(certificate), _private(key), key.public_jwk["kid"])


def revocation_list(tenant_slug: str) -> dict[str, Any]:
    tenant = _tenant(tenant_slug)
    revoked = db.session.scalars(
        select(Certificate).where(Certificate.tenant_id == tenant.id, Certificate.revoked_at.is_not(None))
    )
    return credentials.build_revocation_list(
        external_url("certificates.revocation_list", tenant_slug=tenant.slug),
        issuer(tenant).id,
        [credentials.RevokedCredential(c.credential_id, "Revoked by the issuer") for c in revoked],
    )


def issuer_profile(tenant_slug: str) -> dict[str, Any]:
    tenant = _tenant(tenant_slug)
    profile = issuer(tenant)
    return {"@context": credentials.OB_CONTEXT, "id": profile.id, "type": ["Profile"], "name": profile.name}


def public_key(kid: str) -> dict[str, Any]:
    key = db.session.scalar(select(CredentialKey).where(CredentialKey.kid == kid))
    if key is None:
        raise NotFound("There is no credential key with that id.")
    return key.public_jwk


def _tenant(slug: str) -> Tenant:
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound("There is no such issuer.")
    return tenant
