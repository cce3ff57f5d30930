"""Short-lived launch state shared by every worker and instance: the database, or Redis when set
(with the database behind it while Redis does not answer).

The OIDC login's record (state -> nonce and login parameters), deep linking contexts and the
one-time "continue in a new window" tokens live here, so a login answered by one instance and a
launch answered by another both work. `take` reads and deletes in one step: each is used once.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import bindparam, delete, insert, select

from lti.models import LaunchState
from training_app import rate_limits
from training_app.db import utcnow
from training_app.extensions import db, run_core


class KeyValueStore(Protocol):
    def put(self, key: str, value: Any, ttl: int) -> None: ...
    def get(self, key: str) -> Any | None: ...
    def take(self, key: str) -> Any | None: ...


class DatabaseStore:
    """Rows in `lti_launch_state`, written in the request's transaction.

    The table is only ever written with statements, never through ORM instances, so nothing pending
    in the session needs flushing before these: they run on the request's connection (`run_core`).
    """

    def put(self, key: str, value: Any, ttl: int) -> None:
        """Keys are random and written once: a plain INSERT."""
        expires_at = utcnow() + timedelta(seconds=ttl)
        run_core(_INSERT, {"key": key, "value": {"v": value}, "expires_at": expires_at})

    def get(self, key: str) -> Any | None:
        value = run_core(_VALUE, {"key": key, "now": utcnow()}).scalar()
        return value["v"] if value else None

    def take(self, key: str) -> Any | None:
        """Read and delete in one statement: of two concurrent takers, one gets the value."""
        value = run_core(_TAKE, {"key": key, "now": utcnow()}).scalar()
        return value["v"] if value else None


# Built once, on the table (building a statement costs more CPU than running it, and the ORM
# layer adds to both); rows are live until `now` passes their expiry.
_state = LaunchState.__table__
_INSERT = insert(_state)  # values: key, value, expires_at
_LIVE = (_state.c.key == bindparam("key"), _state.c.expires_at > bindparam("now"))
_VALUE = select(_state.c.value).where(*_LIVE)
_TAKE = delete(_state).where(*_LIVE).returning(_state.c.value)


class RedisStore:
    """Keys in Redis, with the database behind: while Redis does not answer (refused, or no answer
    within REDIS_TIMEOUT_SECONDS), state is written to and read from the database, so launches go on
    working. A key not found in Redis is looked for in the database too (written there during an
    outage, read after Redis came back): one more statement, only for a key Redis does not have."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(
            url,
            socket_connect_timeout=rate_limits.REDIS_TIMEOUT_SECONDS,
            socket_timeout=rate_limits.REDIS_TIMEOUT_SECONDS,
        )
        self._errors = redis.RedisError
        self._database = DatabaseStore()
        self.circuit = rate_limits.RedisCircuit("LTI launch state")

    def put(self, key: str, value: Any, ttl: int) -> None:
        if self.circuit.closed():
            try:
                self._redis.set(f"postwise:lti:{key}", json.dumps(value), ex=ttl)
                return
            except self._errors as exc:
                self.circuit.failed(exc)
        self._database.put(key, value, ttl)

    def get(self, key: str) -> Any | None:
        return self._read(key, self._redis.get, self._database.get)

    def take(self, key: str) -> Any | None:
        return self._read(key, self._redis.getdel, self._database.take)

    def _read(self, key: str, from_redis: Any, from_database: Any) -> Any | None:
        if self.circuit.closed():
            try:
                raw = from_redis(f"postwise:lti:{key}")
            except self._errors as exc:
                self.circuit.failed(exc)
            else:
                if raw is not None:
                    return json.loads(raw)
        return from_database(key)


def store() -> KeyValueStore:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return DatabaseStore()
    cached = current_app.extensions.get("lti_redis_store")
    if cached is None:
        cached = current_app.extensions["lti_redis_store"] = RedisStore(url)
    return cached


def purge_expired() -> int:
    """Delete expired database state (the outbox worker's housekeeping, every few minutes).

    With Redis the keys expire by themselves; abandoned logins would otherwise stay in the table.
    """
    result = db.session.execute(delete(LaunchState).where(LaunchState.expires_at <= utcnow()))
    return result.rowcount or 0
