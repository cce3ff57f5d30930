"""The one status rule: what every page, export, API answer and webhook shows for an assignment.

Computed in SQL, a CASE over the assignment's own columns, which the writes keep (courses.services:
`completed_at` and `expires_at` when the current cycle passes, `previous_expires_at` when a new
cycle starts, `started_at` when the first lesson opens, before any attestation or result), so
lists filter, count and page by status in the database at any size without reading the results.
In order:

- `ended`: the person left (the assignment ended on their last day);
- `waived`: HR waived this cycle, with a reason;
- the current cycle passed: `expired` once its certificate's expiry has passed, `expiring_soon`
  within the tenant's window before it, else `completed` (an expired certificate is never
  "completed");
- not passed yet: `expiring_soon` while the previous cycle's certificate is still valid (the
  refresher is open), else `overdue` past the due date, `in_progress` once started (a lesson, the
  quiz, a failed result), else `not_started`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, literal, select

from courses.models import Completion, Enrolment, LessonProgress
from training_app.errors import N_

STATUSES = (
    "not_started",
    "in_progress",
    "overdue",
    "completed",
    "expiring_soon",
    "expired",
    "waived",
    "ended",
)
OPEN_STATUSES = ("not_started", "in_progress", "overdue", "expiring_soon")
# What each status is called on a page (translated where shown; training_app.errors.N_ marks them).
LABELS = {
    "not_started": N_("Not started"),
    "in_progress": N_("In progress"),
    "overdue": N_("Overdue"),
    "completed": N_("Completed"),
    "expiring_soon": N_("Expiring soon"),
    "expired": N_("Expired"),
    "waived": N_("Waived"),
    "ended": N_("Ended (left)"),
}


def current_result(column: ColumnElement) -> ColumnElement:
    """A column of the current cycle's newest result, correlated to the enclosing Enrolment."""
    return (
        select(column)
        .where(Completion.enrolment_id == Enrolment.id, Completion.cycle == Enrolment.cycle)
        .order_by(Completion.id.desc())
        .limit(1)
        .correlate(Enrolment)
        .scalar_subquery()
    )


def status_column(now: datetime, expiring_soon_days: int) -> ColumnElement[str]:
    """The status of the Enrolment in the enclosing query, as of `now`: a CASE over the
    enrolment's own columns, so a filter or a count by status reads one row per assignment."""
    soon = now + timedelta(days=expiring_soon_days)
    expires, previous_expires = Enrolment.expires_at, Enrolment.previous_expires_at
    return case(
        (and_(Enrolment.ended_at.is_not(None), Enrolment.ended_at <= now), literal("ended")),
        (Enrolment.waived_at.is_not(None), literal("waived")),
        (
            Enrolment.completed_at.is_not(None),
            case(
                (and_(expires.is_not(None), expires <= now), literal("expired")),
                (and_(expires.is_not(None), expires <= soon), literal("expiring_soon")),
                else_=literal("completed"),
            ),
        ),
        (and_(previous_expires.is_not(None), previous_expires > now), literal("expiring_soon")),
        (and_(Enrolment.due_at.is_not(None), Enrolment.due_at < now), literal("overdue")),
        (Enrolment.started_at.is_not(None), literal("in_progress")),
        else_=literal("not_started"),
    )


def is_open(now: datetime) -> ColumnElement[bool]:
    """Whether the current cycle is still to be done: an open status (not started, in progress,
    overdue, or expiring soon while a refresher is open), not the "expiring soon" of a cycle
    already passed. Without the rule's subqueries (`completed_at` is set exactly when the current
    cycle passes), for scans over a whole workforce (reminders); tests/assignments/test_status.py
    holds it to the rule case by case."""
    return and_(
        Enrolment.completed_at.is_(None),
        Enrolment.waived_at.is_(None),
        (Enrolment.ended_at.is_(None)) | (Enrolment.ended_at > now),
    )


def lessons_done_column() -> ColumnElement[int]:
    return (
        select(func.count())
        .select_from(LessonProgress)
        .where(LessonProgress.enrolment_id == Enrolment.id, LessonProgress.cycle == Enrolment.cycle)
        .correlate(Enrolment)
        .scalar_subquery()
    )
