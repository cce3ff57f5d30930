"""A PostgreSQL database of the benchmark's own, dropped and created fresh, migrated, with the
built-in courses published; the app on it; and waiting until the server is done with a run."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psycopg
from flask import Flask
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from training_app import create_app  # noqa: E402
from training_app.extensions import db  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
SYSTEM_DATABASES = ("postgres", "template0", "template1")
PUBLIC_URL = "https://training.example.com"  # production refuses to start without one


def raw_dsn(url: str) -> str:
    """The SQLAlchemy URL as psycopg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin(url: str) -> tuple[str, str]:
    parsed = make_url(url)
    name = parsed.database or ""
    if not name or name in SYSTEM_DATABASES:
        sys.exit(f"refusing to drop the database {name!r}: give the benchmark a database of its own")
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    return admin, name


def recreate_database(url: str) -> None:
    admin, name = _admin(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    admin, name = _admin(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def vacuum_analyze(url: str) -> None:
    """After a bulk setup: the planner's statistics and visibility map as a database in use has them."""
    with psycopg.connect(raw_dsn(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def migrated_app(url: str, *, publish: bool = True, **settings: object) -> Flask:
    """The app (production configuration unless `settings` say otherwise) on a fresh, migrated
    database, with the courses published (committed) when `publish`."""
    from flask_migrate import upgrade

    from courses import publishing

    recreate_database(url)
    app = create_app(
        {
            "CONFIG": "production",
            "DATABASE_URL": url,
            "PUBLIC_URL": PUBLIC_URL,
            "LOG_LEVEL": "WARNING",
            **settings,
        }
    )
    with app.app_context():
        upgrade()
        if publish:
            publishing.publish_all(material=True, actor="bench")
            db.session.commit()
    return app


def fresh_app(url: str, instance: Path, **settings: object) -> Flask:
    """The app (testing configuration) on a fresh, migrated database with the courses published."""
    return migrated_app(
        url,
        **{
            "CONFIG": "testing",
            "SECRET_KEY": "bench-secret-key",
            "INSTANCE_PATH": str(instance),
            **settings,
        },
    )


def wait_until_idle(dsn: str, quiet_seconds: float = 1.0, limit: float = 120) -> None:
    """Wait until no other session on the database has been busy for `quiet_seconds`.

    When the load generator stops, up to a connection's worth of requests are still queued in
    gunicorn's backlog or running; the workers finish them (the responses go nowhere). Measuring
    the next run, or counting what the run wrote, before they are done would mix runs up.
    """
    busy_sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND state IN "
        "('active', 'idle in transaction', 'idle in transaction (aborted)')"
    )
    deadline = time.monotonic() + limit
    with psycopg.connect(dsn, autocommit=True) as conn:
        quiet_since = None
        while time.monotonic() < deadline:
            if conn.execute(busy_sql).fetchone()[0]:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_seconds:
                return
            time.sleep(0.05)
    print(f"warning: the database was still busy {limit:g} s after the run", file=sys.stderr, flush=True)
