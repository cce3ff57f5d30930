"""The typed declarative base, shared column types and database connection settings."""

from __future__ import annotations

import functools
import json
import select as io_select
import sqlite3
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import psycopg
from psycopg.pq import ExecStatus
from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    Engine,
    Insert,
    MetaData,
    Table,
    bindparam,
    event,
    exists,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql.dml import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql.dml import OnConflictDoNothing
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.pool import Pool
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


T = TypeVar("T")
IN_LIST_CHUNK = 1000  # psycopg takes at most 65,535 parameters in one statement


def chunks(values: Sequence[T], size: int = IN_LIST_CHUNK) -> Iterator[Sequence[T]]:
    """`values` in slices for `IN (...)` lists: a list that grows with the data never becomes one
    statement's parameters."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that reads back aware on SQLite too (it stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a timezone-aware one is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def insert_unless(
    table: Table, fields: Sequence[str], *existing: ColumnElement[bool], param_prefix: str = ""
) -> Insert:
    """One row from bind parameters (`param_prefix` + field name), inserted only if no row matches
    `existing`: the check and the insert in one statement, built once by the caller
    (INSERT ... SELECT ... WHERE NOT EXISTS; PostgreSQL, and SQLite >= 3.35 for a RETURNING)."""
    values = select(*(bindparam(f"{param_prefix}{name}", type_=table.c[name].type) for name in fields))
    return insert(table).from_select(list(fields), values.where(~exists().where(*existing)))


def insert_unless_conflict(table: Table, *unique_columns: str) -> Insert:
    """An INSERT that does nothing when a row with the same `unique_columns` exists, or is being
    inserted by a concurrent transaction (INSERT ... ON CONFLICT (...) DO NOTHING).

    PostgreSQL then waits for that transaction instead of failing on the unique constraint, so no
    savepoint (two more round trips) is needed around it. The PostgreSQL construct compiles for
    SQLite too, which has the same clause. Add `.returning(...)` to learn whether it inserted.
    Unlike SQLAlchemy 2.0's own, this one is compiled once and then found in the statement cache.
    """
    statement = _CachedPostgresqlInsert(table)
    statement._post_values_clause = _CachedOnConflictDoNothing(index_elements=list(unique_columns))
    return statement


def insert_rows_unless_conflict(
    connection: Any, table: Table, unique_columns: tuple[str, ...], rows: list[dict[str, Any]]
) -> None:
    """Many rows, each skipped if it exists (ON CONFLICT DO NOTHING), for work that scales with a
    workforce (a day's reminders and their emails).

    On PostgreSQL the rows travel as one JSON parameter that the server unpacks
    (`jsonb_to_recordset`): a short statement, parsed in C. An executemany makes a round trip per
    row, and a multi-row VALUES statement of thousands of placeholders costs more to convert in
    psycopg than to run. SQLite is in the process: an executemany is what it does best.
    """
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        connection.execute(insert_unless_conflict(table, *unique_columns), rows)
        return
    columns = list(rows[0])
    statement = _insert_from_json(table, tuple(columns), unique_columns, connection.dialect)
    for start in range(0, len(rows), JSON_ROWS_PER_STATEMENT):
        batch = rows[start : start + JSON_ROWS_PER_STATEMENT]
        document = json.dumps([{name: _jsonable(row[name]) for name in columns} for row in batch])
        connection.exec_driver_sql(statement, (document,))


JSON_ROWS_PER_STATEMENT = 20_000


@functools.cache
def _insert_from_json(
    table: Table, columns: tuple[str, ...], unique_columns: tuple[str, ...], dialect: Any
) -> str:
    names = ", ".join(f'"{name}"' for name in columns)
    types = ", ".join(f'"{name}" {table.c[name].type.compile(dialect=dialect)}' for name in columns)
    return (
        f'INSERT INTO "{table.name}" ({names}) SELECT {names} '
        f"FROM jsonb_to_recordset(%s::jsonb) AS r({types}) "
        f"ON CONFLICT ({', '.join(unique_columns)}) DO NOTHING"
    )


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (datetime, date)) else value


class _CachedOnConflictDoNothing(OnConflictDoNothing):
    """ON CONFLICT (columns) DO NOTHING that tells SQLAlchemy's statement cache what it holds.

    SQLAlchemy 2.0's PostgreSQL INSERT and its ON CONFLICT clause declare no cache key
    (sqlalchemy/sqlalchemy#10445), so every execution compiled the statement again (three per first
    launch; figures in bench/README.md). The clause's state is its conflict target.
    """

    _traverse_internals = [
        ("constraint_target", InternalTraversal.dp_string),
        ("inferred_target_elements", InternalTraversal.dp_string_list),
        ("inferred_target_whereclause", InternalTraversal.dp_clauseelement),
    ]


class _CachedPostgresqlInsert(PostgresqlInsert):
    """The PostgreSQL INSERT keyed like the standard one, whose key includes the ON CONFLICT
    clause (`_post_values_clause`); only `_CachedOnConflictDoNothing` is ever put there."""

    inherit_cache = True


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime(), dict[str, Any]: JSONType, list[Any]: JSONType},
    )


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL, foreign keys and a busy timeout; transactions are begun by us (see below)."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_immediate_on_sqlite(conn: Any) -> None:
    """SQLite allows one writer: take the write lock when the transaction starts.

    A deferred transaction that reads and then writes fails with SQLITE_BUSY when another
    connection committed in between (busy_timeout does not help there). Taking the lock up
    front serialises writers safely, which is what the outbox claim, the audit chain and quiz
    submissions rely on in the embedded mode.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# --- PostgreSQL connections ---------------------------------------------------------------------------

_RESULTS_WITH_ROWS = (ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK)


class LazyDescriptionCursor(psycopg.Cursor[Any]):
    """psycopg's cursor, describing its result's columns only when they are read.

    SQLAlchemy reads `cursor.description` after every statement but, for a statement it compiled
    before, only checks that there is one (its result metadata is cached). psycopg built a
    `Column` per column each time: a tenth of the client CPU of a 17-column select. The columns
    describe the cursor's result when first read; SQLAlchemy runs one statement per cursor.
    """

    @property
    def description(self) -> Sequence[psycopg.Column] | None:  # type: ignore[override]
        result = self.pgresult
        if result and (result.nfields or result.status in _RESULTS_WITH_ROWS):
            return _LazyDescription(self, result.nfields)
        return None


class _LazyDescription(Sequence[psycopg.Column]):
    __slots__ = ("_columns", "_count", "_cursor")

    def __init__(self, cursor: psycopg.Cursor[Any], count: int) -> None:
        self._cursor, self._count = cursor, count
        self._columns: list[psycopg.Column] | None = None

    def _built(self) -> list[psycopg.Column]:
        if self._columns is None:
            self._columns = [psycopg.Column(self._cursor, index) for index in range(self._count)]
        return self._columns

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        return self._built()[index]

    def __iter__(self) -> Iterator[psycopg.Column]:
        return iter(self._built())


@event.listens_for(Engine, "connect")
def _describe_columns_lazily(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, psycopg.Connection):
        dbapi_connection.cursor_factory = LazyDescriptionCursor


# --- PostgreSQL connections leaving the pool ---------------------------------------------------------

# A pooled connection idle longer than this is pinged before use; a busier one only when its
# socket says the server has spoken or hung up.
PING_IF_IDLE_SECONDS = 10.0


@event.listens_for(Pool, "checkin")
def _note_idle_since(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info["idle_since"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _refuse_dead_postgres_connection(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """pool_pre_ping's guarantee without its round trip on every checkout.

    pre_ping sent `SELECT 1` each time a request took a connection: about a fifth of the round
    trips of an LTI launch. A server that restarted or ended the session (admin command, idle
    timeout) has sent a FATAL message and closed the socket, which a zero-timeout poll sees; such
    a connection, or one idle for PING_IF_IDLE_SECONDS (a silent network drop), gets the real
    ping. DisconnectionError makes the pool replace the connection and check out again.
    """
    if not isinstance(dbapi_connection, psycopg.Connection):
        return
    idle_since = record.info.get("idle_since")
    if idle_since is None:  # just connected
        return
    if dbapi_connection.closed or dbapi_connection.broken:
        raise DisconnectionError("the connection was closed")
    if time.monotonic() - idle_since < PING_IF_IDLE_SECONDS and not _socket_stirred(dbapi_connection):
        return
    ping_postgres(dbapi_connection)


def _socket_stirred(connection: psycopg.Connection) -> bool:
    """True when an idle connection's socket has data, an error or a hang-up waiting."""
    poller = io_select.poll()
    poller.register(connection.fileno(), io_select.POLLIN | io_select.POLLPRI)
    return bool(poller.poll(0))  # POLLERR and POLLHUP are always reported


def ping_postgres(connection: psycopg.Connection) -> None:
    try:
        connection.execute("SELECT 1")
        connection.rollback()
    except psycopg.Error as exc:
        raise DisconnectionError(f"the connection failed its ping: {exc}") from exc
