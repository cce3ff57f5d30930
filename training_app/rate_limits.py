"""Rate-limit counters in the database, for Flask-Limiter when no Redis is configured.

A per-process memory store would give each gunicorn worker and each instance its own count, so N
workers would allow N times the staff sign-in attempts. These counters live in one table that
every process shares (fixed windows, like Flask-Limiter's default strategy). Each hit is one
`INSERT ... ON CONFLICT DO UPDATE` on a connection of its own, committed at once: a hit counts
even when the request that made it rolls back (a failed sign-in answers 401).

`limits` ships storages for Redis, Memcached, MongoDB and memory, none for SQL; this is its
documented extension point (a `Storage` subclass registered by URI scheme).
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from typing import Any

from limits.storage import RedisStorage, Storage
from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from training_app.extensions import db
from training_app.models import RateLimitCounter

STORAGE_URI = "training+db://"
log = logging.getLogger(__name__)
PURGE_ONE_IN = 200  # an incr sometimes deletes expired counters, so the table stays small


_counters = RateLimitCounter.__table__


def _stored_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class DatabaseStorage(Storage):
    STORAGE_SCHEME = ["training+db"]

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with db.engine.begin() as connection:
            insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
            statement = insert(_counters).values(key=_stored_key(key), hits=amount, expires_at=now + expiry)
            window_over = _counters.c.expires_at <= now
            statement = statement.on_conflict_do_update(
                index_elements=[_counters.c.key],
                set_={
                    "hits": case((window_over, amount), else_=_counters.c.hits + amount),
                    "expires_at": case((window_over, now + expiry), else_=_counters.c.expires_at),
                },
            ).returning(_counters.c.hits)
            hits = connection.execute(statement).scalar_one()
            if random.randrange(PURGE_ONE_IN) == 0:
                connection.execute(delete(_counters).where(_counters.c.expires_at <= now))
        return hits

    def get(self, key: str) -> int:
        row = self._row(key)
        return row.hits if row is not None and row.expires_at > time.time() else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return row.expires_at if row is not None and row.expires_at > time.time() else time.time()

    def check(self) -> bool:
        try:
            with db.engine.connect() as connection:
                connection.execute(select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with db.engine.begin() as connection:
            return connection.execute(delete(_counters)).rowcount

    def clear(self, key: str) -> None:
        with db.engine.begin() as connection:
            connection.execute(delete(_counters).where(_counters.c.key == _stored_key(key)))

    def _row(self, key: str):
        with db.engine.connect() as connection:
            return connection.execute(
                select(_counters.c.hits, _counters.c.expires_at).where(_counters.c.key == _stored_key(key))
            ).first()


# --- Redis, with the database's counters while Redis does not answer ---------------------------------

REDIS_SCHEMES = ("redis", "rediss", "redis+unix")
# Seconds a client waits to connect to Redis or for its answer before the database is used instead.
REDIS_TIMEOUT_SECONDS = 0.5
# After a failure, Redis is tried again this many seconds later (meanwhile: the database).
REDIS_RETRY_SECONDS = 10.0


def storage_uri(redis_url: str | None) -> str:
    """Flask-Limiter's storage: Redis with the database behind it, or the database alone."""
    return f"training+{redis_url}" if redis_url else STORAGE_URI


class RedisCircuit:
    """Whether to try Redis now: after a failure it is left alone for REDIS_RETRY_SECONDS, so a Redis
    that is down costs one refused (or timed-out) connection per process every few seconds, not one
    per request. Shared by the rate limits and the LTI launch state."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.down_until = 0.0

    def closed(self) -> bool:
        return time.monotonic() >= self.down_until

    def failed(self, exc: Exception) -> None:
        if self.closed():
            log.warning(
                "Redis does not answer; the database stands in for it (%s) for %ss",
                self.what,
                REDIS_RETRY_SECONDS,
                extra={"error": f"{type(exc).__name__}: {exc}"[:300]},
            )
        self.down_until = time.monotonic() + REDIS_RETRY_SECONDS


class RedisWithDatabaseFallback(Storage):
    """Counters in Redis; while Redis does not answer, in the database (DatabaseStorage), shared by
    every process as before. A window that started in Redis starts again in the database, so at the
    switch a client may get up to twice its limit once: never unlimited, never a 500."""

    STORAGE_SCHEME = [f"training+{scheme}" for scheme in REDIS_SCHEMES]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        options.setdefault("socket_connect_timeout", REDIS_TIMEOUT_SECONDS)
        options.setdefault("socket_timeout", REDIS_TIMEOUT_SECONDS)
        self._redis = RedisStorage(uri.removeprefix("training+"), **options)
        self._database = DatabaseStorage(STORAGE_URI)
        self.circuit = RedisCircuit("rate limits")

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError  # Redis's own errors never leave: the database answers instead

    def _call(self, method: str, *args: Any) -> Any:
        if self.circuit.closed():
            try:
                return getattr(self._redis, method)(*args)
            except self._redis.base_exceptions as exc:
                self.circuit.failed(exc)
        return getattr(self._database, method)(*args)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self._call("incr", key, expiry, amount)

    def get(self, key: str) -> int:
        return self._call("get", key)

    def get_expiry(self, key: str) -> float:
        return self._call("get_expiry", key)

    def check(self) -> bool:
        if self.circuit.closed() and self._redis.check():
            return True
        return self._database.check()

    def reset(self) -> int | None:
        return self._call("reset")

    def clear(self, key: str) -> None:
        self._call("clear", key)
