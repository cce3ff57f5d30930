"""RSA signing keys with a key id, as a platform or a fake tool holds them."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

KEY_SIZE = 2048


@dataclass(frozen=True, eq=False)
class RsaKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str | None = None) -> RsaKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
        return cls(kid=kid or f"key-{secrets.token_hex(6)}", private_key=key)

    @classmethod
    def generate_thumbprint_kid(cls) -> RsaKey:
        """A key whose kid is its RFC 7638 thumbprint, the kid pylti1p3 (jwcrypto) gives a PEM key."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
        return cls(kid=rfc7638_thumbprint(key.public_key()), private_key=key)

    @property
    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PrivateFormat.PKCS8,
            encryption_algorithm=serialization.NoEncryption(),
        ).decode()

    @property
    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                encoding=serialization.Encoding.PEM,
                format=serialization.PublicFormat.SubjectPublicKeyInfo,
            )
            .decode()
        )

    def public_jwk(self, *, include_kid: bool = True, alg: str = "RS256") -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.pop("key_ops", None)  # real platforms publish `use`, and RFC 7517 says not both
        jwk.update({"alg": alg, "use": "sig"})
        if include_kid:
            jwk["kid"] = self.kid
        return jwk


def rfc7638_thumbprint(public_key: rsa.RSAPublicKey) -> str:
    jwk = json.loads(RSAAlgorithm.to_jwk(public_key))
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def jwks_of(*keys: RsaKey, include_kid: bool = True) -> dict[str, Any]:
    return {"keys": [key.public_jwk(include_kid=include_kid) for key in keys]}
