"""Where a learner stands in a course's quiz, and how an attempt ends: closed when its time ran out, and
concluded (the cycle's result recorded) when it passes or uses the last allowed attempt.

Services flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from courses import services as learning
from courses.models import CourseVersion, Enrolment
from courses.publishing import PublishedVersion, published_version, version_by_id
from quizzes.bank_loader import Bank
from quizzes.models import AttemptGrant, QuizAttempt
from quizzes.published_banks import bank_for_version
from training_app.db import utcnow
from training_app.extensions import db

GRACE = timedelta(seconds=30)


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
            # the grade is written by a Core UPDATE: attempts this session holds must be re-read
            .execution_options(populate_existing=True)
        )
    )
    open_attempt = next((a for a in attempts if a.status == "open"), None)
    if open_attempt is not None and past_deadline(open_attempt, utcnow()):
        close_expired(open_attempt, enrolment, bank)
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


def close_if_expired(attempt: QuizAttempt) -> QuizAttempt:
    """An open attempt whose time ran out is closed (and counted) when the learner comes back."""
    if attempt.status == "open" and past_deadline(attempt, utcnow()):
        standing(db.session.get(Enrolment, attempt.enrolment_id))  # closes it, concluding if needed
    return attempt


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


def past_deadline(attempt: QuizAttempt, now: datetime) -> bool:
    return attempt.deadline_at is not None and now > attempt.deadline_at + GRACE


def close_expired(attempt: QuizAttempt, enrolment: Enrolment | None, bank: Bank) -> None:
    attempt.status = "expired"
    attempt.submitted_at = utcnow()
    attempt.score = 0
    attempt.passed = False
    attempt.closed_reason = (
        f"The time limit of {bank.time_limit_minutes} minutes ended at "
        f"{attempt.deadline_at:%H:%M} UTC before the answers were submitted."
    )
    db.session.flush()
    conclude(attempt, enrolment, bank)


def conclude(attempt: QuizAttempt | GradedAttempt, enrolment: Enrolment | None, bank: Bank) -> None:
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
        version=version_of(attempt),
        attestation_id=attempt.attestation_id,
    )


def may_record_result(is_passed: bool, number: int, bank: Bank) -> bool:
    """Whether grading this attempt may record the cycle's result (then with the grade, in one
    transaction): a pass, or a fail from the quiz's last regular attempt on."""
    return is_passed or number >= bank.max_attempts


def version_of(attempt: QuizAttempt | GradedAttempt) -> PublishedVersion | CourseVersion:
    """The version the attempt was drawn from; the process's snapshot when its content hash is known."""
    if isinstance(attempt, GradedAttempt) and attempt.published_at is not None:
        return published_version(attempt.course_version_id, attempt.content_hash, attempt.published_at)
    return version_by_id(attempt.course_version_id)
