"""Who is where in their training: the read model behind the HR console's learner pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from courses.models import Attestation, Completion, Course, Enrolment, LessonProgress
from quizzes.models import AttemptGrant, QuizAttempt
from training_app.db import utcnow
from training_app.errors import NotFound
from training_app.extensions import db
from training_app.models import User
from training_app.tenancy import get_in_tenant

STATUSES = ("not_started", "in_progress", "overdue", "failed", "completed")
STATUS_LABELS = {
    "not_started": "Not started",
    "in_progress": "In progress",
    "overdue": "Overdue",
    "failed": "Failed: needs another attempt",
    "completed": "Completed",
}


@dataclass(frozen=True)
class EnrolmentRow:
    user: User
    enrolment: Enrolment
    course: Course
    status: str
    lessons_done: int
    latest: Completion | None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


def status_of(enrolment: Enrolment, latest: Completion | None, lessons_done: int, now: datetime) -> str:
    if latest is not None and latest.cycle == enrolment.cycle:
        return "completed" if latest.status == "completed" else "failed"
    if enrolment.due_at is not None and enrolment.due_at < now:
        return "overdue"
    return "in_progress" if enrolment.started_at or lessons_done else "not_started"


def enrolment_rows(
    tenant_id: int,
    *,
    department: str | None = None,
    status: str | None = None,
    course_slug: str | None = None,
    user_id: int | None = None,
) -> list[EnrolmentRow]:
    query = (
        select(Enrolment, User, Course)
        .join(User, User.id == Enrolment.user_id)
        .join(Course, Course.id == Enrolment.course_id)
        .where(Enrolment.tenant_id == tenant_id, User.issuer != "preview")
        .order_by(User.name, Course.title)
    )
    if department:
        query = query.where(User.department == department)
    if course_slug:
        query = query.where(Course.slug == course_slug)
    if user_id:
        query = query.where(User.id == user_id)
    rows = db.session.execute(query).all()
    ids = [enrolment.id for enrolment, _, _ in rows]
    latest = _latest_results(ids)
    done = _lessons_done(ids)
    now = utcnow()
    result = [
        EnrolmentRow(
            user,
            enrolment,
            course,
            status_of(enrolment, latest.get(enrolment.id), done.get(enrolment.id, 0), now),
            done.get(enrolment.id, 0),
            latest.get(enrolment.id),
        )
        for enrolment, user, course in rows
    ]
    return [row for row in result if not status or row.status == status]


def _latest_results(enrolment_ids: list[int]) -> dict[int, Completion]:
    if not enrolment_ids:
        return {}
    newest = (
        select(Completion.enrolment_id, func.max(Completion.id).label("id"))
        .where(Completion.enrolment_id.in_(enrolment_ids))
        .group_by(Completion.enrolment_id)
        .subquery()
    )
    completions = db.session.scalars(select(Completion).join(newest, newest.c.id == Completion.id))
    return {completion.enrolment_id: completion for completion in completions}


def _lessons_done(enrolment_ids: list[int]) -> dict[int, int]:
    if not enrolment_ids:
        return {}
    rows = db.session.execute(
        select(LessonProgress.enrolment_id, func.count())
        .join(Enrolment, Enrolment.id == LessonProgress.enrolment_id)
        .where(LessonProgress.enrolment_id.in_(enrolment_ids), LessonProgress.cycle == Enrolment.cycle)
        .group_by(LessonProgress.enrolment_id)
    )
    return dict(rows.all())


def departments(tenant_id: int) -> list[str]:
    return list(
        db.session.scalars(
            select(User.department)
            .where(User.tenant_id == tenant_id, User.department.is_not(None))
            .distinct()
            .order_by(User.department)
        )
    )


@dataclass(frozen=True)
class LearnerRecord:
    user: User
    rows: list[EnrolmentRow]
    attempts: dict[int, list[QuizAttempt]]  # enrolment id -> attempts, newest first
    attestations: dict[int, list[Attestation]]
    completions: dict[int, list[Completion]]
    grants: dict[int, list[AttemptGrant]]


def learner_record(tenant_id: int, user_id: int) -> LearnerRecord:
    user = db.session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id:
        raise NotFound("There is no such learner in your organisation.")
    rows = enrolment_rows(tenant_id, user_id=user_id)
    ids = [row.enrolment.id for row in rows]
    return LearnerRecord(
        user=user,
        rows=rows,
        attempts=_grouped(QuizAttempt, ids, QuizAttempt.started_at),
        attestations=_grouped(Attestation, ids, Attestation.attested_at),
        completions=_grouped(Completion, ids, Completion.completed_at),
        grants=_grouped(AttemptGrant, ids, AttemptGrant.granted_at),
    )


def _grouped(model, enrolment_ids: list[int], newest_first_by) -> dict[int, list]:
    grouped: dict[int, list] = {enrolment_id: [] for enrolment_id in enrolment_ids}
    if enrolment_ids:
        for item in db.session.scalars(
            select(model).where(model.enrolment_id.in_(enrolment_ids)).order_by(newest_first_by.desc())
        ):
            grouped[item.enrolment_id].append(item)
    return grouped


def tenant_enrolment(tenant_id: int, enrolment_id: int) -> Enrolment:
    return get_in_tenant(
        Enrolment, enrolment_id, tenant_id, "There is no such enrolment in your organisation."
    )
