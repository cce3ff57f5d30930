import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text

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


def _pass(person):
    """Lessons, attestation and a passing result, through the services (tests.journeys)."""
    from courses import publishing
    from courses import services as learning
    from tests.journeys import ready_for_quiz, record_pass

    enrolment = ready_for_quiz(person)
    _, version = publishing.course_by_slug(enrolment.course.slug)
    record_pass(enrolment, attestation_id=learning.current_attestation(enrolment, version).id)


def test_migration_0021_backfills_what_the_writes_keep(backend, tmp_path, request):
    """Enrolment expiries and started_at: migration 0021 computes, from the results and lesson
    progress, the same values the services keep on the row (so the status rule reads the same)."""
    from courses import publishing
    from courses import services as learning
    from courses.models import Enrolment
    from tests import factories

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'backfill.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        request.getfixturevalue("database_url")
    app = create_app(settings_for(url, tmp_path / "instance"))
    columns = ("started_at", "completed_at", "expires_at", "previous_expires_at")
    with app.app_context():
        if backend == "postgresql":
            downgrade(revision="base")
        upgrade()
        publishing.publish_all(material=True, actor="test")
        acme = factories.tenant("acme")
        renewed, passed, reading, waiting = (factories.learner(acme, f"P {n}", subject=n) for n in "ABCD")
        for person in (renewed, passed):
            _pass(person)
        again = db.session.scalar(select(Enrolment).where(Enrolment.user_id == renewed.id))
        learning.start_new_cycle(again, source="recertification", due_at=None, actor="test")
        opened = learning.enrol(reading, "social-media-orientation", source="hr")
        learning.open_lesson(opened, publishing.course_by_slug(opened.course.slug)[1].lessons[0].slug, None)
        learning.enrol(waiting, "social-media-orientation", source="hr")
        db.session.commit()
        kept = _rows(columns)
        assert sum(1 for row in kept.values() if row["previous_expires_at"]) == 1
        downgrade(revision="0020")
        db.session.execute(text("UPDATE enrolments SET started_at = NULL WHERE completed_at IS NOT NULL"))
        db.session.commit()
        upgrade()
        backfilled = _rows(columns)
        assert all(backfilled[id_]["started_at"] for id_, row in kept.items() if row["started_at"])
        for row in (*kept.values(), *backfilled.values()):
            row["started_at"] = bool(row["started_at"])  # from the first lesson done, not its opening
        assert backfilled == kept
        db.engine.dispose()


def _rows(columns):
    rows = db.session.execute(text(f"SELECT id, {', '.join(columns)} FROM enrolments")).mappings()
    found = {row["id"]: {name: row[name] for name in columns} for row in rows}
    db.session.rollback()  # SQLite: every transaction holds the write lock, and Alembic's is next
    return found
