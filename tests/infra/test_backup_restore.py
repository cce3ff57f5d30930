"""A tested restore: scripts/backup.sh backs up a database holding a learner's whole journey (result,
certificate, audit chain, outbox), scripts/restore.sh restores it into a new database, and the
restored database has every row, verifies its audit chain and serves the app. A restore over a
database that has tables is refused."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from tests.conftest import build_app, settings_for
from tests.databases import libpq_dsn
from tests.journeys import answer_key, start, submit
from training_app.extensions import db

ROOT = Path(__file__).resolve().parents[2]
LEFT_OUT = {"lti_launch_state"}  # logins under way: not backed up
# Rows compared column by column (ids, scores, codes, hashes): what an audit would look at.
COMPARED = {
    "completions": "id",
    "certificates": "id",
    "audit_events": "id",
    "quiz_attempts": "id",
    "outbox_messages": "id",
    "users": "id",
}


def script_env(url: str, instance: Path) -> dict[str, str]:
    return {
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": url,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "TRAINING_CONFIG": "testing",
        "TRAINING_INSTANCE_PATH": str(instance),
        "TRAINING_LOG_LEVEL": "WARNING",
    }


def run(script: str, *args: str, url: str, instance: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / script), *args],
        cwd=ROOT,
        env=script_env(url, instance),
        capture_output=True,
        text=True,
        timeout=300,
    )


def snapshot(url: str) -> dict[str, object]:
    """Every table's row count, and the compared tables' rows."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = sorted(set(inspect(connection).get_table_names()) - LEFT_OUT)
            counts = {t: connection.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
            rows = {
                table: [
                    tuple(map(str, row))
                    for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY {key}"))
                ]
                for table, key in COMPARED.items()
            }
    finally:
        engine.dispose()
    return {"counts": counts, "rows": rows}


@pytest.fixture
def restore_target(database_url: str, tmp_path: Path):
    """A new, empty database beside the test's: another PostgreSQL database, or an SQLite path."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'training.db'}"
        return
    name = f"{url.database}_restored"
    admin = libpq_dsn(database_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_a_backup_restores_into_a_new_database_with_every_row(
    app, client, learner, database_url, restore_target, tmp_path
):
    attempt_id = start(client)
    assert "You passed" in submit(client, attempt_id, answer_key(app, attempt_id, right=9)).get_data(
        as_text=True
    )
    with app.app_context():
        db.session.remove()
        db.engine.dispose()  # SQLite: the WAL is checkpointed; the backup must not depend on it
    before = snapshot(database_url)
    assert before["counts"]["completions"] == 1 and before["counts"]["certificates"] == 1
    assert before["counts"]["audit_events"] >= 2

    backup = (
        tmp_path / "backups" / ("postwise.pgdump" if "postgresql" in database_url else "postwise.sqlite3")
    )
    made = run("backup.sh", str(backup), url=database_url, instance=tmp_path / "instance")
    assert made.returncode == 0, made.stderr
    assert "Backed up the" in made.stdout and backup.exists()
    assert oct(backup.stat().st_mode & 0o777) == "0o600"

    restored = run(
        "restore.sh", str(backup), restore_target, url=database_url, instance=tmp_path / "instance"
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "chain intact" in restored.stdout

    after = snapshot(restore_target)
    # `audit verify` records a checkpoint of each intact chain: the restore's one new row.
    assert after["counts"].pop("audit_checkpoints") == before["counts"].pop("audit_checkpoints") + 1
    assert after["counts"] == before["counts"]
    assert after["rows"] == before["rows"]

    served = build_app(settings_for(restore_target, tmp_path / "instance-restored"))
    try:
        ready = served.test_client().get("/readyz")
        assert ready.status_code == 200, ready.get_data(as_text=True)
    finally:
        with served.app_context():
            db.session.remove()
            db.engine.dispose()

    again = run("restore.sh", str(backup), restore_target, url=database_url, instance=tmp_path / "instance")
    assert again.returncode == 1
    assert "already has" in again.stderr or "exists" in again.stderr
    untouched = snapshot(restore_target)
    untouched["counts"].pop("audit_checkpoints")
    assert untouched == after
