"""Unbound extensions (`create_app` initialises them), and the one rule for transactions.

**Services never commit. Whoever starts a unit of work owns its one transaction and ends it:**
- a request: committed after a successful response, rolled back after an error response
  (training_app's transaction boundary), unless the view called `keep_writes_of_this_refusal`
  (a refusal that must leave a trace: a failed sign-in's audit event). A view marked
  `without_transaction` only delays that transaction's BEGIN: its reads run in autocommit until
  its first `run_write` (or `begin_writes()` before an ORM flush), and from then on the
  request's writes commit together.
  Mark only views that read, or write with a single statement or through `run_write`;
- a CLI command: commits once at its end;
- an outbox worker job: the claim, each handler and the outcome are each their own transaction.

A unit that must wait on another server (the LMS's token endpoint or roster) must not hold a
transaction meanwhile: the LMS calls us back (our JWKS), and SQLite's one write lock would be held
across the wait. The owner passes `commit_before_waiting` to the service, which calls it just
before it waits; the unit then continues in a new transaction, ended by the owner as usual.

`run_core` runs a Core statement on the unit's connection: inside its transaction once one has
begun, in autocommit before that (a `without_transaction` view on PostgreSQL).
"""

from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from flask import g
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, CursorResult, Executable
from sqlalchemy.exc import OperationalError

from training_app.db import Base

db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


def keep_writes_of_this_refusal() -> None:
    """Commit this request's writes although its response is an error (4xx): for refusals that
    record something (the audit event of a failed sign-in). Only what the view wrote on purpose
    should be pending when it calls this."""
    g.keep_writes_of_refusal = True


def commit_before_waiting() -> None:
    """End the unit of work's transaction now, before it waits on another server. Owners hand this
    to the services that wait (see the rule above); a service never calls it on its own."""
    db.session.commit()


def run_core(
    statement: Executable, params: dict[str, Any] | list[dict[str, Any]] | None = None
) -> CursorResult:
    """Run a Core statement on the request's connection, inside its transaction.

    Half the CPU of `db.session.execute`, which takes every statement through the ORM's execution
    path. It does not autoflush: use it on hot paths where no pending ORM change is read back.
    """
    return db.session.connection().execute(statement, params)


View = TypeVar("View", bound=Callable[..., Any])
AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def without_transaction(view: View) -> View:
    """Mark a view whose statements need no transaction around them: it only reads, it writes
    with a single statement, or its writes that belong together go through `run_write`.

    On PostgreSQL each of its statements then commits on its own (autocommit): no BEGIN and COMMIT
    round trips. Reads lose nothing: under READ COMMITTED every statement of a transaction reads
    its own snapshot anyway. A marked view that may write several rows together writes them with
    `run_write` (or calls `begin_writes` before an ORM flush): its first such write opens the
    request's one transaction.
    """
    view.without_transaction = True  # type: ignore[attr-defined]
    return view


def begin_writes() -> Connection:
    """Open the request's transaction now, if its statements have been committing on their own;
    the request's connection.

    In a `without_transaction` view on PostgreSQL, what ran before this committed statement by
    statement; what runs after it commits together when the request succeeds, or rolls back
    (training_app's transaction boundary: the driver sends COMMIT or ROLLBACK because a
    transaction is open). Everywhere else, where the request's transaction is already open or
    opens by itself with its first statement (SQLite), this does nothing.
    """
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        driver = connection.connection.driver_connection
        if driver.autocommit and driver.info.transaction_status == TransactionStatus.IDLE:
            try:
                driver.execute("BEGIN")
            except psycopg.OperationalError as exc:  # the server went away: as SQLAlchemy reports it
                connection.invalidate(exc)
                raise OperationalError("BEGIN", None, exc, connection_invalidated=True) from exc
    return connection


def run_write(
    statement: Executable, params: dict[str, Any] | list[dict[str, Any]] | None = None
) -> CursorResult:
    """`run_core` for a write that belongs to the request's transaction (or a read that locks
    rows until it commits), even in a view that runs without one until it writes (see
    `without_transaction`)."""
    return begin_writes().execute(statement, params)
