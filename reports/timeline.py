"""One person's training history, read in a fixed number of statements: the employee page's
timeline and the evidence pack's records.

Every kind of record is one statement for a whole set of people (the page asks for one person,
the evidence pack for a batch), so the number of statements never grows with the number of
attempts, lessons or people. Preview enrolments and preview learners are never part of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext
from sqlalchemy import and_, select

from assignments import status as status_rule
from assignments.models import Reminder
from assignments.rules import rules_of
from certificates.models import Certificate
from courses.models import Attestation, Completion, Course, CourseVersion, Enrolment, Lesson, LessonProgress
from courses.services import PREVIEW_ISSUER
from lti.models import GradeTarget, Platform, ResourceLink
from quizzes.models import AttemptGrant, QuizAttempt
from quizzes.published_banks import bank_for
from training_app.db import chunks, utcnow
from training_app.errors import NotFound
from training_app.extensions import db
from training_app.models import OutboxMessage, Tenant, User


@dataclass(frozen=True)
class Assignment:
    enrolment: Enrolment
    course: Course
    status: str  # assignments.status: the one rule, computed in SQL
    lessons_done: int

    @property
    def status_label(self) -> str:
        return status_rule.LABELS[self.status]


@dataclass(frozen=True)
class Launch:
    enrolment_id: int
    target_id: int  # lti grade target: where the course's grade goes back
    at: datetime
    lms: str
    context: str | None
    link: str | None
    lti_user_id: str


@dataclass(frozen=True)
class LessonDone:
    enrolment_id: int
    cycle: int
    slug: str
    title: str
    at: datetime


@dataclass(frozen=True)
class AnsweredOption:
    id: str
    text: str
    chosen: bool
    correct: bool


@dataclass(frozen=True)
class AnsweredQuestion:
    id: str
    prompt: str
    options: list[AnsweredOption]
    points: float | None


@dataclass(frozen=True)
class AttemptRecord:
    attempt: QuizAttempt
    version_number: int
    content_hash: str
    questions: list[AnsweredQuestion]


@dataclass(frozen=True)
class Delivery:
    """An outbox message about this person: its kind and what became of it."""

    id: int
    kind: str
    key: str
    status: str  # pending | delivered | dead
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    result: Completion | None = None  # the result it reports, for an LMS grade


@dataclass(frozen=True)
class ReminderRecord:
    reminder: Reminder
    delivery: Delivery | None


@dataclass
class PersonRecords:
    user: User
    assignments: list[Assignment] = field(default_factory=list)
    launches: list[Launch] = field(default_factory=list)
    lessons: list[LessonDone] = field(default_factory=list)
    attestations: list[Attestation] = field(default_factory=list)
    attempts: list[AttemptRecord] = field(default_factory=list)
    completions: list[Completion] = field(default_factory=list)
    certificates: list[Certificate] = field(default_factory=list)
    reminders: list[ReminderRecord] = field(default_factory=list)
    grants: list[AttemptGrant] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    def course_of(self, enrolment_id: int) -> Course | None:
        return next((a.course for a in self.assignments if a.enrolment.id == enrolment_id), None)


def people_in_tenant(tenant_id: int, user_ids: list[int]) -> list[User]:
    """The tenant's real people among `user_ids` (never a preview learner), by id."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.tenant_id == tenant_id, User.id.in_(user_ids), User.issuer != PREVIEW_ISSUER)
            .order_by(User.id)
        )
    )


def employee(tenant_id: int, user_id: int) -> User:
    found = people_in_tenant(tenant_id, [user_id])
    if not found:
        raise NotFound(gettext("There is no such learner in your organisation."))
    return found[0]


def records_of(
    tenant_id: int, people: list[User], *, now: datetime | None = None
) -> dict[int, PersonRecords]:
    """Everything recorded about `people` (one statement per kind of record), by user id."""
    records = {person.id: PersonRecords(person) for person in people}
    if not records:
        return records
    now = now or utcnow()
    for assignment in _assignments(tenant_id, list(records), now):
        records[assignment.enrolment.user_id].assignments.append(assignment)
    user_of = {a.enrolment.id: a.enrolment.user_id for r in records.values() for a in r.assignments}
    enrolment_ids = list(user_of)
    if enrolment_ids:
        _add_enrolment_records(records, user_of, enrolment_ids)
    for certificate in db.session.scalars(
        select(Certificate)
        .where(Certificate.tenant_id == tenant_id, Certificate.user_id.in_(list(records)))
        .order_by(Certificate.issued_at.desc(), Certificate.id.desc())
    ):
        records[certificate.user_id].certificates.append(certificate)
    _add_reminders(tenant_id, records)
    _add_result_deliveries(tenant_id, records)
    return records


def _assignments(tenant_id: int, user_ids: list[int], now: datetime) -> list[Assignment]:
    window = rules_of(db.session.get(Tenant, tenant_id)).expiring_soon_days
    rows = db.session.execute(
        select(
            Enrolment,
            Course,
            status_rule.status_column(now, window).label("status"),
            status_rule.lessons_done_column().label("lessons_done"),
        )
        .join(Course, Course.id == Enrolment.course_id)
        .where(
            Enrolment.tenant_id == tenant_id,
            Enrolment.user_id.in_(user_ids),
            Enrolment.source != "preview",
        )
        .order_by(Enrolment.user_id, Course.title, Enrolment.id)
    )
    return [Assignment(enrolment, course, status, done) for enrolment, course, status, done in rows]


def _add_enrolment_records(
    records: dict[int, PersonRecords], user_of: dict[int, int], enrolment_ids: list[int]
) -> None:
    def of(enrolment_id: int) -> PersonRecords:
        return records[user_of[enrolment_id]]

    for launch in _launches(enrolment_ids):
        of(launch.enrolment_id).launches.append(launch)
    for lesson in _lessons(enrolment_ids):
        of(lesson.enrolment_id).lessons.append(lesson)
    for attestation in db.session.scalars(
        select(Attestation)
        .where(Attestation.enrolment_id.in_(enrolment_ids))
        .order_by(Attestation.attested_at.desc(), Attestation.id.desc())
    ):
        of(attestation.enrolment_id).attestations.append(attestation)
    for attempt in _attempts(enrolment_ids):
        of(attempt.attempt.enrolment_id).attempts.append(attempt)
    for completion in db.session.scalars(
        select(Completion)
        .where(Completion.enrolment_id.in_(enrolment_ids))
        .order_by(Completion.completed_at.desc(), Completion.id.desc())
    ):
        of(completion.enrolment_id).completions.append(completion)
    for grant in db.session.scalars(
        select(AttemptGrant)
        .where(AttemptGrant.enrolment_id.in_(enrolment_ids))
        .order_by(AttemptGrant.granted_at.desc(), AttemptGrant.id.desc())
    ):
        of(grant.enrolment_id).grants.append(grant)


def _launches(enrolment_ids: list[int]) -> list[Launch]:
    """Where the person launched each course from (the latest launch per LMS link is recorded)."""
    rows = db.session.execute(
        select(
            GradeTarget.enrolment_id,
            GradeTarget.id,
            GradeTarget.last_launch_at,
            GradeTarget.lti_user_id,
            Platform.name,
            Platform.issuer,
            ResourceLink.context_title,
            ResourceLink.title,
        )
        .join(ResourceLink, ResourceLink.id == GradeTarget.resource_link_id)
        .join(Platform, Platform.id == ResourceLink.platform_id)
        .where(GradeTarget.enrolment_id.in_(enrolment_ids))
        .order_by(GradeTarget.last_launch_at.desc(), GradeTarget.id.desc())
    )
    return [
        Launch(enrolment_id, target_id, at, name or issuer, context, link, lti_user_id)
        for enrolment_id, target_id, at, lti_user_id, name, issuer, context, link in rows
    ]


def _lessons(enrolment_ids: list[int]) -> list[LessonDone]:
    rows = db.session.execute(
        select(LessonProgress, Lesson.titles)
        .outerjoin(
            Lesson,
            and_(
                Lesson.course_version_id == LessonProgress.course_version_id,
                Lesson.slug == LessonProgress.lesson_slug,
            ),
        )
        .where(LessonProgress.enrolment_id.in_(enrolment_ids))
        .order_by(LessonProgress.completed_at.desc(), LessonProgress.id.desc())
    )
    return [
        LessonDone(
            progress.enrolment_id,
            progress.cycle,
            progress.lesson_slug,
            _title(titles) or progress.lesson_slug,
            progress.completed_at,
        )
        for progress, titles in rows
    ]


def _title(titles: dict[str, Any] | None) -> str | None:
    if not titles:
        return None
    return titles.get("en") or next(iter(titles.values()))


def _attempts(enrolment_ids: list[int]) -> list[AttemptRecord]:
    """Attempts with their questions' texts: the banks come from the per-process cache (one read
    per course version the first time), never one statement per attempt."""
    rows = db.session.execute(
        select(QuizAttempt, CourseVersion.number, CourseVersion.content_hash)
        .join(CourseVersion, CourseVersion.id == QuizAttempt.course_version_id)
        .where(QuizAttempt.enrolment_id.in_(enrolment_ids))
        .order_by(QuizAttempt.started_at.desc(), QuizAttempt.id.desc())
    ).all()
    return [
        AttemptRecord(attempt, number, content_hash, _answered(attempt, content_hash))
        for attempt, number, content_hash in rows
    ]


def _answered(attempt: QuizAttempt, content_hash: str) -> list[AnsweredQuestion]:
    bank = bank_for(attempt.course_version_id, content_hash)
    answers, points = attempt.answers or {}, attempt.points or {}
    questions = []
    for drawn in attempt.questions:
        if not bank.has_question(drawn["id"]):
            continue
        question = bank.question(drawn["id"])
        texts = question.localized(attempt.locale)
        chosen = set(answers.get(question.id) or [])
        options = [
            AnsweredOption(
                option_id,
                texts.option_texts.get(option_id, option_id),
                option_id in chosen,
                option_id in question.correct_ids,
            )
            for option_id in drawn["options"]
        ]
        earned = points.get(question.id)
        score = float(earned) if earned is not None else None
        questions.append(AnsweredQuestion(question.id, texts.prompt, options, score))
    return questions


def _delivery(message: OutboxMessage, result: Completion | None = None) -> Delivery:
    return Delivery(
        message.id,
        message.kind,
        message.idempotency_key,
        message.status,
        message.attempts,
        message.created_at,
        message.delivered_at,
        message.last_error,
        result,
    )


def _add_reminders(tenant_id: int, records: dict[int, PersonRecords]) -> None:
    rows = db.session.execute(
        select(Reminder, OutboxMessage)
        .outerjoin(OutboxMessage, OutboxMessage.idempotency_key == Reminder.outbox_key)
        .where(Reminder.tenant_id == tenant_id, Reminder.user_id.in_(list(records)))
        .order_by(Reminder.created_at.desc(), Reminder.id.desc())
    )
    for reminder, message in rows:
        records[reminder.user_id].reminders.append(
            ReminderRecord(reminder, _delivery(message) if message is not None else None)
        )


def _result_delivery_keys(person: PersonRecords) -> dict[str, Completion]:
    """The outbox keys of the messages sent about the person's results.

    LMS grades: `ags:<completion id>:<grade target id>` (lti.ags), one per place the course was
    launched from. Other kinds that report results (webhooks, xAPI) add their key rule here.
    """
    return {
        f"ags:{completion.id}:{launch.target_id}": completion
        for completion in person.completions
        for launch in person.launches
        if launch.enrolment_id == completion.enrolment_id
    }


def _add_result_deliveries(tenant_id: int, records: dict[int, PersonRecords]) -> None:
    owner, result_of = {}, {}
    for person in records.values():
        keys = _result_delivery_keys(person)
        owner |= dict.fromkeys(keys, person)
        result_of |= keys
    for keys in chunks(list(owner)):
        for message in db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.idempotency_key.in_(keys))
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        ):
            delivery = _delivery(message, result_of[message.idempotency_key])
            owner[message.idempotency_key].deliveries.append(delivery)
