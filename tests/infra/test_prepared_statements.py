"""TRAINING_DB_PREPARED_STATEMENTS=false: psycopg never prepares statements on the server, as
PgBouncer's transaction pooling before 1.21 requires (a statement prepared on one server connection
is missing on the next). By default it does, after a connection ran a statement five times."""

import pytest
from sqlalchemy import text

from training_app.extensions import db

pytestmark = pytest.mark.postgresql_only


def prepared_after_repeating(app) -> int:
    with app.app_context():
        connection = db.session.connection()
        for _ in range(8):
            connection.execute(text("SELECT count(*) FROM tenants WHERE id > :id"), {"id": 0})
        prepared = connection.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one()
        db.session.rollback()
    return prepared


def test_statements_are_prepared_by_default_and_never_when_turned_off(make_app):
    assert prepared_after_repeating(make_app()) >= 1
    for off in (False, "false"):  # the setting as a value, or as the environment gives it
        app = make_app(DB_PREPARED_STATEMENTS=off)
        assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["prepare_threshold"] is None
        assert prepared_after_repeating(app) == 0
