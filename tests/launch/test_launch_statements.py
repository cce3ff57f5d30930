"""What a launch asks of the database. A learner's first launch creates their row, enrolment and
grade target with one statement each, without savepoints, and a concurrent first launch of theirs
finds them created (see also test_multi_process for two processes racing); the overview every
launch lands on is one statement."""

import re
from datetime import date
from types import SimpleNamespace

from sqlalchemy import func, select

from courses import publishing
from courses import services as learning
from courses.models import Enrolment
from lti import claims, services
from lti.models import Platform, ResourceLink
from lti.services import launches
from tests import factories
from tests.launch.conftest import ORIENTATION, landed_on, learner, learner_claims
from tests.statements import of_request
from training_app.extensions import db
from training_app.models import User

WRITE = re.compile(r"(INSERT) INTO (\w+)|(UPDATE) (\w+)|(DELETE) FROM (\w+)")


def written_table(sql: str) -> str | None:
    """'VERB table' of a statement that writes ("DELETE lti_launch_state"), None for a read."""
    match = WRITE.match(sql)
    return " ".join(part for part in match.groups() if part) if match else None


def statements_of(executed_sql, request_line: str) -> list[str]:
    return [executed.sql for executed in of_request(executed_sql, request_line)]


def launch_statements(executed_sql) -> list[str]:
    return statements_of(executed_sql, "POST /lti/launch")


def inserts_into(statements: list[str], table: str) -> int:
    return sum(written_table(sql) == f"INSERT {table}" for sql in statements)


def test_a_first_launch_inserts_each_row_once_without_savepoints(driver, registered, executed_sql):
    result = driver.launch(learner_claims(registered))
    assert result.response.status == 200, result.response.text[:500]

    statements = launch_statements(executed_sql)
    assert not [sql for sql in statements if "SAVEPOINT" in sql.upper()]
    assert [inserts_into(statements, table) for table in ("users", "enrolments", "lti_grade_targets")] == [
        1,
        1,
        1,
    ]
    assert "UPDATE users" not in map(written_table, statements)  # just written as sent
    standing_reads = [sql for sql in statements if sql.startswith("SELECT") and "lti_grade_targets" in sql]
    assert len(standing_reads) == 1, statements  # the insert's id completes what the read found


def test_a_learner_a_concurrent_launch_inserted_meanwhile_is_read_not_duplicated(app, driver, registered):
    """This launch read no learner, but their other tab's launch inserted them before this INSERT ran."""
    ada_claims = learner_claims(registered)
    assert driver.launch(ada_claims).response.status == 200
    with app.app_context():
        platform = db.session.scalar(select(Platform))
        message = claims.LaunchClaims(ada_claims)
        key = services.standing_key(platform, message, ORIENTATION)
        read_before_the_other_tab_committed = SimpleNamespace(user_id=None)

        standing = launches._insert_learner(key, message, read_before_the_other_tab_committed)

        ada = db.session.scalar(select(User))
        assert db.session.scalar(select(func.count()).select_from(User)) == 1
        assert standing.user_id == ada.id
        assert standing.enrolment_id == db.session.scalar(select(Enrolment.id))


def test_a_repeat_launch_writes_only_its_login_state_and_locks_nothing(driver, registered, executed_sql):
    claims = learner_claims(registered)  # the same link and line item both times, as an LMS sends them
    assert driver.launch(claims).response.status == 200
    executed_sql.clear()
    assert driver.launch(claims).response.status == 200

    statements = launch_statements(executed_sql)
    writes = [write for write in map(written_table, statements) if write]
    assert writes == ["DELETE lti_launch_state"], statements  # its login, taken; the state table is unlogged
    assert not [sql for sql in statements if "FOR UPDATE" in sql]  # nothing waits on a row lock


def test_enrolling_in_a_version_twice_keeps_the_first_enrolment(app, published):
    with app.app_context():
        acme = factories.tenant("acme")
        ada = factories.learner(acme, hire_date=date(2026, 11, 2))
        course_id, version = publishing.published_course(ORIENTATION)

        first = learning.enrol_in_version(ada, course_id, version, source="lti")
        again = learning.enrol_in_version(ada, course_id, version, source="hr")

        assert again == first
        enrolment = db.session.get(Enrolment, first)
        assert (enrolment.source, enrolment.cycle, enrolment.due_at.date().isoformat()) == (
            "lti",
            1,
            "2026-12-02",
        )
        assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 1


def test_a_link_another_launch_created_meanwhile_is_used_not_duplicated(app, driver, registered):
    """Bob's launch read no link, but Ada's launch created it before Bob's INSERT ran."""
    assert driver.launch(learner_claims(registered)).response.status == 200
    with app.app_context():
        platform = db.session.scalar(select(Platform))
        bob = claims.LaunchClaims(learner_claims(registered, user=learner("u-bob", "Bob", "Builder")))
        read_before_ada_committed = SimpleNamespace(link_id=None)

        link_id = services.upsert_resource_link(platform, bob, ORIENTATION, read_before_ada_committed)

        assert db.session.scalars(select(ResourceLink.id)).all() == [link_id]


def test_the_overview_a_launch_lands_on_is_one_statement(driver, registered, executed_sql):
    """The learner's id comes from the signed session; their locale with the overview's read."""
    first = driver.launch(learner_claims(registered, locale="es-ES"))
    executed_sql.clear()

    page = driver.get(landed_on(first.text))  # a reload, once the page has taken its address

    assert page.status == 200 and "Orientación sobre la política de redes sociales" in page.text
    assert 'href="/console/' not in page.text  # no staff navigation for a learner
    statements = statements_of(executed_sql, f"GET /courses/{ORIENTATION}/")
    assert len([sql for sql in statements if sql.startswith("SELECT")]) == 1, statements
