"""Read models of assignments for pages: a person's list, the reminders log. Statuses come from
assignments.status, the one rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from assignments.models import Reminder
from assignments.rules import rules_of
from assignments.status import LABELS, status_column
from courses.models import Course, Enrolment
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import OutboxMessage, Tenant, User

PAGE_SIZE = 50


@dataclass(frozen=True)
class AssignmentRow:
    enrolment_id: int
    course_slug: str
    course_title: str
    due_at: datetime | None
    status: str

    @property
    def status_label(self) -> str:
        return LABELS[self.status]


def assignments_of_person(tenant_id: int, user_id: int) -> list[AssignmentRow]:
    rules = rules_of(db.session.get(Tenant, tenant_id))
    status = status_column(utcnow(), rules.expiring_soon_days)
    rows = db.session.execute(
        select(Enrolment.id, Course.slug, Course.title, Enrolment.due_at, status)
        .join(Course, Course.id == Enrolment.course_id)
        .where(Enrolment.tenant_id == tenant_id, Enrolment.user_id == user_id)
        .order_by(Enrolment.due_at.is_(None), Enrolment.due_at, Course.title)
    ).all()
    return [AssignmentRow(*row) for row in rows]


@dataclass(frozen=True)
class ReminderRow:
    reminder: Reminder
    person: User
    delivery: str  # pending | delivered | dead
    delivered_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class ReminderPage:
    rows: list[ReminderRow]
    page: int
    total: int

    @property
    def has_more(self) -> bool:
        return self.page * PAGE_SIZE < self.total


def reminder_page(tenant_id: int, *, page: int, since: date | None = None) -> ReminderPage:
    query = (
        select(Reminder, User, OutboxMessage.status, OutboxMessage.delivered_at, OutboxMessage.last_error)
        .join(User, User.id == Reminder.user_id)
        .outerjoin(OutboxMessage, OutboxMessage.idempotency_key == Reminder.outbox_key)
        .where(Reminder.tenant_id == tenant_id)
    )
    if since:
        query = query.where(Reminder.sent_on >= since)
    total = (
        db.session.scalar(select(func.count()).select_from(Reminder).where(Reminder.tenant_id == tenant_id))
        or 0
    )
    found = db.session.execute(
        query.order_by(Reminder.sent_on.desc(), Reminder.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    return ReminderPage([ReminderRow(r, u, s or "pending", d, e) for r, u, s, d, e in found], page, total)


def departments(tenant_id: int) -> list[str]:
    """The departments of the tenant's current employees, for HR's choices."""
    return list(
        db.session.scalars(
            select(User.department)
            .where(User.tenant_id == tenant_id, User.department.is_not(None), User.employee_id.is_not(None))
            .where((User.end_date.is_(None)) | (User.end_date >= utcnow().date()))
            .distinct()
            .order_by(User.department)
        )
    )
