"""Test fixtures: every database test runs on SQLite and on PostgreSQL.

Choose backends with `--db sqlite`, `--db postgresql` or `--db all` (default), or the
TEST_DB environment variable. PostgreSQL is expected at TEST_POSTGRES_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres); each pytest worker gets its own
database, migrated once from empty with the real Alembic migrations, then emptied after each test.

Publishing the built-in courses costs about a second (YAML, Markdown, hashes), so it happens once
per worker and backend: a test that uses the `published` fixture starts from a database where
they are already published (SQLite: a second template file; PostgreSQL: a second database whose
course rows are kept between tests, and published again if a test changed them).
"""

from __future__ import annotations

import functools
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, current_app
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from jwcrypto.jwk import JWK
from sqlalchemy import text
from sqlalchemy.engine import make_url

import lti.keys
from certificates import credentials
from courses import publishing
from lti import platform_keys
from tests import factories
from tests.databases import empty_tables, libpq_dsn
from tests.helpers import FormClient
from tests.lti_platform import keys as platform_rsa_keys
from tests.receiver import Receiver
from tests.statements import Executed, recording
from training_app import create_app
from training_app.auth import services as accounts
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


COURSE_TABLES = ("courses", "course_versions", "lessons")  # the rows publishing writes


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """This worker's database, migrated from empty; beside it `<name>_published`, a copy made
    while nobody is connected (CREATE DATABASE ... TEMPLATE) for `postgres_published`."""
    base = make_url(os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG))
    name = f"postwise_test_{_worker_suffix()}"
    names = (name, f"{name}_published")
    admin_dsn = libpq_dsn(base.render_as_string(hide_password=False))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for each in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{each}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    _migrate(url)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{names[1]}" TEMPLATE "{name}"')
    yield url
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for each in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{each}" WITH (FORCE)')


class PublishedPostgres:
    """The worker's second PostgreSQL database, where the courses stay published between tests."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fingerprint = ""
        self.publish()

    def publish(self) -> None:
        empty_tables(self.url)
        _publish_courses(self.url)
        self.fingerprint = empty_tables(self.url, keep=COURSE_TABLES)

    def reset(self) -> None:
        """Empty every other table; publish again if the test changed the course rows."""
        if empty_tables(self.url, keep=COURSE_TABLES) != self.fingerprint:
            self.publish()


@pytest.fixture(scope="session")
def postgres_published(postgres_url: str) -> PublishedPostgres:
    """The copy of this worker's database, with the courses published in it on first use."""
    url = make_url(postgres_url)
    return PublishedPostgres(
        url.set(database=f"{url.database}_published").render_as_string(hide_password=False)
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file migrated from empty, copied for each SQLite test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    _migrate(f"sqlite:///{path}")
    _checkpoint(path)
    return path


@pytest.fixture(scope="session")
def sqlite_published_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The migrated template with the built-in courses published (see `published`)."""
    path = tmp_path_factory.mktemp("sqlite-published") / "template.db"
    shutil.copyfile(sqlite_template, path)
    _publish_courses(f"sqlite:///{path}")
    _checkpoint(path)
    return path


def _checkpoint(path: Path) -> None:
    """Move the WAL into the database file, which is then all a copy needs."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app(settings_for(url, instance=None))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def _publish_courses(url: str) -> None:
    """What the `published` fixture promises: every built-in course published as a material version."""
    app = create_app(settings_for(url, instance=None))
    with app.app_context():
        publishing.publish_all(material=True, actor="test")
        db.session.commit()
        db.session.remove()
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


STARTS_PUBLISHED = pytest.StashKey[bool]()


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """This test's database: migrated and empty, or with the courses published when the test
    uses the `published` fixture (directly or through another fixture)."""
    published = request.node.stash[STARTS_PUBLISHED] = "published" in request.fixturenames
    if backend == "sqlite":
        template: Path = request.getfixturevalue(
            "sqlite_published_template" if published else "sqlite_template"
        )
        target = tmp_path / "training.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    if published:
        database: PublishedPostgres = request.getfixturevalue("postgres_published")
        yield database.url
        database.reset()
        return
    url: str = request.getfixturevalue("postgres_url")
    yield url
    empty_tables(url)


@pytest.fixture
def published(database_url: str, request: pytest.FixtureRequest) -> None:
    """Every built-in course published as a material version, as `flask --app wsgi courses publish
    --material` leaves them (published once per worker and backend, see `database_url`)."""
    if not request.node.stash[STARTS_PUBLISHED]:
        raise pytest.UsageError("request `published` as an argument: the database was chosen without it")


@pytest.fixture
def app_settings(database_url: str, tmp_path: Path) -> dict[str, object]:
    """Override in a test module to change settings before the app is built."""
    return settings_for(database_url, tmp_path / "instance")


class TemplateBytecode(BytecodeCache):
    """Compiled Jinja templates kept for every app of the worker: each test builds its own app,
    whose environment would compile each template it renders again (~20 ms a page). Jinja checks
    the source's checksum before using the code, so an edited template is compiled afresh."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if (code := self._code.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_BYTECODE = TemplateBytecode()


def build_app(settings: dict[str, object]) -> Flask:
    """create_app, with the worker's compiled templates."""
    app = create_app(settings)
    app.jinja_env.bytecode_cache = TEMPLATE_BYTECODE
    return app


@pytest.fixture
def app(app_settings: dict[str, object]) -> Iterator[Flask]:
    """The app, with no context pushed: requests get their own context and session, as in
    production. Arrange and inspect data inside `with app.app_context():`."""
    app = build_app(app_settings)
    yield app
    close_connections(app)


def close_connections(app: Flask) -> None:
    """Close the app's pooled connections. A live server's request thread may still be finishing
    (a browser's last request): its connection is waited for (a few seconds at most), or it would
    come back to the disposed pool later and be garbage-collected open (a ResourceWarning that
    surfaces in whichever test runs next)."""
    with app.app_context():
        db.session.remove()
        pool = db.engine.pool
        deadline = time.monotonic() + 5
        while getattr(pool, "checkedout", lambda: 0)() and time.monotonic() < deadline:
            time.sleep(0.02)
        db.engine.dispose()


@pytest.fixture
def make_app(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Another app on the test's database with other settings (a second process, another
    configuration); its connections are closed at the end, as the `app` fixture's are."""
    made: list[Flask] = []

    def build(**settings: object) -> Flask:
        other = build_app(settings_for(database_url, tmp_path / f"app-{len(made)}", **settings))
        made.append(other)
        return other

    yield build
    for other in made:
        close_connections(other)


KEY_POOL = platform_rsa_keys.PrivateKeyPool()


class _RsaWithPooledKeys:
    """Stands in for the `rsa` module inside `lti.keys`: new tool keys come from KEY_POOL."""

    def generate_private_key(self, public_exponent: int, key_size: int) -> rsa.RSAPrivateKey:
        return KEY_POOL.take(public_exponent, key_size)

    def __getattr__(self, name: str) -> Any:
        return getattr(rsa, name)


class _JwkOfPooledKeys:
    """Stands in for jwcrypto's `JWK` inside `lti.keys`, which reads a new key's PEM for its
    thumbprint: a pooled key's PEM is read once per worker, not once per test."""

    from_pem = staticmethod(functools.cache(JWK.from_pem))

    def __getattr__(self, name: str) -> Any:
        return getattr(JWK, name)


_load_signing_key_once = functools.cache(credentials.load_signing_key)


@pytest.fixture(autouse=True)
def pooled_rsa_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every RSA key a test makes comes from KEY_POOL (different within the test, made once per
    worker): the LMS emulator's keys, the tool's keys (`lti.keys.create_key`) and the credential
    signing keys (`certificates.credentials.generate_signing_key`). Loading an RSA private key
    checks it (~45 ms), so the PEMs of pooled keys are loaded once too."""
    KEY_POOL.restart()
    monkeypatch.setattr(platform_rsa_keys, "new_private_key", KEY_POOL.take)
    monkeypatch.setattr(lti.keys, "rsa", _RsaWithPooledKeys())
    monkeypatch.setattr(lti.keys, "JWK", _JwkOfPooledKeys())
    monkeypatch.setattr(credentials, "generate_signing_key", KEY_POOL.take)
    monkeypatch.setattr(credentials, "load_signing_key", _load_signing_key_once)


@pytest.fixture(autouse=True)
def cold_process_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with empty per-process caches of published versions and LMS key sets, as
    when every test published its own courses and its LMS had keys of its own: the template's
    course rows and the pooled keys come back in every test, with the same ids and key ids."""
    monkeypatch.setattr(publishing, "_published", {})
    monkeypatch.setattr(platform_keys, "_jwks_cache", {})
    monkeypatch.setattr(platform_keys, "_missing_kids", {})


_real_password_policy, _real_hash_password = accounts.check_password_policy, accounts.hash_password


@functools.cache
def _factory_password_passes(email: str, name: str) -> None:
    _real_password_policy(factories.PASSWORD, email=email, name=name)  # cached only when it passes


@functools.cache
def _factory_password_hash(cost: tuple[int, int]) -> str:
    return _real_hash_password(factories.PASSWORD)


def _check_password_policy(password: str, *, email: str = "", name: str = "") -> None:
    if password == factories.PASSWORD:
        _factory_password_passes(email, name)
    else:
        _real_password_policy(password, email=email, name=name)


def _hash_password(password: str) -> str:
    if password == factories.PASSWORD:
        return _factory_password_hash(tuple(current_app.config["PASSWORD_HASH_COST"]))
    return _real_hash_password(password)


@pytest.fixture(autouse=True)
def factory_password_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """`factories.PASSWORD`, every test staff account's, meets the password policy (zxcvbn) and is
    hashed (argon2) once per worker, email and hash cost: ~17 ms an account otherwise. Any other
    password goes through the real functions."""
    monkeypatch.setattr(accounts, "check_password_policy", _check_password_policy)
    monkeypatch.setattr(accounts, "hash_password", _hash_password)


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
def learner(app, client, published):
    """Ada, enrolled in the orientation with every lesson done and the policy attested, signed in."""
    from tests.helpers import sign_in_learner
    from tests.journeys import ready_for_quiz

    with app.app_context():
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
