"""INSERT ... ON CONFLICT DO NOTHING built once and compiled once: SQLAlchemy 2.0's PostgreSQL
INSERT declares no cache key (sqlalchemy/sqlalchemy#10445), so it was compiled at every run."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, UniqueConstraint, select
from sqlalchemy.dialects import postgresql, sqlite

from training_app.db import insert_unless_conflict
from training_app.extensions import db

metadata = MetaData()
pairs = Table(
    "pairs_under_test",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("a", String(10), nullable=False),
    Column("b", String(10), nullable=False),
    UniqueConstraint("a", "b"),
)


def test_the_statement_has_a_cache_key_that_names_its_conflict_target():
    on_both = insert_unless_conflict(pairs, "a", "b")
    assert on_both._generate_cache_key() is not None
    assert on_both._generate_cache_key() == insert_unless_conflict(pairs, "a", "b")._generate_cache_key()
    assert on_both._generate_cache_key() != insert_unless_conflict(pairs, "a")._generate_cache_key()
    returning = on_both.returning(pairs.c.id)._generate_cache_key()
    assert returning is not None and returning != on_both._generate_cache_key()


def test_it_compiles_to_on_conflict_do_nothing_on_both_databases():
    statement = insert_unless_conflict(pairs, "a", "b").returning(pairs.c.id)
    for dialect in (postgresql.dialect(), sqlite.dialect()):
        sql = " ".join(str(statement.compile(dialect=dialect, column_keys=["a", "b"])).split())
        assert sql.startswith("INSERT INTO pairs_under_test (a, b) VALUES (")
        assert ") ON CONFLICT (a, b) DO NOTHING RETURNING " in sql, sql


def test_it_is_compiled_once_and_inserts_each_pair_once(app):
    statement = insert_unless_conflict(pairs, "a", "b").returning(pairs.c.id)
    with app.app_context():
        connection = db.session.connection()
        metadata.create_all(connection)
        cache = connection.engine._compiled_cache
        cache.clear()
        first = connection.execute(statement, {"a": "x", "b": "y"}).scalar()
        compiled = len(cache)
        again = connection.execute(statement, {"a": "x", "b": "y"}).scalar()  # conflict: nothing
        other = connection.execute(statement, {"a": "x", "b": "z"}).scalar()
        assert compiled == 1 and len(cache) == 1, "run three times, compiled once and cached"
        assert first is not None and again is None and other not in (None, first)
        assert connection.execute(select(pairs.c.b).order_by(pairs.c.b)).scalars().all() == ["y", "z"]
        db.session.rollback()
