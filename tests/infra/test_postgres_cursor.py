"""The psycopg cursor PostgreSQL connections use describes result columns on demand
(training_app.db.LazyDescriptionCursor); what it describes is what psycopg describes."""

import psycopg
import pytest
from sqlalchemy import text

from training_app.db import LazyDescriptionCursor
from training_app.extensions import db

pytestmark = pytest.mark.postgresql_only


def _driver_connection():
    return db.session.connection().connection.driver_connection


def test_connections_use_the_lazy_cursor_and_describe_what_psycopg_describes(app):
    with app.app_context():
        connection = _driver_connection()
        assert connection.cursor_factory is LazyDescriptionCursor
        query = "SELECT 1::int AS one, 'x'::text AS letter, now() AS moment"
        lazy = connection.cursor()
        lazy.execute(query)
        plain = psycopg.Cursor(connection)
        plain.execute(query)
        assert len(lazy.description) == 3
        assert [tuple(column) for column in lazy.description] == [tuple(c) for c in plain.description]
        assert lazy.description[1].name == "letter"
        assert [c.name for c in lazy.description[-2:]] == ["letter", "moment"]
        db.session.rollback()


def test_statements_without_rows_have_no_description_and_an_empty_select_has_an_empty_one(app):
    with app.app_context():
        cursor = _driver_connection().cursor()
        cursor.execute("CREATE TEMPORARY TABLE scratch (n int)")
        assert cursor.description is None
        cursor.execute("INSERT INTO scratch VALUES (1)")
        assert cursor.description is None
        cursor.execute("SELECT")
        assert cursor.description is not None and len(cursor.description) == 0
        db.session.rollback()


def test_sqlalchemy_results_read_names_from_it_for_new_statements(app):
    with app.app_context():
        row = db.session.execute(text("SELECT 41 + 1 AS answer, 'ok' AS word")).one()
        assert (row.answer, row.word) == (42, "ok")
        mapping = db.session.execute(text("SELECT 7 AS seven")).mappings().one()
        assert mapping == {"seven": 7}
        db.session.rollback()
