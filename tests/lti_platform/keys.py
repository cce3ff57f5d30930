"""RSA signing keys with a key id, as a platform or a fake tool holds them."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

KEY_SIZE = 2048
PUBLIC_EXPONENT = 65537


def new_private_key() -> rsa.RSAPrivateKey:
    """A fresh RSA key (~50 ms); the test suite hands out pooled keys instead (`PrivateKeyPool`)."""
    return rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=KEY_SIZE)


@dataclass(frozen=True, eq=False)
class RsaKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str | None = None) -> RsaKey:
        return cls(kid=kid or f"key-{secrets.token_hex(6)}", private_key=new_private_key())

    @classmethod
    def generate_thumbprint_kid(cls) -> RsaKey:
        """A key whose kid is its RFC 7638 thumbprint, the kid pylti1p3 (jwcrypto) gives a PEM key."""
        key = new_private_key()
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


class PrivateKeyPool:
    """2048-bit RSA keys made once per process and handed out again in every test.

    Generating a key costs ~50 ms of CPU, and a launch test needs two or three (the platform's,
    the tool's, an attacker's). `restart()` at the start of each test: within one test every key
    handed out is different, so "another key" is always another key; across tests the same keys
    come back. Keys of another size or exponent are generated as asked.
    """

    def __init__(self) -> None:
        self._keys: list[rsa.RSAPrivateKey] = []
        self._next = 0
        self._lock = threading.Lock()

    def restart(self) -> None:
        with self._lock:
            self._next = 0

    def take(self, public_exponent: int = PUBLIC_EXPONENT, key_size: int = KEY_SIZE) -> rsa.RSAPrivateKey:
        """The test's next key (`rsa.generate_private_key`'s signature)."""
        if (public_exponent, key_size) != (PUBLIC_EXPONENT, KEY_SIZE):
            return rsa.generate_private_key(public_exponent=public_exponent, key_size=key_size)
        with self._lock:
            if self._next == len(self._keys):
                key = rsa.generate_private_key(public_exponent=public_exponent, key_size=key_size)
                self._keys.append(key)
            key = self._keys[self._next]
            self._next += 1
            return key
