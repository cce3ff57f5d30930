"""The HR console's dashboard: completion by course and department, what is overdue or expiring,
the monthly trend, who needs an extra quiz attempt, delivery health and the audit chain.

Every number is aggregated in the database (GROUP BY), in a fixed number of statements whatever
the size of the organisation; statuses come from the one rule (assignments.status). Preview
learners and their enrolments are never counted.

Every count links to the learners list (reports.filters' URL contract) filtered to the rows it
counts: `filters` below says which filters, and the dashboard counts with the list's own columns
and rules, so the list's total is the number (tests/report/test_dashboard_links.py follows every
link of the demo company's dashboard).

The completion rate of a group is its complete assignments (completed, or expiring soon: the
certificate is still valid) over its counted ones: every assignment but waived ones and those of
people who left (ended).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, and_, case, func, select

from assignments.rules import rules_of
from assignments.status import LABELS, STATUSES, status_column
from courses.models import Course, Enrolment
from courses.services import PREVIEW_ISSUER
from reports import attempts, completions
from reports.filters import ATTEMPTS_USED_UP, NOT_COUNTED, YES
from training_app import audit_verification
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import OutboxMessage, Tenant, User

COMPLETE = ("completed", "expiring_soon")
# Days ahead: certificates expiring from today to that many days from today, whole UTC days (the
# list's expires_from/expires_to filter takes days).
EXPIRY_WINDOWS = (30, 60, 90)
TREND_MONTHS = 12
NEEDS_ATTEMPT_LISTED = 10
DEPARTMENTS_CHARTED = 15  # the lowest rates; the table under the chart lists every department
# The order of the status columns in the dashboard's tables: complete first, then what is left.
STATUS_ORDER = (
    "completed",
    "expiring_soon",
    "not_started",
    "in_progress",
    "overdue",
    "expired",
    "waived",
    "ended",
)


@dataclass
class Tally:
    """Assignments of one group (a course, a department, everyone) by status."""

    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    expiring: dict[int, int] = field(default_factory=lambda: dict.fromkeys(EXPIRY_WINDOWS, 0))
    needs_attempt: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def complete(self) -> int:
        return sum(self.by_status[status] for status in COMPLETE)

    @property
    def counted(self) -> int:
        return self.total - sum(self.by_status[status] for status in NOT_COUNTED)

    @property
    def percent(self) -> int | None:
        """Whole percent, rounded down (100% only when every counted assignment is complete);
        None when nothing is counted."""
        return self.complete * 100 // self.counted if self.counted else None

    def add(self, status: str, count: int, expiring: Iterable[int], needs_attempt: int) -> None:
        self.by_status[status] += count
        if status in NOT_COUNTED:
            return  # a leaver's or a waived certificate or attempt is nobody's to chase
        for days, expiring_count in zip(EXPIRY_WINDOWS, expiring, strict=True):
            self.expiring[days] += expiring_count
        self.needs_attempt += needs_attempt


@dataclass(frozen=True)
class CourseTally:
    slug: str
    title: str
    tally: Tally

    @property
    def filters(self) -> dict[str, str]:
        return {"course": self.slug}


@dataclass(frozen=True)
class DepartmentTally:
    name: str | None  # None: people without a department (or with a blank one)
    tally: Tally

    @property
    def filters(self) -> dict[str, str]:
        return {"department": self.name} if self.name is not None else {"no_department": YES}


@dataclass(frozen=True)
class Month:
    first: date
    last: date
    completions: int

    @property
    def filters(self) -> dict[str, str]:
        return {"completed_from": self.first.isoformat(), "completed_to": self.last.isoformat()}


@dataclass(frozen=True)
class PersonNeedingAttempt:
    user_id: int
    name: str
    course_title: str


@dataclass(frozen=True)
class Deliveries:
    pending: int
    delivered: int
    dead: int
    last_grade_at: datetime | None  # the newest LMS grade (AGS score) delivered


@dataclass(frozen=True)
class Dashboard:
    tenant: Tenant
    now: datetime
    expiring_soon_days: int
    people: int
    overall: Tally
    courses: list[CourseTally]
    departments: list[DepartmentTally]  # lowest completion rate first
    trend: list[Month]  # oldest first, the current month last
    needing_attempt: list[PersonNeedingAttempt]  # the first few, by name
    deliveries: Deliveries
    chain: audit_verification.ChainReport

    status_order = STATUS_ORDER
    status_labels = LABELS
    departments_charted = DEPARTMENTS_CHARTED
    counted_filters = {"status": "counted"}  # a completion rate's denominator
    needs_attempt_filters = {"attempts": ATTEMPTS_USED_UP}

    @property
    def is_empty(self) -> bool:
        return self.people == 0

    @property
    def today(self) -> date:
        return _today(self.now)

    def window_last_day(self, days: int) -> date:
        return self.today + timedelta(days=days)

    def expiring_filters(self, days: int) -> dict[str, str]:
        """The list behind an expiry window's count: certificates expiring from today to the
        window's last day, of counted assignments (a leaver's or a waived one is nobody's to chase)."""
        return {
            "expires_from": self.today.isoformat(),
            "expires_to": self.window_last_day(days).isoformat(),
            **self.counted_filters,
        }


def dashboard(tenant_id: int, now: datetime | None = None) -> Dashboard:
    now = now or utcnow()
    tenant = db.session.get(Tenant, tenant_id)
    window = rules_of(tenant).expiring_soon_days
    overall, courses, departments = _tallies(tenant_id, now, window)
    return Dashboard(
        tenant=tenant,
        now=now,
        expiring_soon_days=window,
        people=_people(tenant_id),
        overall=overall,
        courses=courses,
        departments=departments,
        trend=_trend(tenant_id, now),
        needing_attempt=_needing_attempt(tenant_id, now),
        deliveries=_deliveries(tenant_id),
        chain=audit_verification.verify_since_checkpoint(tenant),
    )


def _real_enrolments(tenant_id: int):
    """The tenant's enrolments with their person, previews left out."""
    return (
        select()
        .select_from(Enrolment)
        .join(User, User.id == Enrolment.user_id)
        .where(Enrolment.tenant_id == tenant_id, Enrolment.source != "preview", User.issuer != PREVIEW_ISSUER)
    )


def _people(tenant_id: int) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.tenant_id == tenant_id, User.issuer != PREVIEW_ISSUER)
        )
        or 0
    )


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _today(now: datetime) -> date:
    return now.astimezone(UTC).date()


def _tallies(
    tenant_id: int, now: datetime, window: int
) -> tuple[Tally, list[CourseTally], list[DepartmentTally]]:
    """One statement: assignments by course, department and status, with the certificates
    expiring in each window and the people out of attempts. The department, the certificate's
    expiry and "out of attempts" are the learners list's own columns and rules (reports.completions,
    reports.attempts), so each count is the total of the list it links to."""
    query, needs_attempt = attempts.with_attempts_used_up(_real_enrolments(tenant_id), tenant_id, now)
    per_enrolment = (
        query.add_columns(
            Enrolment.course_id,
            completions.department_or_none().label("department"),
            status_column(now, window).label("status"),
            completions.expires_at_column().label("expires_at"),
            needs_attempt.label("needs_attempt"),
        )
        # A fence: PostgreSQL would otherwise inline this subquery and compute the status once
        # for each place its column is used.
        .offset(0)
        .subquery()
    )
    expires_at, today = per_enrolment.c.expires_at, _today(now)

    def expiring_within(days: int) -> ColumnElement[bool]:  # whole days, as the list's filter
        return and_(expires_at >= _start_of(today), expires_at < _start_of(today + timedelta(days=days + 1)))

    rows = db.session.execute(
        select(
            Course.slug,
            Course.title,
            per_enrolment.c.department,
            per_enrolment.c.status,
            func.count(),
            *[func.count(case((expiring_within(days), 1))) for days in EXPIRY_WINDOWS],
            func.count(case((per_enrolment.c.needs_attempt, 1))),
        )
        .join(Course, Course.id == per_enrolment.c.course_id)
        .group_by(Course.slug, Course.title, per_enrolment.c.department, per_enrolment.c.status)
    ).all()
    overall, courses, departments = Tally(), {}, {}
    for slug, title, department, status, count, *counts in rows:
        expiring, needs_attempt = counts[:-1], counts[-1]
        course = courses.setdefault(slug, CourseTally(slug, title, Tally()))
        group = departments.setdefault(department, DepartmentTally(department, Tally()))
        for tally in (overall, course.tally, group.tally):
            tally.add(status, count, expiring, needs_attempt)
    return (
        overall,
        sorted(courses.values(), key=lambda course: (course.title, course.slug)),
        sorted(departments.values(), key=_lowest_rate_first),
    )


def _lowest_rate_first(group: DepartmentTally) -> tuple:
    percent = group.tally.percent
    return (percent is None, percent or 0, group.name is None, group.name or "")


def month_starts(now: datetime, months: int = TREND_MONTHS) -> list[date]:
    """The first days of the last `months` months (the current one last), and of the next one."""
    year, month = now.year, now.month
    starts = []
    for back in range(months - 1, -2, -1):
        total = year * 12 + month - 1 - back
        starts.append(date(total // 12, total % 12 + 1, 1))
    return starts


def _trend(tenant_id: int, now: datetime) -> list[Month]:
    """Assignments by the month (UTC) their current cycle was passed, previews left out; people who
    left since still count."""
    # By `enrolments.completed_at`, as the learners list's completed_from/completed_to filter
    # selects, not by every passed result: a refresher or a policy change starts a new cycle on
    # the same assignment, and the list (one row per assignment, its current cycle) then no longer
    # shows the earlier pass. Counting results would give that month a number its list cannot
    # show; so an earlier cycle's pass leaves the trend when the next cycle starts (it stays in the
    # employee's page and the audit log), and the new pass counts in its own month.
    starts = month_starts(now.astimezone(UTC))
    bounds = [_start_of(day) for day in starts]
    month_index = case(
        *[(Enrolment.completed_at < bound, index) for index, bound in enumerate(bounds[1:])]
    ).label("month")
    passed = (
        _real_enrolments(tenant_id)
        .add_columns(month_index)
        .where(Enrolment.completed_at >= bounds[0], Enrolment.completed_at < bounds[-1])
        .subquery()
    )
    counts = dict(db.session.execute(select(passed.c.month, func.count()).group_by(passed.c.month)).all())
    return [Month(first, _last_day(first), counts.get(index, 0)) for index, first in enumerate(starts[:-1])]


def _last_day(first: date) -> date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def _needing_attempt(tenant_id: int, now: datetime) -> list[PersonNeedingAttempt]:
    """The first few people out of quiz attempts (by name): whom to grant one."""
    query, needs_attempt = attempts.with_attempts_used_up(_real_enrolments(tenant_id), tenant_id, now)
    rows = db.session.execute(
        query.add_columns(User.id, User.name, Course.title)
        .join(Course, Course.id == Enrolment.course_id)
        .where(needs_attempt)
        .order_by(User.name, Course.title, Enrolment.id)
        .limit(NEEDS_ATTEMPT_LISTED)
    ).all()
    return [PersonNeedingAttempt(*row) for row in rows]


def _deliveries(tenant_id: int) -> Deliveries:
    grade_delivered = case((OutboxMessage.kind == "ags_score", OutboxMessage.delivered_at))
    rows = db.session.execute(
        select(OutboxMessage.status, func.count(), func.max(grade_delivered))
        .where(OutboxMessage.tenant_id == tenant_id)
        .group_by(OutboxMessage.status)
    ).all()
    counts = {status: count for status, count, _ in rows}
    last_grade = max((at for _, _, at in rows if at is not None), default=None)
    return Deliveries(counts.get("pending", 0), counts.get("delivered", 0), counts.get("dead", 0), last_grade)
