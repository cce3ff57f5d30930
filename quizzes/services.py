"""Quiz attempts: start, resume, submit once, grade on the server, complete the course.

Integrity rules (each enforced here, not in the browser):
- one open attempt per learner and course (also a partial unique index);
- submitting is idempotent: the grade is written only while the attempt is open (a conditional
  UPDATE, or the attempt's row read under lock), so a second submit sees it graded;
- the time limit is checked on the server: a submit after the deadline (plus a short grace for
  the network) closes the attempt without a score and counts it;
- the questions and option order are drawn once and stored, so a reload shows the same attempt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext, ngettext
from sqlalchemy import Row, bindparam, func, or_, select, update

from courses import services as learning
from courses.models import Course, CourseVersion, Enrolment
from courses.publishing import PublishedVersion, published_version, version_by_id
from quizzes.bank import Bank, Question
from quizzes.banks import bank_for, bank_for_version
from quizzes.draw import DrawnQuestion, draw_questions
from quizzes.drawn import DrawnSnapshot
from quizzes.grading import passed, score_checked
from quizzes.models import AttemptGrant, QuizAttempt
from quizzes.question_types import InvalidAnswer, check_answer
from training_app import audit
from training_app.db import utcnow
from training_app.errors import N_, Conflict, DomainError, NotFound, ValidationFailed
from training_app.extensions import db, run_core, run_write

GRACE = timedelta(seconds=30)
# What holds an attempt's drawn questions (`.questions`): the row, its locked read or the form's snapshot.
Drawn = QuizAttempt | Row | DrawnSnapshot


class QuizLocked(DomainError):
    status = 409
    code = "quiz_locked"
    title = N_("The quiz is not available right now")


# --- the learner's standing -------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    enrolment: Enrolment
    bank: Bank
    pass_mark: int
    attempts: list[QuizAttempt]  # this cycle, oldest first
    allowed: int
    open_attempt: QuizAttempt | None
    passed: bool
    next_allowed_at: datetime | None

    @property
    def used(self) -> int:
        return sum(1 for a in self.attempts if a.status != "open")

    @property
    def remaining(self) -> int:
        return max(self.allowed - self.used, 0)

    @property
    def locked_out(self) -> bool:
        return not self.passed and self.open_attempt is None and self.remaining == 0


def standing(enrolment: Enrolment) -> Standing:
    version, _ = learning.ready_for_quiz(enrolment)
    bank = bank_for_version(version)
    attempts = list(
        db.session.scalars(
            select(QuizAttempt)
            .where(QuizAttempt.enrolment_id == enrolment.id, QuizAttempt.cycle == enrolment.cycle)
            .order_by(QuizAttempt.number)
        )
    )
    open_attempt = next((a for a in attempts if a.status == "open"), None)
    if open_attempt is not None and _past_deadline(open_attempt, utcnow()):
        _close_expired(open_attempt, enrolment, bank)
        open_attempt = None
    grants = (
        db.session.scalar(
            select(func.count())
            .select_from(AttemptGrant)
            .where(AttemptGrant.enrolment_id == enrolment.id, AttemptGrant.cycle == enrolment.cycle)
        )
        or 0
    )
    last_closed = max((a.submitted_at for a in attempts if a.submitted_at), default=None)
    cooldown = timedelta(minutes=bank.cooldown_minutes)
    next_allowed = last_closed + cooldown if last_closed and cooldown else None
    return Standing(
        enrolment=enrolment,
        bank=bank,
        pass_mark=version.manifest["pass_mark"],
        attempts=attempts,
        allowed=bank.max_attempts + grants,
        open_attempt=open_attempt,
        passed=any(a.passed for a in attempts),
        next_allowed_at=next_allowed,
    )


# --- starting -------------------------------------------------------------------------------------


def start_attempt(
    enrolment: Enrolment, locale_preference: str | None, rng: random.Random | None = None
) -> QuizAttempt:
    """The open attempt, or a new one when the rules allow it."""
    _lock_enrolment(enrolment)
    current = standing(enrolment)
    if current.open_attempt is not None:
        return current.open_attempt
    if current.passed:
        raise Conflict(
            gettext("You already passed this quiz. Your result is on the course overview."),
            title=N_("Already passed"),
        )
    if current.remaining == 0:
        raise QuizLocked(
            gettext(
                "You have used all %(n)d attempts. Ask your HR team to grant you "
                "another attempt; they have been told you need one.",
                n=current.allowed,
            )
        )
    now = utcnow()
    if current.next_allowed_at and now < current.next_allowed_at:
        wait = int((current.next_allowed_at - now).total_seconds() // 60) + 1
        raise QuizLocked(
            ngettext(
                "Take a short break before the next attempt: you can start again in %(num)d "
                "minute(s), at %(time)s UTC.",
                "Take a short break before the next attempt: you can start again in %(num)d "
                "minute(s), at %(time)s UTC.",
                wait,
                time=current.next_allowed_at.strftime("%H:%M"),
            )
        )
    bank = current.bank
    version, attestation = learning.ready_for_quiz(enrolment)
    drawn = draw_questions(bank, rng or random.SystemRandom())
    attempt = QuizAttempt(
        tenant_id=enrolment.tenant_id,
        user_id=enrolment.user_id,
        enrolment_id=enrolment.id,
        cycle=enrolment.cycle,
        number=len(current.attempts) + 1,
        course_version_id=version.id,
        attestation_id=attestation.id,
        quiz_id=bank.id,
        locale=learning.content_locale(version, locale_preference),
        status="open",
        questions=[{"id": d.question_id, "options": list(d.option_order)} for d in drawn],
        pass_mark=current.pass_mark,
        started_at=now,
        deadline_at=now + timedelta(minutes=bank.time_limit_minutes) if bank.time_limit_minutes else None,
    )
    db.session.add(attempt)
    db.session.flush()
    return attempt


def _lock_enrolment(enrolment: Enrolment) -> None:
    """Serialise starts and submits per learner (PostgreSQL row lock; SQLite locks at BEGIN)."""
    db.session.execute(select(Enrolment.id).where(Enrolment.id == enrolment.id).with_for_update())


def close_if_expired(attempt: QuizAttempt) -> QuizAttempt:
    """An open attempt whose time ran out is closed (and counted) when the learner comes back."""
    if attempt.status == "open" and _past_deadline(attempt, utcnow()):
        standing(db.session.get(Enrolment, attempt.enrolment_id))  # closes it, concluding if needed
    return attempt


# --- submitting -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    attempt_id: int
    already_submitted: bool
    late: bool


@dataclass(frozen=True)
class GradedAttempt:
    """What concluding a graded attempt needs (the row itself is updated with one statement)."""

    id: int
    user_id: int
    enrolment_id: int
    # Read with the grade where one statement can (a pass on PostgreSQL: the result needs them);
    # None otherwise on the quick path, which reads them only if a result is recorded.
    cycle_ref: learning.CycleRef | None
    course_version_id: int
    content_hash: str
    published_at: datetime | None
    attestation_id: int | None
    number: int
    score: int
    passed: bool


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


def learner_attempt(user_id: int, attempt_id: int) -> QuizAttempt:
    attempt = db.session.scalar(
        select(QuizAttempt).where(QuizAttempt.id == attempt_id, QuizAttempt.user_id == user_id)
    )
    if attempt is None:
        raise NotFound(
            gettext("There is no such quiz attempt for you. Start the quiz from the course overview.")
        )
    return attempt


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
    if _past_deadline(row, now):
        attempt = db.session.get(QuizAttempt, attempt_id, populate_existing=True)  # already locked
        _close_expired(attempt, None, bank)
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
    _conclude(graded, None, bank)
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
    _conclude(graded, None, bank)
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


def _past_deadline(attempt: QuizAttempt, now: datetime) -> bool:
    return attempt.deadline_at is not None and now > attempt.deadline_at + GRACE


def _close_expired(attempt: QuizAttempt, enrolment: Enrolment | None, bank: Bank) -> None:
    attempt.status = "expired"
    attempt.submitted_at = utcnow()
    attempt.score = 0
    attempt.passed = False
    attempt.closed_reason = (
        f"The time limit of {bank.time_limit_minutes} minutes ended at "
        f"{attempt.deadline_at:%H:%M} UTC before the answers were submitted."
    )
    db.session.flush()
    _conclude(attempt, enrolment, bank)


def _conclude(attempt: QuizAttempt | GradedAttempt, enrolment: Enrolment | None, bank: Bank) -> None:
    """Passing completes the course; failing the last allowed attempt records a failed result.

    The enrolment is read only when a result may be recorded (most failed attempts record none).
    """
    if not may_record_result(bool(attempt.passed), attempt.number, bank):
        return  # attempts remain whatever HR granted: nothing to record yet
    if not attempt.passed:
        enrolment = enrolment or db.session.get(Enrolment, attempt.enrolment_id)
        if standing(enrolment).remaining > 0:
            return
    learning.record_result(
        (isinstance(attempt, GradedAttempt) and attempt.cycle_ref) or learning.cycle_of(attempt.enrolment_id),
        passed=bool(attempt.passed),
        score=attempt.score,
        source_ref=f"quiz_attempt:{attempt.id}",
        actor=f"learner:{attempt.user_id}",
        version=_version_of(attempt),
        attestation_id=attempt.attestation_id,
    )


def may_record_result(is_passed: bool, number: int, bank: Bank) -> bool:
    """Whether grading this attempt may record the cycle's result (then with the grade, in one
    transaction): a pass, or a fail from the quiz's last regular attempt on."""
    return is_passed or number >= bank.max_attempts


def _version_of(attempt: QuizAttempt | GradedAttempt) -> PublishedVersion | CourseVersion:
    """The version the attempt was drawn from; the process's snapshot when its content hash is known."""
    if isinstance(attempt, GradedAttempt) and attempt.published_at is not None:
        return published_version(attempt.course_version_id, attempt.content_hash, attempt.published_at)
    return version_by_id(attempt.course_version_id)


# --- review -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionView:
    number: int
    question: Question
    prompt: str
    scenario: str | None
    options: list[tuple[str, str]]  # (option id, text) in the drawn order
    multiple: bool
    selected: list[str]
    correct_ids: frozenset[str] | None  # only when the review may show them
    fraction: float | None
    explanation: str | None


def question_views(
    attempt: QuizAttempt, bank: Bank, *, reveal: bool, selected: dict[str, list[str]] | None = None
) -> list[QuestionView]:
    """What the page shows. The answer key and explanations only when `reveal` (after grading)."""
    views = []
    chosen = selected if selected is not None else (attempt.answers or {})
    for number, drawn in enumerate(attempt.questions, 1):
        question = bank.question(drawn["id"])
        text = question.localized(attempt.locale)
        views.append(
            QuestionView(
                number=number,
                question=question,
                prompt=text.prompt,
                scenario=text.scenario,
                options=[(option_id, text.option_texts[option_id]) for option_id in drawn["options"]],
                multiple=question.select == "multiple",
                selected=list(chosen.get(question.id, [])),
                correct_ids=question.correct_ids if reveal else None,
                fraction=(attempt.points or {}).get(question.id) if reveal else None,
                explanation=text.explanation if reveal else None,
            )
        )
    return views


def may_review(attempt: QuizAttempt, bank: Bank) -> bool:
    if attempt.status == "open":
        return False
    return bank.review == "after_each" or bool(attempt.passed)


# --- HR -----------------------------------------------------------------------------------------------


def grant_attempt(enrolment: Enrolment, staff_id: int, reason: str, ip_address: str | None) -> AttemptGrant:
    reason = " ".join(reason.split())
    if len(reason) < 3:
        raise ValidationFailed(
            "Give a short reason for the extra attempt (it goes in the audit log).",
            errors={"reason": "required"},
        )
    _lock_enrolment(enrolment)
    current = standing(enrolment)
    if current.passed:
        raise Conflict("This learner already passed; no extra attempt is needed.")
    if current.remaining > 0:
        raise Conflict(f"This learner still has {current.remaining} attempt(s) left.")
    grant = AttemptGrant(
        tenant_id=enrolment.tenant_id,
        enrolment_id=enrolment.id,
        cycle=enrolment.cycle,
        granted_by=staff_id,
        reason=reason[:500],
        granted_at=utcnow(),
    )
    db.session.add(grant)
    db.session.flush()
    audit.record_event(
        enrolment.tenant_id,
        f"staff:{staff_id}",
        "quiz.attempt_granted",
        subject=("enrolment", enrolment.id),
        data={
            "user_id": enrolment.user_id,
            "course": enrolment.course.slug,
            "cycle": enrolment.cycle,
            "reason": grant.reason,
        },
        ip_address=ip_address,
    )
    return grant
