"""Launch state shared by every worker and instance: the database by default, Redis when set.

pylti1p3 keeps the OIDC state, the nonce and the launch data through a `LaunchDataStorage`; ours
writes them where every process sees them, so a login answered by one instance and a launch
answered by another both work. Nonces are consumed atomically on first use: a replayed
id_token is refused even within its lifetime.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Protocol

from flask import current_app
from pylti1p3.launch_data_storage.base import LaunchDataStorage
from sqlalchemy import delete, select

from lti.models import LaunchState
from training_app.db import utcnow
from training_app.extensions import db

DEFAULT_TTL = 3600
NONCE_MARKER = "-nonce-"


class KeyValueStore(Protocol):
    def put(self, key: str, value: Any, ttl: int) -> None: ...
    def get(self, key: str) -> Any | None: ...
    def take(self, key: str) -> Any | None: ...


class DatabaseStore:
    """Rows in `lti_launch_state`, written in the request's transaction."""

    def put(self, key: str, value: Any, ttl: int) -> None:
        row = db.session.get(LaunchState, key)
        expires = utcnow() + timedelta(seconds=ttl)
        if row is None:
            db.session.add(LaunchState(key=key, value={"v": value}, expires_at=expires))
        else:
            row.value, row.expires_at = {"v": value}, expires
        db.session.flush()

    def get(self, key: str) -> Any | None:
        row = db.session.scalar(
            select(LaunchState).where(LaunchState.key == key, LaunchState.expires_at > utcnow())
        )
        return row.value["v"] if row else None

    def take(self, key: str) -> Any | None:
        """Read and delete in one statement: of two concurrent takers, one gets the value."""
        row = db.session.execute(
            delete(LaunchState)
            .where(LaunchState.key == key, LaunchState.expires_at > utcnow())
            .returning(LaunchState.value)
        ).first()
        return row[0]["v"] if row else None


class RedisStore:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)

    def put(self, key: str, value: Any, ttl: int) -> None:
        self._redis.set(f"postwise:lti:{key}", json.dumps(value), ex=ttl)

    def get(self, key: str) -> Any | None:
        raw = self._redis.get(f"postwise:lti:{key}")
        return json.loads(raw) if raw is not None else None

    def take(self, key: str) -> Any | None:
        raw = self._redis.getdel(f"postwise:lti:{key}")
        return json.loads(raw) if raw is not None else None


def store() -> KeyValueStore:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return DatabaseStore()
    cached = current_app.extensions.get("lti_redis_store")
    if cached is None:
        cached = current_app.extensions["lti_redis_store"] = RedisStore(url)
    return cached


def purge_expired() -> int:
    """Delete expired database state (the worker calls this now and then)."""
    result = db.session.execute(delete(LaunchState).where(LaunchState.expires_at <= utcnow()))
    return result.rowcount or 0


class SharedLaunchStorage(LaunchDataStorage[Any]):
    """pylti1p3's storage interface over `store()`. Keys are global: no extra session cookie."""

    _session_cookie_name = None  # type: ignore[assignment]

    def __init__(self, backend: KeyValueStore | None = None) -> None:
        super().__init__()
        self._backend = backend or store()

    def can_set_keys_expiration(self) -> bool:
        return True

    def get_value(self, key: str) -> Any:
        return self._backend.get(self._prepare_key(key))

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        self._backend.put(self._prepare_key(key), value, exp or DEFAULT_TTL)

    def check_value(self, key: str) -> bool:
        """pylti1p3 asks this only for nonces: the first check consumes the nonce."""
        prepared = self._prepare_key(key)
        if NONCE_MARKER in prepared:
            return self._backend.take(prepared) is not None
        return self._backend.get(prepared) is not None
