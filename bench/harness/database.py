"""A PostgreSQL database of the benchmark's own, dropped and created fresh, migrated, with the
built-in courses published; and the app on it."""

from __future__ import annotations

import sys
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


def raw_dsn(url: str) -> str:
    """The SQLAlchemy URL as psycopg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def recreate_database(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database or ""
    if not name or name in ("postgres", "template0", "template1"):
        sys.exit(f"refusing to drop the database {name!r}: give the benchmark a database of its own")
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def fresh_app(url: str, instance: Path, **settings: object) -> Flask:
    """The app on a fresh, migrated database with the courses published (committed)."""
    from flask_migrate import upgrade

    from courses import publishing

    recreate_database(url)
    app = create_app(
        {
            "CONFIG": "testing",
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-secret-key",
            "INSTANCE_PATH": str(instance),
            "PUBLIC_URL": "https://training.example.com",
            "LOG_LEVEL": "WARNING",
            **settings,
        }
    )
    with app.app_context():
        upgrade()
        publishing.publish_all(material=True, actor="bench")
        db.session.commit()
    return app
