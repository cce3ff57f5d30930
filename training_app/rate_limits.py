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
import random
import time

from limits.storage import Storage
from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from training_app.extensions import db
from training_app.models import RateLimitCounter

STORAGE_URI = "training+db://"
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
