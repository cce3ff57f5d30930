"""Quiz attempts: starting one (drawn once and stored), finding it again, its review, and the
extra attempt HR grants.

Services flush and never commit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext, ngettext
from sqlalchemy import select

from courses import services as learning
from courses.models import Enrolment
from quizzes.bank_loader import Bank, Question
from quizzes.draw import draw_questions
from quizzes.errors import QuizLocked
from quizzes.models import AttemptGrant, QuizAttempt
from quizzes.services.lifecycle import standing
from training_app import audit
from training_app.db import utcnow
from training_app.errors import N_, Conflict, NotFound, ValidationFailed
from training_app.extensions import db


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


def learner_attempt(user_id: int, attempt_id: int) -> QuizAttempt:
    attempt = db.session.scalar(
        select(QuizAttempt).where(QuizAttempt.id == attempt_id, QuizAttempt.user_id == user_id)
    )
    if attempt is None:
        raise NotFound(
            gettext("There is no such quiz attempt for you. Start the quiz from the course overview.")
        )
    return attempt


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


def grant_attempt(enrolment: Enrolment, staff_id: int, reason: str, ip_address: str | None) -> AttemptGrant:
    reason = " ".join(reason.split())
    if len(reason) < 3:
        raise ValidationFailed(
            gettext("Give a short reason for the extra attempt (it goes in the audit log)."),
            errors={"reason": gettext("required")},
        )
    _lock_enrolment(enrolment)
    current = standing(enrolment)
    if current.passed:
        raise Conflict(gettext("This learner already passed; no extra attempt is needed."))
    if current.remaining > 0:
        raise Conflict(
            ngettext(
                "This learner still has %(num)d attempt left.",
                "This learner still has %(num)d attempts left.",
                current.remaining,
            )
        )
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
