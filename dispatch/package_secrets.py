"""A package's secret: made here, shown only inside the package's zip, stored encrypted.

The server must read a secret back to check a launch's HMAC, so it cannot keep only a hash. It keeps
the secret encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a key derived with HKDF-SHA256
from the app's SECRET_KEY, so a copy of the database alone (a backup, a replica, an export) reveals
no package secret. The old keys in SECRET_KEY_FALLBACKS still decrypt, so SECRET_KEY can be
rotated; a secret re-encrypted at its next rotation uses the new key.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

SECRET_BYTES = 32
_PURPOSE = b"postwise dispatch package secret v1"


class SecretUnreadable(RuntimeError):
    """The stored secret was encrypted under a key that is no longer configured."""


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "a dispatch package secret cannot be decrypted: SECRET_KEY changed without the old key "
            "in SECRET_KEY_FALLBACKS"
        ) from None


def _fernet() -> MultiFernet:
    keys = [current_app.config["SECRET_KEY"], *(current_app.config.get("SECRET_KEY_FALLBACKS") or [])]
    return MultiFernet([Fernet(_derived_key(key)) for key in keys])


def _derived_key(app_secret: str | bytes) -> bytes:
    material = app_secret.encode() if isinstance(app_secret, str) else app_secret
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(material)
    return base64.urlsafe_b64encode(derived)
