"""Pooled PostgreSQL connections: a dead one is replaced before a request uses it, a busy healthy
one is reused without a ping (training_app.db replaces pool_pre_ping's ping per checkout)."""

import importlib
import time

import psycopg
import pytest
from sqlalchemy import text

from tests.conftest import libpq_dsn
from training_app.extensions import db

database = importlib.import_module("training_app.db")  # the package exports the extension as `db`

pytestmark = pytest.mark.postgresql_only


def _backend_pid(app) -> int:
    with app.app_context():
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        db.session.commit()
    return pid


def _end_every_other_session(database_url: str) -> list[int]:
    """What a PostgreSQL restart or `pg_terminate_backend` does to the app's pooled connections."""
    with psycopg.connect(libpq_dsn(database_url), autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        for _ in range(100):
            left = admin.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()[0]
            if not left:
                break
            time.sleep(0.02)
    return [row[0] for row in ended]


def _count_pings(monkeypatch) -> list[int]:
    pings: list[int] = []
    real_ping = database.ping_postgres

    def counting_ping(connection):
        pings.append(1)
        real_ping(connection)

    monkeypatch.setattr(database, "ping_postgres", counting_ping)
    return pings


def test_a_connection_the_server_ended_is_replaced_before_the_next_request_uses_it(
    app, client, database_url, monkeypatch, published
):
    """/readyz reads the database (and is ready only with a course published)."""
    first = _backend_pid(app)
    assert first in _end_every_other_session(database_url)
    pings = _count_pings(monkeypatch)

    response = client.get("/readyz")

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["database"] == "reachable"
    assert pings, "the ended connection was noticed and pinged"
    assert _backend_pid(app) != first


def test_a_busy_healthy_connection_is_reused_without_a_ping(app, monkeypatch):
    first = _backend_pid(app)
    pings = _count_pings(monkeypatch)

    assert [_backend_pid(app) for _ in range(3)] == [first] * 3
    assert pings == []


def test_a_connection_idle_for_long_is_pinged_and_kept_when_it_answers(app, monkeypatch):
    first = _backend_pid(app)
    pings = _count_pings(monkeypatch)
    monkeypatch.setattr(database, "PING_IF_IDLE_SECONDS", 0.0)

    assert _backend_pid(app) == first
    assert pings == [1]
