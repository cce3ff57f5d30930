"""The demo LMS's own state, kept in the instance folder (never in the product's tables): its RSA
signing key, the access tokens it grants, and its gradebook.

The key and the JWKS are read without touching the database: the tool fetches this JWKS while its
launch holds SQLite's one write lock, from this same server.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jwt.algorithms import RSAAlgorithm

FOLDER = "demo-lms"
KEY_FILE = "signing-key.pem"
GRADEBOOK_FILE = "gradebook.jsonl"
ACCESS_TOKEN_SECONDS = 3600

_keys: dict[Path, tuple[rsa.RSAPrivateKey, str]] = {}
_lock = threading.Lock()


def folder() -> Path:
    path = Path(current_app.instance_path) / FOLDER
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def new_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def signing_key() -> tuple[rsa.RSAPrivateKey, str]:
    """The demo LMS's key and its kid, made on first use and loaded once per process."""
    path = folder() / KEY_FILE
    with _lock:
        if path not in _keys:
            _keys[path] = _load_or_create(path)
        return _keys[path]


def _load_or_create(path: Path) -> tuple[rsa.RSAPrivateKey, str]:
    pem = new_private_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Two web workers may both start here: the first file written is everyone's key.
    with contextlib.suppress(FileExistsError):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, "demo-" + hashlib.sha256(public_der).hexdigest()[:16]


def jwks() -> dict[str, Any]:
    key, kid = signing_key()
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**public, "kid": kid, "alg": "RS256", "use": "sig"}]}


def _token_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="demo-lms-access-token")


def issue_access_token(scopes: list[str]) -> str:
    return _token_serializer().dumps({"scopes": scopes})


def access_token_scopes(token: str) -> list[str] | None:
    """The scopes a bearer token grants, or None if it is not one of ours or has expired."""
    try:
        granted = _token_serializer().loads(token, max_age=ACCESS_TOKEN_SECONDS)
    except BadSignature:
        return None
    return list(granted.get("scopes") or [])


def append_to_gradebook(entry: dict[str, Any]) -> None:
    """One line per event (a launch, a score); web workers append under a file lock."""
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    with open(folder() / GRADEBOOK_FILE, "a", encoding="utf-8") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        file.write(line)


def gradebook_entries() -> list[dict[str, Any]]:
    path = folder() / GRADEBOOK_FILE
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as file:
        fcntl.flock(file, fcntl.LOCK_SH)
        return [json.loads(line) for line in file if line.strip()]
