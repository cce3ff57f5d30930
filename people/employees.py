"""Employees: the one set of rules for creating, changing and ending a person from HR's data,
shared by the CSV import (and, later, the REST API and SCIM).

An employee is a `users` row: imported ones start with issuer "hr" and their employee id as
subject, and keep their row when they first launch from an LMS (people.identities). An employee
id names one person in a tenant; so does an email. A leaver (end date reached) keeps their
records; their assignments end. Services flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, select, update

from courses.models import Enrolment
from training_app import audit
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import HR_ISSUER, User

# The columns HR owns, in the order of the CSV file.
EMPLOYEE_FIELDS = (
    "employee_id",
    "email",
    "name",
    "department",
    "manager_email",
    "hire_date",
    "locale",
    "end_date",
)


@dataclass(frozen=True)
class EmployeeRecord:
    employee_id: str
    email: str
    name: str
    department: str | None = None
    manager_email: str | None = None
    hire_date: date | None = None
    locale: str | None = None
    end_date: date | None = None

    def values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def existing_employees(tenant_id: int) -> list[User]:
    """Everyone in the tenant who has an employee id (or an email an import may match)."""
    return list(db.session.scalars(select(User).where(User.tenant_id == tenant_id)))


def changed_fields(user: User, record: EmployeeRecord) -> dict[str, tuple[Any, Any]]:
    """What an upsert would change: field -> (now, then). Blank optional values keep what is known
    (an HR file that leaves a column empty does not erase it), except the end date, which HR may
    clear (a rehired leaver)."""
    changes = {}
    for name, value in record.values().items():
        current = getattr(user, name)
        if value in (None, "") and name != "end_date":
            continue
        if current != value:
            changes[name] = (current, value)
    return changes


def add_employees(tenant_id: int, records: list[EmployeeRecord], *, actor: str | None) -> list[User]:
    """New employees, flushed together. `actor`: record an audit event per employee (an import
    records one event for the whole file instead)."""
    users = [
        User(tenant_id=tenant_id, issuer=HR_ISSUER, subject=record.employee_id, **record.values())
        for record in records
    ]
    db.session.add_all(users)
    db.session.flush()
    for user in users:
        if actor:
            audit.record_event(
                tenant_id,
                actor,
                "employee.created",
                subject=("user", user.id),
                data={"employee_id": user.employee_id, "email": user.email},
            )
    return users


def update_employee(user: User, record: EmployeeRecord, *, actor: str | None) -> dict[str, tuple[Any, Any]]:
    """Apply HR's record to an existing person; what changed. `actor` as in add_employees."""
    changes = changed_fields(user, record)
    if not changes:
        return changes
    for name, (_before, after) in changes.items():
        setattr(user, name, after)
    db.session.flush()
    if actor:
        audit.record_event(
            user.tenant_id,
            actor,
            "employee.changed",
            subject=("user", user.id),
            data={name: [_jsonable(before), _jsonable(after)] for name, (before, after) in changes.items()},
        )
    if "end_date" in changes:
        if user.end_date is None:
            reopen_assignments(user)
        else:
            end_assignments(user, user.end_date)
    return changes


def end_assignments(user: User, end_date: date) -> int:
    """A leaver's assignments stop at the end of their last day (kept, never deleted)."""
    ended_at = datetime.combine(end_date, time(23, 59, 59), tzinfo=UTC)
    result = db.session.execute(
        update(Enrolment)
        .where(Enrolment.user_id == user.id, Enrolment.ended_at.is_(None))
        .values(ended_at=ended_at)
    )
    return result.rowcount or 0


def reopen_assignments(user: User) -> int:
    result = db.session.execute(update(Enrolment).where(Enrolment.user_id == user.id).values(ended_at=None))
    return result.rowcount or 0


def is_leaver(user: User, today: date | None = None) -> bool:
    return user.end_date is not None and user.end_date < (today or utcnow().date())


def manager_emails(tenant_id: int) -> set[str]:
    """The emails named as somebody's manager by a current employee."""
    rows = db.session.scalars(
        select(func.lower(User.manager_email))
        .where(User.tenant_id == tenant_id, User.manager_email.is_not(None))
        .where((User.end_date.is_(None)) | (User.end_date >= utcnow().date()))
        .distinct()
    )
    return {email for email in rows if email}


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
