"""Who is where in their training: the read model behind the HR console's learner pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from assignments import status as status_rule
from courses.models import Completion, Enrolment
from courses.services import PREVIEW_ISSUER
from reports import audit_log, timeline
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import User
from training_app.tenancy import get_in_tenant

STATUSES = status_rule.STATUSES
STATUS_LABELS = status_rule.LABELS


def departments(tenant_id: int) -> list[str]:
    return list(
        db.session.scalars(
            select(User.department)
            .where(User.tenant_id == tenant_id, User.department.is_not(None))
            .distinct()
            .order_by(User.department)
        )
    )


# --- the employee page's timeline -------------------------------------------------------------

EVENT_KINDS = (
    "launch", "lesson", "attestation", "attempt", "completion",
    "certificate", "reminder", "grant", "waiver", "delivery",
)  # fmt: skip


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # one of EVENT_KINDS
    course: str | None
    item: Any


def events_of(records: timeline.PersonRecords) -> list[Event]:
    def course(enrolment_id: int) -> str | None:
        found = records.course_of(enrolment_id)
        return found.title if found else None

    events = [Event(x.at, "launch", course(x.enrolment_id), x) for x in records.launches]
    events += [Event(x.at, "lesson", course(x.enrolment_id), x) for x in records.lessons]
    events += [Event(x.attested_at, "attestation", course(x.enrolment_id), x) for x in records.attestations]
    events += [
        Event(x.attempt.submitted_at or x.attempt.started_at, "attempt", course(x.attempt.enrolment_id), x)
        for x in records.attempts
    ]
    events += [Event(x.completed_at, "completion", x.course.title, x) for x in records.completions]
    events += [Event(x.issued_at, "certificate", x.course_title, x) for x in records.certificates]
    events += [Event(x.reminder.created_at, "reminder", None, x) for x in records.reminders]
    events += [Event(x.granted_at, "grant", course(x.enrolment_id), x) for x in records.grants]
    events += [
        Event(a.enrolment.waived_at, "waiver", a.course.title, a.enrolment)
        for a in records.assignments
        if a.enrolment.waived_at
    ]
    events += [
        Event(x.created_at, "delivery", x.result.course.title if x.result else None, x)
        for x in records.deliveries
    ]
    return sorted(events, key=lambda event: event.at, reverse=True)


@dataclass(frozen=True)
class EmployeePage:
    records: timeline.PersonRecords
    manager: User | None
    events: list[Event]  # newest first
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
        events_of(records),
        audit_log.actor_names(tenant_id, actors, {person.id: person.name}),
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
