"""The tool's RSA signing keys, per tenant, with rotation.

The kid is the RFC 7638 thumbprint of the public key: pylti1p3's Registration computes the same
value, so tokens it signs and the JWKS we serve always agree. Keys are loaded once per process
into key objects: signing with a PEM string re-validates the key on every call, which costs far
more than the signature itself.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import or_, select

from lti.models import ToolKey
from training_app.db import utcnow
from training_app.extensions import db

# Longest lifetime of anything we sign (client assertions, deep linking responses): 1 hour,
# plus margin. A retired key is served that long after rotation.
RETIRED_KEY_GRACE = timedelta(hours=2)

_loaded: dict[str, rsa.RSAPrivateKey] = {}
_lock = threading.Lock()


def create_key(tenant_id: int) -> ToolKey:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    jwk = JWK.from_pem(pem.encode())
    kid = jwk.thumbprint()
    public = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    public.update({"kid": kid, "alg": "RS256", "use": "sig"})
    key = ToolKey(tenant_id=tenant_id, kid=kid, private_pem=pem, public_jwk=public, created_at=utcnow())
    db.session.add(key)
    db.session.flush()
    return key


def active_key(tenant_id: int) -> ToolKey:
    """The tenant's current key, created on first use."""
    key = db.session.scalar(
        select(ToolKey)
        .where(ToolKey.tenant_id == tenant_id, ToolKey.retired_at.is_(None))
        .order_by(ToolKey.created_at.desc())
        .limit(1)
    )
    return key or create_key(tenant_id)


def rotate(tenant_id: int) -> tuple[ToolKey, list[ToolKey]]:
    """A new active key; the previous ones are retired but stay published for RETIRED_KEY_GRACE."""
    now = utcnow()
    retired = list(
        db.session.scalars(
            select(ToolKey).where(ToolKey.tenant_id == tenant_id, ToolKey.retired_at.is_(None))
        )
    )
    for key in retired:
        key.retired_at = now
    return create_key(tenant_id), retired


def published_keys() -> list[dict[str, Any]]:
    """Every active key, and retired keys whose signed tokens may still be in flight."""
    cutoff = utcnow() - RETIRED_KEY_GRACE
    keys = db.session.scalars(
        select(ToolKey)
        .where(or_(ToolKey.retired_at.is_(None), ToolKey.retired_at > cutoff))
        .order_by(ToolKey.created_at)
    )
    return [key.public_jwk for key in keys]


def private_key_object(key: ToolKey) -> rsa.RSAPrivateKey:
    loaded = _loaded.get(key.kid)
    if loaded is None:
        loaded = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
        with _lock:
            _loaded[key.kid] = loaded
    return loaded


def public_pem(key: ToolKey) -> str:
    return (
        private_key_object(key)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
