import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from tests.conftest import settings_for
from training_app import create_app
from training_app.extensions import db


def test_migrations_run_up_from_empty_down_to_base_and_up_again(backend, tmp_path, request):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        request.getfixturevalue("database_url")  # truncates afterwards
    app = create_app(settings_for(url, tmp_path / "instance"))
    with app.app_context():
        if backend == "postgresql":
            downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {"tenants", "users", "staff_accounts", "outbox_messages", "audit_events"} <= tables
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        db.engine.dispose()


# SQLite cannot reflect indexes on expressions (lower(email)...): SQLAlchemy and Alembic say so and
# leave them out of the comparison there; PostgreSQL compares them.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_models_and_migrations_agree(app):
    """Autogenerate finds nothing to do: every model change has its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with app.app_context(), db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert diff == []


@pytest.mark.postgresql_only
def test_login_states_are_unlogged_on_postgresql(app):
    """Ten-minute login states need no WAL, and the OIDC login's commit no wait for the disk."""
    with app.app_context():
        persistence = db.session.scalar(
            text("SELECT relpersistence FROM pg_class WHERE relname = 'lti_launch_state'")
        )
    assert persistence == "u"
