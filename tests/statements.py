"""The SQL statements the app runs during a test, with the request and transaction state of each."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from flask import Flask, has_request_context, request
from psycopg.pq import TransactionStatus
from sqlalchemy import event

from training_app.extensions import db


class Executed(NamedTuple):
    where: str  # method and path of the request, "-" outside one
    sql: str
    autocommit: bool  # the driver's connection commits each statement unless a transaction is open
    in_transaction: bool  # a transaction is open (PostgreSQL; SQLite always reports False)


def of_request(executed_sql: list[Executed], where: str) -> list[Executed]:
    """The statements one request ran ("POST /lti/launch")."""
    return [executed for executed in executed_sql if executed.where == where]


@contextmanager
def recording(app: Flask) -> Iterator[list[Executed]]:
    """Every statement the app runs inside the block, with where and how it ran."""
    seen: list[Executed] = []

    def record(connection, _cursor, statement, *_args):
        where = f"{request.method} {request.path}" if has_request_context() else "-"
        driver = connection.connection.driver_connection
        autocommit = connection.dialect.name == "postgresql" and driver.autocommit
        in_transaction = (
            connection.dialect.name == "postgresql"
            and driver.info.transaction_status != TransactionStatus.IDLE
        )
        seen.append(Executed(where, " ".join(statement.split()), autocommit, in_transaction))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
