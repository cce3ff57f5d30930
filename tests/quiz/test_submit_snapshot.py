"""The submit grades against the form's signed snapshot of the drawn questions, in one statement.

Without a valid snapshot for this learner's attempt, the attempt is read under lock and graded as
before; both paths give the same result, and neither reveals the answer key. On PostgreSQL a
failed attempt with attempts left commits its one statement alone (autocommit); anything that
may record a result, and the locked read, run inside the request's transaction.
"""

import re
from types import SimpleNamespace

import pytest
from itsdangerous import URLSafeSerializer

from courses import publishing
from courses.models import Completion
from quizzes import form_snapshot
from quizzes.models import QuizAttempt
from tests import factories
from tests.helpers import sign_in_learner, text_of
from tests.journeys import answer_key, start, submit
from tests.statements import of_request
from training_app.extensions import db
from training_app.models import Tenant

LOCKED_READ = re.compile(r"^SELECT .* FROM quiz_attempts")
GRADE = "UPDATE quiz_attempts SET status="
DRAWN_INPUT = re.compile(r'<input type="hidden" name="drawn" value="([^"]+)">')


def submit_executions(executed_sql, attempt_id: int):
    """The submit's statements, without SQLite's BEGIN IMMEDIATE (PostgreSQL's BEGIN is not one)."""
    ran = of_request(executed_sql, f"POST /quiz/attempts/{attempt_id}")
    return [executed for executed in ran if executed.sql != "BEGIN IMMEDIATE"]


def submit_statements(executed_sql, attempt_id: int) -> list[str]:
    return [executed.sql for executed in submit_executions(executed_sql, attempt_id)]


def attempt_row(app, attempt_id: int) -> QuizAttempt:
    with app.app_context():
        return db.session.get(QuizAttempt, attempt_id)


def snapshot_like(app, attempt_id: int, **changes) -> str:
    """A validly signed snapshot of this attempt with some fields changed."""
    with app.app_context():
        attempt = db.session.get(QuizAttempt, attempt_id)
        content_hash = publishing.version_by_id(attempt.course_version_id).content_hash
        fields = {
            name: getattr(attempt, name)
            for name in ("id", "user_id", "number", "course_version_id", "pass_mark", "questions")
        }
        return form_snapshot.sign(SimpleNamespace(**{**fields, **changes}), content_hash)


def test_a_failed_attempt_with_its_snapshot_is_graded_by_one_statement(app, client, learner, executed_sql):
    attempt_id = start(client)
    response = submit(client, attempt_id, answer_key(app, attempt_id, right=3))
    assert "You scored 30/100" in text_of(response)
    [statement] = submit_statements(executed_sql, attempt_id)
    assert statement.startswith(GRADE) and " FROM " not in statement  # no result: no context read
    row = attempt_row(app, attempt_id)
    assert row.status == "submitted" and row.score == 30 and row.passed is False


def test_a_passed_attempt_with_its_snapshot_reads_no_attempt_before_grading(
    app, client, learner, executed_sql, dialect
):
    attempt_id = start(client)
    response = submit(client, attempt_id, answer_key(app, attempt_id, right=9))
    assert "You passed with 90/100" in text_of(response)
    statements = submit_statements(executed_sql, attempt_id)
    assert statements[0].startswith(GRADE)
    assert not any(LOCKED_READ.match(sql) for sql in statements)
    if dialect == "postgresql":
        # the grade returns the result's context; the result's statement also marks the
        # enrolment; each hook runs its own statement; then the audit chain
        grade, result, *by_hooks, chain = statements
        assert " FROM course_versions, enrolments, courses WHERE " in grade
        assert result.startswith("WITH recorded AS (INSERT INTO completions ")
        assert "marked AS (UPDATE enrolments " in result
        # certificates and the LMS grade; one statement tells every sender (webhooks for the
        # completion and the certificate, the xAPI feed) that this tenant configured none
        assert sorted(_hook_kind(sql) for sql in by_hooks) == sorted(
            ["certificate", "grade targets", "senders"]
        ), by_hooks
        assert chain.startswith("WITH head AS (SELECT tenants.audit_seq")
    with app.app_context():
        [completion] = db.session.query(Completion).all()
        assert (completion.status, completion.score) == ("completed", 90)
        assert completion.source_ref == f"quiz_attempt:{attempt_id}"


@pytest.mark.parametrize("snapshot", ["none", "forged", "another_attempt", "another_learner", "wrong_shape"])
def test_without_a_valid_snapshot_the_attempt_is_read_under_lock_and_graded_the_same(
    app, client, learner, executed_sql, snapshot, dialect
):
    attempt_id = start(client)
    form = answer_key(app, attempt_id, right=9)
    if snapshot == "none":
        form.pop(form_snapshot.FIELD)
    elif snapshot == "forged":
        form[form_snapshot.FIELD] = form[form_snapshot.FIELD][:-3] + "AAA"
    elif snapshot == "another_attempt":
        form[form_snapshot.FIELD] = snapshot_like(app, attempt_id, id=attempt_id + 1)
    elif snapshot == "another_learner":
        form[form_snapshot.FIELD] = snapshot_like(app, attempt_id, user_id=learner + 1)
    else:
        with app.app_context():
            form[form_snapshot.FIELD] = URLSafeSerializer(app.secret_key, salt=form_snapshot._SALT).dumps(
                [attempt_id]
            )
    response = submit(client, attempt_id, form)
    assert "You passed with 90/100" in text_of(response)
    statements = submit_statements(executed_sql, attempt_id)
    assert LOCKED_READ.match(statements[0])
    if dialect == "postgresql":
        assert statements[0].endswith("FOR UPDATE OF quiz_attempts")
    assert statements[1].startswith(GRADE)
    assert attempt_row(app, attempt_id).score == 90


def test_a_snapshot_does_not_grade_another_learners_attempt(app, client, learner):
    attempt_id = start(client)
    form = answer_key(app, attempt_id, right=10)
    with app.app_context():
        other = factories.learner(db.session.get(Tenant, 1), "Bob Other", subject="bob")
        db.session.commit()
        other_id = other.id
    sign_in_learner(client, other_id)
    form[form_snapshot.FIELD] = snapshot_like(
        app, attempt_id, user_id=other_id
    )  # signed, but not Bob's attempt
    response = client.post_form(f"/quiz/attempts/{attempt_id}", form)
    assert response.status_code == 404
    row = attempt_row(app, attempt_id)
    assert row.status == "open" and row.score is None


def test_the_snapshot_in_the_page_holds_what_the_page_shows_and_no_answer_key(app, client, learner):
    attempt_id = start(client)
    page = client.get(f"/quiz/attempts/{attempt_id}").get_data(as_text=True)
    [token] = DRAWN_INPUT.findall(page)
    with app.test_request_context():
        snapshot = form_snapshot.read(token, attempt_id, learner)
        _, payload = URLSafeSerializer(app.secret_key, salt=form_snapshot._SALT).loads_unsafe(token)
    row = attempt_row(app, attempt_id)
    assert (
        snapshot is not None and snapshot.questions == row.questions and snapshot.pass_mark == row.pass_mark
    )
    assert {key for question in payload[-1] for key in question} == {"id", "options"}
    for question in row.questions:  # every id in it is already in the page's inputs
        assert f'name="q-{question["id"]}"' in page
    assert "correct" not in str(payload) and "explanation" not in str(payload)


def test_a_graded_attempt_page_carries_no_snapshot(app, client, learner):
    attempt_id = start(client)
    result = submit(client, attempt_id, answer_key(app, attempt_id, right=9))
    assert not DRAWN_INPUT.search(result.get_data(as_text=True))


# --- where the statements run (PostgreSQL: the submit runs without a transaction until it needs one)


@pytest.mark.postgresql_only
def test_a_failed_attempt_with_attempts_left_is_graded_by_one_statement_in_autocommit(
    app, client, learner, executed_sql
):
    attempt_id = start(client)
    submit(client, attempt_id, answer_key(app, attempt_id, right=2))
    [grade] = submit_executions(executed_sql, attempt_id)
    assert grade.sql.startswith(GRADE)
    assert grade.autocommit and not grade.in_transaction  # no BEGIN, no COMMIT: it commits alone
    assert attempt_row(app, attempt_id).score == 20


@pytest.mark.postgresql_only
def test_a_pass_and_a_last_fail_are_graded_in_the_transaction_that_records_the_result(
    app, client, learner, executed_sql
):
    for _ in range(2):
        submit(client, attempt_id := start(client), answer_key(app, attempt_id, right=2))
    last = start(client)
    submit(client, last, answer_key(app, last, right=2))
    ran = submit_executions(executed_sql, last)
    assert ran[0].sql.startswith(GRADE) and all(executed.in_transaction for executed in ran)
    with app.app_context():
        [failed] = db.session.query(Completion).all()
        assert (failed.status, failed.source_ref) == ("failed", f"quiz_attempt:{last}")


@pytest.mark.postgresql_only
def test_without_a_snapshot_the_attempt_is_locked_inside_a_transaction(app, client, learner, executed_sql):
    attempt_id = start(client)
    form = answer_key(app, attempt_id, right=2)
    form.pop(form_snapshot.FIELD)
    submit(client, attempt_id, form)
    locked_read, grade = submit_executions(executed_sql, attempt_id)
    assert locked_read.sql.endswith("FOR UPDATE OF quiz_attempts") and locked_read.in_transaction
    assert grade.sql.startswith(GRADE) and grade.in_transaction


def _hook_kind(sql: str) -> str:
    kinds = {
        "INSERT INTO certificates ": "certificate",
        "SELECT lti_grade_targets.id": "grade targets",
        "SELECT webhook_endpoints.id": "webhook endpoints",
    }
    for beginning, kind in kinds.items():
        if sql.startswith(beginning):
            return kind
    both = " FROM webhook_endpoints " in sql and " FROM lrs_connections " in sql
    return "senders" if both else sql[:80]
