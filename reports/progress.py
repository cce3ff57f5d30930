"""Who is where in their training: the read model behind the HR console's learner pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from assignments import status as status_rule
from assignments.rules import rules_of
from courses.models import Completion, Course, Enrolment
from courses.services import PREVIEW_ISSUER
from reports import timeline
from training_app.db import utcnow
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
class EmployeePage:
    records: timeline.PersonRecords
    manager: User | None
    events: list[timeline.Event]  # newest first
    names: dict[str, str]  # actor ("staff:1") -> name
    needs_attempt: set[int]  # enrolment ids whose current cycle failed its last attempt
    now: datetime  # the moment statuses are computed for

    @property
    def user(self) -> User:
        return self.records.user


def learner_record(tenant_id: int, user_id: int) -> EmployeePage:
    """The employee page: who they are, their assignments with their status, and their timeline.
    Another tenant's person, or a preview learner, is not found."""
    person, now = timeline.employee(tenant_id, user_id), utcnow()
    records = timeline.records_of(tenant_id, [person], now=now)[person.id]
    manager = None
    if person.manager_email:
        manager = db.session.scalar(
            select(User)
            .where(User.tenant_id == tenant_id, User.email == person.manager_email)
            .where(User.issuer != PREVIEW_ISSUER)
            .order_by(User.id)
            .limit(1)
        )
    actors = {a.enrolment.waived_by for a in records.assignments if a.enrolment.waived_by}
    actors |= {f"staff:{grant.granted_by}" for grant in records.grants}
    actors |= {f"staff:{c.revoked_by}" for c in records.certificates if c.revoked_by}
    return EmployeePage(
        records,
        manager,
        timeline.events_of(records),
        timeline.actor_names(tenant_id, actors, {person.id: person.name}),
        _needing_attempt(records),
        now,
    )


def _needing_attempt(records: timeline.PersonRecords) -> set[int]:
    """Enrolments whose current cycle's newest result is a failure: HR may grant another attempt."""
    newest: dict[int, Completion] = {}
    for completion in records.completions:
        if completion.enrolment_id not in newest or completion.id > newest[completion.enrolment_id].id:
            newest[completion.enrolment_id] = completion
    return {
        a.enrolment.id
        for a in records.assignments
        if (latest := newest.get(a.enrolment.id)) is not None
        and latest.status == "failed"
        and latest.cycle == a.enrolment.cycle
    }


def tenant_enrolment(tenant_id: int, enrolment_id: int) -> Enrolment:
    return get_in_tenant(
        Enrolment, enrolment_id, tenant_id, "There is no such enrolment in your organisation."
    )
