"""Submitting an attempt: graded once, on the server.

- submitting is idempotent: the grade is written only while the attempt is open (a conditional
  UPDATE, or the attempt's row read under lock), so a second submit sees it graded;
- the time limit is checked on the server: a submit after the deadline (plus a short grace for
  the network) closes the attempt without a score and counts it.

Services flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext, ngettext
from sqlalchemy import Row, bindparam, or_, select, update

from courses import services as learning
from courses.models import Course, CourseVersion, Enrolment
from quizzes.bank_loader import Bank
from quizzes.draw import DrawnQuestion
from quizzes.form_snapshot import DrawnSnapshot
from quizzes.grading import passed, score_checked
from quizzes.models import QuizAttempt
from quizzes.published_banks import bank_for
from quizzes.question_types import InvalidAnswer, check_answer
from quizzes.services.lifecycle import (
    GRACE,
    GradedAttempt,
    close_expired,
    conclude,
    may_record_result,
    past_deadline,
)
from training_app.db import utcnow
from training_app.errors import NotFound, ValidationFailed
from training_app.extensions import db, run_core, run_write

# What holds an attempt's drawn questions (`.questions`): the row, its locked read or the form's snapshot.
Drawn = QuizAttempt | Row | DrawnSnapshot


@dataclass(frozen=True)
class Submission:
    attempt_id: int
    already_submitted: bool
    late: bool


# The submit's statements, built once (building one costs more CPU than running it). The
# attempt is read under its row lock, only the columns grading needs.
_CONTEXT_COLUMNS = (
    CourseVersion.content_hash,
    CourseVersion.published_at,
    Enrolment.tenant_id,
    Enrolment.course_id,
    Course.slug,
    Course.title,
    Enrolment.cycle,
    Enrolment.source,
)


_ATTEMPT_IN_CONTEXT = (
    CourseVersion.id == QuizAttempt.course_version_id,
    Enrolment.id == QuizAttempt.enrolment_id,
    Course.id == Enrolment.course_id,
)


_LOCK_FOR_GRADING = (
    select(
        QuizAttempt.id,
        QuizAttempt.user_id,
        QuizAttempt.enrolment_id,
        QuizAttempt.course_version_id,
        QuizAttempt.attestation_id,
        QuizAttempt.number,
        QuizAttempt.status,
        QuizAttempt.questions,
        QuizAttempt.pass_mark,
        QuizAttempt.deadline_at,
        *_CONTEXT_COLUMNS,
    )
    .where(*_ATTEMPT_IN_CONTEXT)
    .where(QuizAttempt.id == bindparam("attempt_id"), QuizAttempt.user_id == bindparam("user_id"))
    .with_for_update(of=QuizAttempt)
)


_attempts = QuizAttempt.__table__
_GRADE = {
    "status": "submitted",
    "answers": bindparam("new_answers"),
    "points": bindparam("new_points"),
    "score": bindparam("new_score"),
    "passed": bindparam("new_passed"),
    "submitted_at": bindparam("new_submitted_at"),
}


_RECORD_GRADE = update(_attempts).where(_attempts.c.id == bindparam("attempt_id")).values(_GRADE)


# The quick path's only statement for a failed attempt: the grade is written only while the attempt
# is this learner's, open and in time (the row lock then serialises two tabs: the second finds it
# graded). For a pass, PostgreSQL returns the result's context with it (UPDATE ... FROM); SQLite's
# RETURNING may not name other tables, and a fail needs the context only after the last attempt.
_GRADE_IF_OPEN = (
    update(_attempts)
    .where(
        _attempts.c.id == bindparam("attempt_id"),
        _attempts.c.user_id == bindparam("learner_id"),
        _attempts.c.course_version_id == bindparam("drawn_version_id"),
        _attempts.c.number == bindparam("drawn_number"),
        _attempts.c.status == "open",
        or_(_attempts.c.deadline_at.is_(None), _attempts.c.deadline_at >= bindparam("in_time_since")),
    )
    .values(_GRADE)
)


_ATTEMPT_RETURNED = (_attempts.c.enrolment_id, _attempts.c.attestation_id, _attempts.c.number)
_GRADE_IF_OPEN_IN_CONTEXT = _GRADE_IF_OPEN.where(*_ATTEMPT_IN_CONTEXT).returning(
    *_ATTEMPT_RETURNED, *_CONTEXT_COLUMNS
)


_GRADE_IF_OPEN_ALONE = _GRADE_IF_OPEN.returning(*_ATTEMPT_RETURNED)


def submit(
    user_id: int,
    attempt_id: int,
    raw_answers: dict[str, list[str]],
    snapshot: DrawnSnapshot | None = None,
) -> Submission:
    """Grade the attempt once. A repeated submit returns the graded attempt unchanged.

    With the form's signed snapshot of the drawn questions, an open attempt is graded and
    updated in one statement; otherwise, and whenever that statement finds the attempt not open
    or late, the attempt is read under lock and the rules below decide.
    """
    if snapshot is not None and _graded_as_drawn(snapshot, raw_answers):
        return Submission(attempt_id, already_submitted=False, late=False)
    # in the request's transaction: the row lock must hold until the grade commits
    row = run_write(_LOCK_FOR_GRADING, {"attempt_id": attempt_id, "user_id": user_id}).one_or_none()
    if row is None:
        raise NotFound(
            gettext("There is no such quiz attempt for you. Start the quiz from the course overview.")
        )
    if row.status != "open":
        return Submission(attempt_id, already_submitted=True, late=row.status == "expired")
    bank = bank_for(row.course_version_id, row.content_hash)
    now = utcnow()
    if past_deadline(row, now):
        attempt = db.session.get(QuizAttempt, attempt_id, populate_existing=True)  # already locked
        close_expired(attempt, None, bank)
        return Submission(attempt_id, already_submitted=False, late=True)
    answers = validate_answers(bank, row, raw_answers)
    score, fractions = score_checked(bank, drawn_of(row), answers)
    is_passed = passed(score, row.pass_mark)
    run_core(
        _RECORD_GRADE, {"attempt_id": attempt_id, **_grade_params(answers, fractions, score, is_passed, now)}
    )
    graded = GradedAttempt(
        row.id,
        row.user_id,
        row.enrolment_id,
        _cycle_ref(row, row.user_id),
        row.course_version_id,
        row.content_hash,
        row.published_at,
        row.attestation_id,
        row.number,
        score,
        is_passed,
    )
    conclude(graded, None, bank)
    return Submission(attempt_id, already_submitted=False, late=False)


def _graded_as_drawn(snapshot: DrawnSnapshot, raw_answers: dict[str, list[str]]) -> bool:
    """Grade against the signed snapshot and write the grade if the attempt is still open and in
    time. False when the locked path must answer: invalid answers (the attempt may be graded
    already, which that path says first), or an attempt not open, late or not this learner's."""
    bank = bank_for(snapshot.course_version_id, snapshot.content_hash)
    try:
        answers = validate_answers(bank, snapshot, raw_answers)
    except ValidationFailed:
        return False
    score, fractions = score_checked(bank, drawn_of(snapshot), answers)
    is_passed = passed(score, snapshot.pass_mark)
    now = utcnow()
    # A grade that may record the result commits with it; any other is one statement on its own.
    write = run_write if may_record_result(is_passed, snapshot.number, bank) else run_core
    in_context = is_passed and db.session.connection().dialect.name == "postgresql"
    statement = _GRADE_IF_OPEN_IN_CONTEXT if in_context else _GRADE_IF_OPEN_ALONE
    params = {
        "attempt_id": snapshot.attempt_id,
        "learner_id": snapshot.user_id,
        "drawn_number": snapshot.number,
        "drawn_version_id": snapshot.course_version_id,
        "in_time_since": now - GRACE,
        **_grade_params(answers, fractions, score, is_passed, now),
    }
    row = write(statement, params).one_or_none()
    if row is None:
        return False
    graded = GradedAttempt(
        snapshot.attempt_id,
        snapshot.user_id,
        row.enrolment_id,
        _cycle_ref(row, snapshot.user_id) if in_context else None,
        snapshot.course_version_id,
        snapshot.content_hash,
        row.published_at if in_context else None,
        row.attestation_id,
        row.number,
        score,
        is_passed,
    )
    conclude(graded, None, bank)
    return True


def _grade_params(
    answers: dict[str, list[str]], fractions: dict[str, float], score: int, is_passed: bool, now: datetime
) -> dict[str, Any]:
    return {
        "new_answers": answers,
        "new_points": fractions,
        "new_score": score,
        "new_passed": is_passed,
        "new_submitted_at": now,
    }


def _cycle_ref(row: Row, user_id: int) -> learning.CycleRef:
    return learning.CycleRef(
        row.enrolment_id, row.tenant_id, user_id, row.course_id, row.slug, row.title, row.cycle, row.source
    )


def validate_answers(bank: Bank, attempt: Drawn, raw: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every drawn question answered with its own options; anything else is refused (422)."""
    drawn_ids = [q["id"] for q in attempt.questions]
    unknown = sorted(set(raw) - set(drawn_ids))
    if unknown:
        raise ValidationFailed(
            gettext(
                "Question %(question)s is not part of this attempt. Reload the quiz page.",
                question=repr(unknown[0]),
            ),
            errors={unknown[0]: gettext("not part of this attempt")},
        )
    errors = {}
    for position, question_id in enumerate(drawn_ids, 1):
        try:
            check_answer(bank.question(question_id), raw.get(question_id) or [], number=position)
        except InvalidAnswer as exc:
            errors[question_id] = exc.message
    if errors:
        missing = sum(1 for q in drawn_ids if not raw.get(q))
        summary = (
            ngettext(
                "Answer every question before you submit: %(num)d still without an answer.",
                "Answer every question before you submit: %(num)d still without an answer.",
                missing,
            )
            if missing
            else gettext("Some answers are not valid for their question. Reload the quiz page.")
        )
        raise ValidationFailed(summary, errors=errors)
    return {q: sorted(set(raw[q])) for q in drawn_ids}


def drawn_of(attempt: Drawn) -> list[DrawnQuestion]:
    return [DrawnQuestion(q["id"], tuple(q["options"])) for q in attempt.questions]
