"""A package's secret: made here, shown only inside the package's zip, stored encrypted.

The server must read a secret back to check a launch's HMAC, so it cannot keep only a hash. It keeps
the secret encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a key derived with HKDF-SHA256
from the app's SECRET_KEY, so a copy of the database alone (a backup, a replica, an export) reveals
no package secret. The old keys in SECRET_KEY_FALLBACKS still decrypt, so SECRET_KEY can be
rotated; a secret re-encrypted at its next rotation uses the new key.
"""

from __future__ import annotations

import secrets

from training_app import sealing

SECRET_BYTES = 32
_PURPOSE = "dispatch package secret"  # training_app.sealing


SecretUnreadable = sealing.SecretUnreadable


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def encrypt(secret: str) -> str:
    return sealing.seal(_PURPOSE, secret)


def decrypt(ciphertext: str) -> str:
    return sealing.unseal(_PURPOSE, ciphertext)
