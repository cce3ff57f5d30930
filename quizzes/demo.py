"""Demo data for quizzes: passed, failed-and-locked and in-progress learners, and older results."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select

from courses import publishing
from courses import services as learning
from courses.models import Attestation, Completion, Enrolment, LessonProgress
from quizzes import services
from quizzes.models import QuizAttempt
from quizzes.published_banks import bank_for_version
from training_app.demo import DemoContext
from training_app.extensions import db
from training_app.models import User

# acme learner index -> (course, quiz outcomes as numbers of right answers, days ago it happened)
STORIES = {
    2: ("social-media-orientation", [6, 9], 3),  # failed once, then passed
    10: ("social-media-orientation", [5, 6, 7], 1),  # out of attempts: HR can grant another
    1: ("social-media-refresher", [8], 340),  # passed last year: expires in under a month
    5: ("social-media-refresher", [5, 8], 200),
    9: ("social-media-refresher", [8], 370),  # expired: needs the refresher again
    3: ("leaders-on-social-media", [5], 30),
}


def take_quizzes(context: DemoContext) -> None:
    learners = context.learners.get("acme", [])
    rng = random.Random(2026)
    told = 0
    for index, (course_slug, outcomes, days_ago) in STORIES.items():
        if index < len(learners) and _play(learners[index], course_slug, outcomes, days_ago, rng):
            told += 1
    if told:
        context.lines.append(f"Quiz histories added for {told} demo learners.")


def _play(user: User, course_slug: str, outcomes: list[int], days_ago: int, rng: random.Random) -> bool:
    enrolment = learning.enrol(user, course_slug, source="demo")
    if db.session.scalar(select(QuizAttempt.id).where(QuizAttempt.enrolment_id == enrolment.id).limit(1)):
        return False  # already played on an earlier `demo load`
    version = ready_for_quiz(enrolment, user, ip_address="192.0.2.10", user_agent="Demo data")
    bank = bank_for_version(version)
    for right in outcomes:
        attempt = services.start_attempt(enrolment, user.locale, rng)
        services.submit(user.id, attempt.id, scripted_answers(bank, attempt, right))
    _backdate(enrolment, days=days_ago)
    return True


def ready_for_quiz(enrolment: Enrolment, user: User, *, ip_address: str, user_agent: str):
    """Every lesson done and the policy attested (unless it already is), as the learner would."""
    _, version = publishing.course_by_slug(enrolment.course.slug)
    for lesson in version.lessons:
        learning.complete_lesson(enrolment, lesson.slug)
    if learning.current_attestation(enrolment, version) is None:
        learning.attest(
            enrolment,
            user,
            confirmed=True,
            typed_name=user.name,
            locale_preference=user.locale,
            ip_address=ip_address,
            user_agent=user_agent,
        )
    return version


def scripted_answers(bank, attempt: QuizAttempt, right: int) -> dict[str, list[str]]:
    """The first `right` drawn questions answered correctly, the others wrongly (demo data, tests)."""
    return answers_to(bank, attempt.questions, right)


def answers_to(bank, drawn_questions: list[dict], right: int) -> dict[str, list[str]]:
    """`scripted_answers` for a draw as stored on an attempt ([{"id": ..., "options": [...]}])."""
    answers = {}
    for index, drawn in enumerate(drawn_questions):
        question = bank.question(drawn["id"])
        wrong = [option for option in question.option_ids if option not in question.correct_ids][:1]
        answers[question.id] = sorted(question.correct_ids) if index < right else wrong
    return answers


def _backdate(enrolment: Enrolment, days: int) -> None:
    """Move the story into the past, keeping every duration (validity, attempt times) intact. The
    assignment moves too only when the story would otherwise start before it (a new hire's
    orientation stays assigned on their first day)."""
    shift = timedelta(days=days)
    if enrolment.started_at and enrolment.started_at - shift < enrolment.enrolled_at:
        _move_the_assignment(enrolment, shift)
    if enrolment.started_at:
        enrolment.started_at -= shift
    if enrolment.completed_at:
        enrolment.completed_at -= shift
    if enrolment.expires_at:
        enrolment.expires_at -= shift
    if enrolment.previous_expires_at:
        enrolment.previous_expires_at -= shift
    for completion in db.session.scalars(select(Completion).where(Completion.enrolment_id == enrolment.id)):
        completion.completed_at -= shift
        if completion.expires_at:
            completion.expires_at -= shift
    for attempt in db.session.scalars(select(QuizAttempt).where(QuizAttempt.enrolment_id == enrolment.id)):
        attempt.started_at -= shift
        attempt.submitted_at = attempt.submitted_at - shift if attempt.submitted_at else None
        attempt.deadline_at = attempt.deadline_at - shift if attempt.deadline_at else None
    for progress in db.session.scalars(
        select(LessonProgress).where(LessonProgress.enrolment_id == enrolment.id)
    ):
        progress.completed_at -= shift
    for attestation in db.session.scalars(
        select(Attestation).where(Attestation.enrolment_id == enrolment.id)
    ):
        attestation.attested_at -= shift
    db.session.flush()


def _move_the_assignment(enrolment: Enrolment, shift: timedelta) -> None:
    enrolment.enrolled_at -= shift
    if enrolment.assigned_at:
        enrolment.assigned_at -= shift
    if enrolment.due_at:
        enrolment.due_at -= shift
