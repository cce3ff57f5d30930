"""Test fixtures: every database test runs on SQLite and on PostgreSQL.

Choose backends with `--db sqlite`, `--db postgresql` or `--db all` (default), or the
TEST_DB environment variable. PostgreSQL is expected at TEST_POSTGRES_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres); each pytest worker gets its own
database, migrated once from empty with the real Alembic migrations, then truncated per test.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.helpers import FormClient
from tests.receiver import Receiver
from tests.statements import Executed, recording
from training_app import create_app
from training_app.extensions import db

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default=os.environ.get("TEST_DB", "all"),
        help="database backend(s) for the tests: sqlite, postgresql or all",
    )


def selected_backends(config: pytest.Config) -> list[str]:
    choice = config.getoption("--db")
    return list(BACKENDS) if choice == "all" else [b.strip() for b in choice.split(",")]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = selected_backends(metafunc.config)
        for only in BACKENDS:
            if metafunc.definition.get_closest_marker(f"{only}_only"):
                backends = [b for b in backends if b == only]
        metafunc.parametrize("backend", backends, scope="session")


def _worker_suffix() -> str:
    """Unique per pytest run and worker, so two runs on one machine never share a database."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:8] or str(os.getpid())
    return f"{run}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    base = make_url(os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG))
    name = f"postwise_test_{_worker_suffix()}"
    admin_dsn = libpq_dsn(base.render_as_string(hide_password=False))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    _migrate(url)
    yield url
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    _migrate(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app(settings_for(url, instance=None))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def settings_for(url: str, instance: Path | None, **extra: object) -> dict[str, object]:
    settings: dict[str, object] = {
        "CONFIG": "testing",
        "DATABASE_URL": url,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "PUBLIC_URL": "http://localhost",
        "SERVER_NAME": None,
        # The LMS emulator and the receivers listen on plain http on 127.0.0.1: named, as an
        # operator would name an internal LMS (tests/infra/test_outbound.py runs without them).
        "OUTBOUND_ALLOWED_HOSTS": ["127.0.0.1"],
        "OUTBOUND_ALLOW_HTTP": True,
    }
    if instance is not None:
        settings["INSTANCE_PATH"] = str(instance)
    settings.update(extra)
    return settings


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "training.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    url: str = request.getfixturevalue("postgres_url")
    yield url
    _truncate_all(url)


def libpq_dsn(url: str) -> str:
    """The SQLAlchemy URL (postgresql+psycopg://...) as psycopg.connect takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _truncate_all(url: str) -> None:
    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables "
                "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        ]
        if tables:
            conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@pytest.fixture
def app_settings(database_url: str, tmp_path: Path) -> dict[str, object]:
    """Override in a test module to change settings before the app is built."""
    return settings_for(database_url, tmp_path / "instance")


@pytest.fixture
def app(app_settings: dict[str, object]) -> Iterator[Flask]:
    """The app, with no context pushed: requests get their own context and session, as in
    production. Arrange and inspect data inside `with app.app_context():`."""
    app = create_app(app_settings)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Another app on the test's database with other settings (a second process, another
    configuration); its connections are closed at the end, as the `app` fixture's are."""
    made: list[Flask] = []

    def build(**settings: object) -> Flask:
        other = create_app(settings_for(database_url, tmp_path / f"app-{len(made)}", **settings))
        made.append(other)
        return other

    yield build
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FormClient:
    return FormClient(app)


@pytest.fixture
def dialect(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


def count_rows(table: str) -> int:
    return db.session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def learner(app, client):
    """Ada, enrolled in the orientation with every lesson done and the policy attested, signed in."""
    from courses import publishing
    from tests import factories
    from tests.helpers import sign_in_learner
    from tests.journeys import ready_for_quiz

    with app.app_context():
        publishing.publish_all(material=True, actor="test")
        acme = factories.tenant("acme")
        factories.staff(acme, "hr@acme.example")
        ada = factories.learner(acme, "Ada Lovelace")
        ready_for_quiz(ada)
        db.session.commit()
        user_id = ada.id
    sign_in_learner(client, user_id)
    return user_id


@pytest.fixture
def executed_sql(app) -> Iterator[list[Executed]]:
    """Every statement the app runs while the test runs (tests.statements.recording)."""
    with recording(app) as seen:
        yield seen
