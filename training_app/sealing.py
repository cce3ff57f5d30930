"""Secrets the server must read back (an LRS password, an SFTP private key), stored encrypted.

A hash would not do: the server hands the secret to another server. Each secret is sealed with
Fernet (AES-128-CBC + HMAC-SHA256) under a key derived with HKDF-SHA256 from SECRET_KEY and a
purpose, so a copy of the database alone (a backup, a replica) gives nothing away, and a secret
sealed for one purpose cannot be unsealed for another. Keys in SECRET_KEY_FALLBACKS still unseal,
so SECRET_KEY can be rotated (the same scheme as staff single sign-on's client secret,
training_app.auth.sso, and dispatch packages' secrets).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


class SecretUnreadable(RuntimeError):
    """The secret was sealed under a key that is no longer configured (SECRET_KEY changed)."""


def seal(purpose: str, secret: str) -> str:
    return _sealer(purpose).encrypt(secret.encode()).decode()


def unseal(purpose: str, sealed: str) -> str:
    try:
        return _sealer(purpose).decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            f"a stored {purpose} cannot be decrypted: SECRET_KEY changed without the old key in "
            "SECRET_KEY_FALLBACKS; enter the secret again"
        ) from None


def _sealer(purpose: str) -> MultiFernet:
    keys = [current_app.config["SECRET_KEY"], *(current_app.config.get("SECRET_KEY_FALLBACKS") or ())]
    return MultiFernet([Fernet(_derived_key(key, purpose)) for key in keys])


def _derived_key(secret_key: str | bytes, purpose: str) -> bytes:
    material = secret_key.encode() if isinstance(secret_key, str) else secret_key
    info = f"postwise sealed secret: {purpose}".encode()
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)
    return base64.urlsafe_b64encode(derived)
