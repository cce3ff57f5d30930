"""Assigning courses (by rule, by HR, for recertification, after a policy change) and waiving them.

An assignment is the person's enrolment in the course (courses.models.Enrolment): its current
cycle must be completed by `due_at`. `cycle_key` names what opened the cycle, so assigning for the
same reason twice does nothing: the scheduler may run as often as it likes. Services flush and
never commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_babel import gettext
from sqlalchemy import Select, func, select

from assignments import hooks
from assignments.rules import Rules, rules_of
from courses import services as learning
from courses.models import Course, Enrolment
from courses.publishing import published_course
from training_app import audit
from training_app.db import chunks, utcnow
from training_app.errors import Conflict, NotFound, ValidationFailed
from training_app.extensions import db
from training_app.models import Tenant, User
from training_app.tenancy import get_in_tenant


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


LOOK_IT_UP: Any = object()  # assign_course's `enrolment` when the caller did not read it


def assign_course(
    person: User,
    course_slug: str,
    *,
    due_at: datetime | None,
    source: str,
    cycle_key: str,
    actor: str,
    enrolment: Enrolment | None = LOOK_IT_UP,
) -> Enrolment | None:
    """Assign the course to the person for this reason (`cycle_key`); None when already done.

    A person not enrolled is enrolled; one whose current cycle is completed starts a new cycle;
    one still working on the course keeps it, with the due date HR gives (or the earlier one when
    a rule assigns it again). `enrolment`: the person's enrolment in the course as the caller read
    it (None: not enrolled), so that a rule over many people reads them all in one query.
    """
    if enrolment is LOOK_IT_UP:
        enrolment = enrolments_in(course_slug, [person.id]).get(person.id)
    if enrolment is None:
        enrolment = learning.enrol(person, course_slug, source=source, due_at=due_at, cycle_key=cycle_key)
        enrolment.due_at = due_at  # no default from the course: the rule or HR decided
        _record_assigned(enrolment, actor)
        return enrolment
    if enrolment.cycle_key == cycle_key or enrolment.ended_at is not None:
        return None
    if enrolment.completed_at is not None:
        return learning.start_new_cycle(
            enrolment, source=source, due_at=due_at, actor=actor, cycle_key=cycle_key
        )
    if source == "hr" or enrolment.due_at is None or (due_at is not None and due_at < enrolment.due_at):
        enrolment.due_at = due_at
    enrolment.cycle_key = cycle_key
    _record_assigned(enrolment, actor)
    return enrolment


def enrolments_in(course_slug: str, user_ids: list[int]) -> dict[int, Enrolment]:
    """The enrolments of these people in the course, by person (read in chunks)."""
    course_id, _version = published_course(course_slug)
    found: dict[int, Enrolment] = {}
    for some in chunks(user_ids):
        query = select(Enrolment).where(Enrolment.course_id == course_id, Enrolment.user_id.in_(some))
        found.update((enrolment.user_id, enrolment) for enrolment in db.session.scalars(query))
    return found


def assign_to_each(
    people: list[User],
    course_slug: str,
    *,
    due: Callable[[User], datetime | None],
    source: str,
    cycle_key: str,
    actor: str,
) -> int:
    """assign_course for many people, their enrolments read together; how many were assigned."""
    known = enrolments_in(course_slug, [person.id for person in people])
    assigned = 0
    for person in people:
        enrolment = known.get(person.id)
        if enrolment is not None and (enrolment.cycle_key == cycle_key or enrolment.ended_at is not None):
            continue  # already assigned for this reason: nothing to write
        done = assign_course(
            person,
            course_slug,
            due_at=due(person),
            source=source,
            cycle_key=cycle_key,
            actor=actor,
            enrolment=enrolment,
        )
        assigned += done is not None
    return assigned


def _record_assigned(enrolment: Enrolment, actor: str) -> None:
    db.session.flush()
    audit.record_event(
        enrolment.tenant_id,
        actor,
        "assignment.assigned",
        subject=("enrolment", enrolment.id),
        data={
            "user_id": enrolment.user_id,
            "course_id": enrolment.course_id,
            "cycle": enrolment.cycle,
            "source": enrolment.source,
            "cycle_key": enrolment.cycle_key,
            "due_at": enrolment.due_at.isoformat() if enrolment.due_at else None,
        },
    )


@dataclass(frozen=True)
class HrAssignment:
    course_slug: str
    due_on: date
    department: str | None = None
    employee_ids: tuple[str, ...] = ()
    everyone: bool = False


def assign_by_hr(tenant: Tenant, request: HrAssignment, *, actor: str) -> int:
    """HR assigns a course to a department, a list of employees or everyone, by a date; how many
    people it was assigned to (again: a second identical request assigns nobody)."""
    choices = sum([bool(request.department), bool(request.employee_ids), request.everyone])
    if choices != 1:
        raise ValidationFailed(
            gettext("Choose who: a department, a list of employee ids, or everyone (one of them)."),
            errors={"who": gettext("choose one")},
        )
    if request.due_on < utcnow().date():
        raise ValidationFailed(
            gettext("The due date is in the past."), errors={"due_on": gettext("in the past")}
        )
    published_course(request.course_slug)  # NotFound for an unknown course
    due = end_of_day(request.due_on)
    return assign_to_each(
        _people_for(tenant.id, request),
        request.course_slug,
        due=lambda _person: due,
        source="hr",
        cycle_key=f"hr:{request.due_on.isoformat()}",
        actor=actor,
    )


def _people_for(tenant_id: int, request: HrAssignment) -> list[User]:
    active = (
        select(User)
        .where(User.tenant_id == tenant_id, User.issuer != "preview")
        .where((User.end_date.is_(None)) | (User.end_date >= utcnow().date()))
    )
    if request.department:
        members = list(db.session.scalars(active.where(User.department == request.department)))
        if not members:
            raise ValidationFailed(
                gettext("No current employee is in the department %(name)s.", name=request.department),
                errors={"department": gettext("nobody there")},
            )
        return members
    if request.employee_ids:
        found: list[User] = []
        for some in chunks(list(request.employee_ids)):
            found += db.session.scalars(active.where(User.employee_id.in_(some)))
        unknown = sorted(set(request.employee_ids) - {person.employee_id for person in found})
        if unknown:
            raise ValidationFailed(
                gettext("These employee ids are not current employees: %(ids)s", ids=", ".join(unknown[:20])),
                errors={"employee_ids": unknown[:100]},
            )
        return found
    return list(db.session.scalars(active.where(User.employee_id.is_not(None))))


def waive(tenant_id: int, enrolment_id: int, *, reason: str, actor: str) -> Enrolment:
    """HR waives the current cycle of an assignment, with a reason (kept; shown as waived)."""
    reason = " ".join((reason or "").split())
    if len(reason) < 3:
        raise ValidationFailed(
            gettext("Give the reason for the waiver (it goes in the audit log)."),
            errors={"reason": gettext("required")},
        )
    enrolment = get_in_tenant(Enrolment, enrolment_id, tenant_id, gettext("There is no such assignment."))
    if enrolment.waived_at is not None:
        raise Conflict(gettext("This assignment is already waived."))
    enrolment.waived_at, enrolment.waived_by, enrolment.waiver_reason = utcnow(), actor, reason[:1000]
    db.session.flush()
    audit.record_event(
        tenant_id,
        actor,
        "assignment.waived",
        subject=("enrolment", enrolment.id),
        data={
            "user_id": enrolment.user_id,
            "course_id": enrolment.course_id,
            "cycle": enrolment.cycle,
            "reason": enrolment.waiver_reason,
        },
    )
    hooks.waived(enrolment)
    return enrolment


# --- rules ------------------------------------------------------------------------------------------


def apply_rules_to(tenant_id: int, user_ids: Iterable[int]) -> None:
    """The hire and leaders rules for these people (people.hooks: after an import)."""
    tenant = db.session.get(Tenant, tenant_id)
    rules = rules_of(tenant)
    people = [
        person
        for some in chunks(list(user_ids))
        for person in db.session.scalars(select(User).where(User.id.in_(some)))
    ]
    assign_by_hire_date(people, rules, actor="rules")
    assign_leaders(tenant_id, rules, actor="rules")


def assign_by_hire_date(people: Iterable[User], rules: Rules, *, actor: str) -> int:
    """Orientation for every current employee with a hire date, due N days after it; for people
    whose hire date plus N days has passed (hired before the organisation started the training),
    N days after today: never overdue on the day it is assigned."""
    if not _published(rules.orientation_course):
        return 0
    today, days = utcnow().date(), timedelta(days=rules.orientation_due_days)

    def due(person: User) -> datetime:
        by_hire = person.hire_date + days
        return end_of_day(by_hire if by_hire > today else today + days)

    hired = [person for person in people if person.hire_date is not None and not _left(person)]
    return assign_to_each(
        hired, rules.orientation_course, due=due, source="hire_rule", cycle_key="hire", actor=actor
    )


def not_yet_assigned(tenant_id: int, course_slug: str, cycle_key: str, today: date) -> list[User]:
    """Current employees (with a hire date) whose enrolment in the course was not opened for this
    reason (`cycle_key`), or who are not enrolled: the few a scheduled rule still has to look at."""
    course_id, _version = published_course(course_slug)
    enrolled_for_it = (
        select(Enrolment.id)
        .where(Enrolment.user_id == User.id, Enrolment.course_id == course_id)
        .where((Enrolment.cycle_key == cycle_key) | Enrolment.ended_at.is_not(None))
        .exists()
    )
    return list(
        db.session.scalars(
            select(User)
            .where(User.tenant_id == tenant_id, User.employee_id.is_not(None), User.hire_date.is_not(None))
            .where((User.end_date.is_(None)) | (User.end_date >= today))
            .where(~enrolled_for_it)
        )
    )


def assign_leaders(tenant_id: int, rules: Rules, *, actor: str) -> int:
    """The leaders' module for every current employee who is somebody's manager."""
    if not _published(rules.leaders_course):
        return 0
    course_id = _course_id(rules.leaders_course)
    managers = db.session.scalars(
        select(User)
        .where(User.tenant_id == tenant_id, func.lower(User.email).in_(_manager_emails(tenant_id)))
        .where(
            ~select(Enrolment.id)
            .where(Enrolment.user_id == User.id, Enrolment.course_id == course_id)
            .exists()
        )
    )
    due = end_of_day(utcnow().date() + timedelta(days=rules.leaders_due_days))
    return sum(
        assign_course(
            person, rules.leaders_course, due_at=due, source="leaders_rule", cycle_key="leaders", actor=actor
        )
        is not None
        for person in managers
        if not _left(person)
    )


def _manager_emails(tenant_id: int) -> Select:
    return (
        select(func.lower(User.manager_email))
        .where(User.tenant_id == tenant_id, User.manager_email.is_not(None))
        .where((User.end_date.is_(None)) | (User.end_date >= utcnow().date()))
    )


def _left(person: User) -> bool:
    return person.end_date is not None and person.end_date < utcnow().date()


def _published(course_slug: str) -> bool:
    try:
        published_course(course_slug)
    except NotFound:
        return False
    return True


def _course_id(course_slug: str) -> int:
    return db.session.scalar(select(Course.id).where(Course.slug == course_slug))
