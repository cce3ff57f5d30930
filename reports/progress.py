"""Who is where in their training: the read model behind the HR console's learner pages."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from assignments import status as status_rule
from assignments.rules import rules_of
from courses.models import Attestation, Completion, Course, Enrolment
from quizzes.models import AttemptGrant, QuizAttempt
from training_app.db import utcnow
from training_app.errors import NotFound
from training_app.extensions import db
from training_app.models import Tenant, User
from training_app.tenancy import get_in_tenant

STATUSES = status_rule.STATUSES
STATUS_LABELS = status_rule.LABELS


PAGE_SIZE = 50


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

    @property
    def needs_attempt(self) -> bool:
        """Failed the current cycle's last attempt: HR may grant another."""
        latest = self.latest
        return latest is not None and latest.status == "failed" and latest.cycle == self.enrolment.cycle


@dataclass(frozen=True)
class EnrolmentPage:
    rows: list[EnrolmentRow]
    page: int
    total: int

    @property
    def has_more(self) -> bool:
        return self.page * PAGE_SIZE < self.total


def enrolment_page(
    tenant_id: int,
    *,
    department: str | None = None,
    status: str | None = None,
    course_slug: str | None = None,
    user_id: int | None = None,
    page: int = 1,
    page_size: int | None = PAGE_SIZE,
) -> EnrolmentPage:
    """One page of enrolments (all of them with `page_size=None`), by learner name and course.

    Every filter, the status included, runs in the database: no query sends a list of ids that
    grows with the organisation (psycopg refuses more than 65,535 parameters).
    """
    lessons_done = status_rule.lessons_done_column().label("lessons_done")
    tenant = db.session.get(Tenant, tenant_id)
    window = rules_of(tenant).expiring_soon_days
    status_column = status_rule.status_column(utcnow(), window).label("status")
    query = (
        select(Enrolment, User, Course, status_column, lessons_done)
        .join(User, User.id == Enrolment.user_id)
        .join(Course, Course.id == Enrolment.course_id)
        .where(Enrolment.tenant_id == tenant_id, Enrolment.source != "preview")
    )
    if department:
        query = query.where(User.department == department)
    if course_slug:
        query = query.where(Course.slug == course_slug)
    if user_id:
        query = query.where(User.id == user_id)
    if status:
        query = query.where(status_column == status)
    total = db.session.scalar(
        select(func.count()).select_from(query.with_only_columns(Enrolment.id).subquery())
    )
    query = query.order_by(User.name, Course.title, Enrolment.id)
    if page_size is not None:
        query = query.offset((page - 1) * page_size).limit(page_size)
    found = db.session.execute(query).all()
    latest = _latest_results([enrolment.id for enrolment, *_ in found])  # one page of ids at most
    rows = [
        EnrolmentRow(user, enrolment, course, row_status, done, latest.get(enrolment.id))
        for enrolment, user, course, row_status, done in found
    ]
    return EnrolmentPage(rows, page, total or 0)


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
    rows = enrolment_page(tenant_id, user_id=user_id, page_size=None).rows  # one person's few
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
