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

from flask_babel import gettext
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from courses.models import Enrolment
from people import hooks
from training_app import audit
from training_app.db import utcnow
from training_app.errors import Conflict, ValidationFailed
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


def changed_fields(
    user: User, record: EmployeeRecord, *, blanks_clear: bool = False
) -> dict[str, tuple[Any, Any]]:
    """What an upsert would change: field -> (now, then). Blank optional values keep what is known
    (an HR file that leaves a column empty does not erase it), except the end date, which HR may
    clear (a rehired leaver). `blanks_clear`: the record is the person's whole record, and a blank
    clears the value (SCIM replaces a User whole; removing a department clears it)."""
    changes = {}
    for name, value in record.values().items():
        current = getattr(user, name)
        if value in (None, "") and name != "end_date" and not blanks_clear:
            continue
        value = None if value == "" else value
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


def update_employee(
    user: User, record: EmployeeRecord, *, actor: str | None, blanks_clear: bool = False
) -> dict[str, tuple[Any, Any]]:
    """Apply HR's record to an existing person; what changed. `actor` as in add_employees;
    `blanks_clear` as in changed_fields."""
    changes = changed_fields(user, record, blanks_clear=blanks_clear)
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


@dataclass(frozen=True)
class SavedEmployee:
    user: User
    created: bool
    changes: dict[str, tuple[Any, Any]]


def save_employee(
    tenant_id: int,
    record: EmployeeRecord,
    *,
    actor: str,
    person: User | None = None,
    blanks_clear: bool = False,
) -> SavedEmployee:
    """One employee from HR's data (the REST API, SCIM), by the import's rules for one record:
    upsert by employee id within the tenant (or `person`, the one the caller addressed: their
    employee id cannot change here); an LMS learner with this email and no employee id yet
    becomes this employee; an email names one person (Conflict, 409); a manager must be an
    employee already (ValidationFailed, 422). Audited as `actor`; the assignment rules run for
    the person (people.hooks), as after an import. `blanks_clear`: a blank optional value clears
    it (changed_fields). Validate the record with people.importing.check_record first."""
    if person is not None and person.employee_id not in (None, record.employee_id):
        raise ValidationFailed(
            gettext("An employee id cannot change; create the employee with the new id instead."),
            errors={"employee_id": gettext("cannot change")},
        )
    user = person or _employee_with_id(tenant_id, record.employee_id)
    owner = _person_with_email(tenant_id, record.email)
    if owner is not None and owner is not user and owner.employee_id is not None:
        raise Conflict(
            gettext(
                "%(email)s belongs to another employee (%(id)s).", email=record.email, id=owner.employee_id
            ),
            errors={"email": gettext("belongs to another employee")},
        )
    if (
        record.manager_email
        and record.manager_email != record.email
        and not _is_employee_email(tenant_id, record.manager_email)
    ):
        raise ValidationFailed(
            gettext("%(email)s is not an employee (add the manager first).", email=record.manager_email),
            errors={"manager_email": gettext("not an employee")},
        )
    if user is None and owner is not None:
        user = owner  # an LMS learner not yet linked to HR's records
    try:
        if user is None:
            (user,) = add_employees(tenant_id, [record], actor=actor)
            saved = SavedEmployee(user, True, {})
        else:
            saved = SavedEmployee(
                user, False, update_employee(user, record, actor=actor, blanks_clear=blanks_clear)
            )
    except IntegrityError:  # the same employee id, created by a concurrent request
        raise Conflict(
            gettext("Employee %(id)s already exists.", id=record.employee_id),
            errors={"employee_id": gettext("already exists")},
        ) from None
    if saved.created or saved.changes:
        hooks.people_changed(tenant_id, [user.id])
    return saved


def _employee_with_id(tenant_id: int, employee_id: str) -> User | None:
    return db.session.scalar(select(User).where(User.tenant_id == tenant_id, User.employee_id == employee_id))


def _person_with_email(tenant_id: int, email: str) -> User | None:
    """The person with this email: the employee if one has it, else an LMS learner."""
    return db.session.scalars(
        select(User)
        .where(User.tenant_id == tenant_id, func.lower(User.email) == email.lower())
        .order_by(User.employee_id.is_(None), User.id)
        .limit(1)
    ).first()


def _is_employee_email(tenant_id: int, email: str) -> bool:
    return (
        db.session.scalar(
            select(User.id)
            .where(
                User.tenant_id == tenant_id,
                func.lower(User.email) == email.lower(),
                User.employee_id.is_not(None),
            )
            .limit(1)
        )
        is not None
    )


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
