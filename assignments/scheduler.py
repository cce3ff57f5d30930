"""`training tick`: everything that comes due with time, evaluated at `now`, for every tenant.

Hire rules and the leaders' module, refreshers (rolling before a certificate expires, or the
yearly calendar window), re-assignment after a material policy change, reminders, and the moments
that passed since the last tick (overdue assignments, expired certificates: assignments.moments,
handed to the packages that asked, e.g. webhooks). Idempotent:
each assignment names its reason (`cycle_key`) and each reminder its day, so a second tick at the
same moment does nothing. Safe on several hosts: on PostgreSQL a transaction-scoped advisory lock
lets one tick run at a time (a second one says so and does nothing); SQLite's single writer does
the same. The caller (the CLI command, the worker) owns and commits the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import and_, func, select, text

from assignments import hooks, moments, reminders
from assignments.rules import Rules, rules_of
from assignments.services import (
    assign_by_hire_date,
    assign_course,
    assign_leaders,
    assign_to_each,
    end_of_day,
    not_yet_assigned,
)
from courses.models import Completion, Course, CourseVersion, Enrolment
from courses.publishing import published_course
from training_app.db import utcnow
from training_app.errors import NotFound
from training_app.extensions import db
from training_app.models import Tenant, User

ADVISORY_LOCK = 0x506F7374  # "Post": one tick at a time across hosts
ACTOR = "scheduler"


@dataclass
class TickReport:
    ran: bool = True
    assigned: dict[str, int] = field(default_factory=dict)
    reminders: int = 0
    moments: int = 0
    others: dict[str, int] = field(default_factory=dict)  # what the tick callbacks did (hooks.on_tick)

    def add(self, what: str, count: int) -> None:
        self.assigned[what] = self.assigned.get(what, 0) + count

    def __str__(self) -> str:
        if not self.ran:
            return "Another tick is running; this one did nothing."
        assigned = ", ".join(f"{what} {count}" for what, count in sorted(self.assigned.items())) or "nothing"
        announced = f"; {self.moments} overdue or expired announced" if self.moments else ""
        others = "".join(f"; {what} {count}" for what, count in sorted(self.others.items()) if count)
        return (
            f"Tick done: assigned {assigned}; {self.reminders} reminder email(s) queued{announced}{others}."
        )


def run_tick(now: datetime | None = None) -> TickReport:
    now = now or utcnow()
    if not _take_lock():
        return TickReport(ran=False)
    report = TickReport()
    since = moments.since_last_tick(now)
    for tenant in db.session.scalars(select(Tenant).order_by(Tenant.id)).all():
        rules = rules_of(tenant)
        report.add("hire", _hire_rule(tenant, rules, now))
        report.add("leaders", assign_leaders(tenant.id, rules, actor=ACTOR))
        report.add("refresher", assign_refreshers(tenant, rules, now))
        report.add("leaders_renewal", renew_leaders(tenant, rules, now))
        report.add("policy_change", reassign_after_policy_changes(tenant, rules, now))
        if rules.reminders_enabled:
            report.reminders += reminders.send_due(tenant, rules, now)
        if since is not None:
            report.moments += moments.announce(tenant, rules, since, now)
    report.others = hooks.ticked(now)
    return report


def _hire_rule(tenant: Tenant, rules: Rules, now: datetime) -> int:
    if not _is_published(rules.orientation_course):
        return 0
    waiting = not_yet_assigned(tenant.id, rules.orientation_course, "hire", now.date())
    return assign_by_hire_date(waiting, rules, actor=ACTOR)


def _take_lock() -> bool:
    if db.session.connection().dialect.name != "postgresql":
        return True  # SQLite: the transaction began with BEGIN IMMEDIATE, one writer at a time
    return bool(db.session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK}))


def _current_people(tenant_id: int, now: datetime) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .where(User.tenant_id == tenant_id, User.employee_id.is_not(None))
            .where((User.end_date.is_(None)) | (User.end_date >= now.date()))
        )
    )


# --- refreshers ---------------------------------------------------------------------------------


def assign_refreshers(tenant: Tenant, rules: Rules, now: datetime) -> int:
    if not _is_published(rules.refresher_course):
        return 0
    if rules.refresher_mode == "calendar":
        return _calendar_window(tenant, rules, now)
    return _rolling(tenant, rules, now)


def _rolling(tenant: Tenant, rules: Rules, now: datetime) -> int:
    """The refresher for everyone whose newest policy certificate (orientation or refresher)
    expires within the window, due on its expiry; once per certificate (`renews:<result id>`)."""
    return _renew(
        tenant, rules, now, (rules.orientation_course, rules.refresher_course), rules.refresher_course
    )


def renew_leaders(tenant: Tenant, rules: Rules, now: datetime) -> int:
    """The leaders' module again before its certificate expires (whatever the refresher mode)."""
    if not _is_published(rules.leaders_course):
        return 0
    return _renew(tenant, rules, now, (rules.leaders_course,), rules.leaders_course)


def _renew(tenant: Tenant, rules: Rules, now: datetime, certified_by: tuple[str, ...], assign: str) -> int:
    horizon = now + timedelta(days=rules.refresher_days_before_expiry)
    certified = (
        select(Completion.id, Completion.user_id, Completion.expires_at)
        .join(Enrolment, Enrolment.id == Completion.enrolment_id)
        .join(Course, Course.id == Completion.course_id)
        .where(
            Completion.tenant_id == tenant.id,
            Completion.status == "completed",
            Completion.expires_at.is_not(None),
            Enrolment.source != "preview",
            Course.slug.in_(certified_by),
        )
        .subquery()
    )
    newest = (
        select(certified.c.user_id, func.max(certified.c.expires_at).label("expires_at"))
        .group_by(certified.c.user_id)
        .subquery()
    )
    due = db.session.execute(
        select(User, certified.c.id, newest.c.expires_at)
        .join(newest, newest.c.user_id == User.id)
        .join(certified, and_(certified.c.user_id == User.id, certified.c.expires_at == newest.c.expires_at))
        .where(newest.c.expires_at <= horizon)
        .where((User.end_date.is_(None)) | (User.end_date >= now.date()))
    ).all()
    assigned = 0
    for person, certificate_id, expires_at in due:
        done = assign_course(
            person,
            assign,
            due_at=_renewal_due(expires_at, rules, now),
            source="recertification",
            cycle_key=f"renews:{certificate_id}",
            actor=ACTOR,
        )
        assigned += done is not None
    return assigned


def _renewal_due(expires_at: datetime, rules: Rules, now: datetime) -> datetime:
    """On the certificate's expiry; for one that had already expired when the refresher is first
    assigned (a new tenant's old certificates), the refresher's due days from today: never
    overdue on the day it is assigned."""
    if expires_at > now:
        return expires_at
    return end_of_day(now.date() + timedelta(days=rules.refresher_due_days))


def _calendar_window(tenant: Tenant, rules: Rules, now: datetime) -> int:
    """During the tenant's month, the refresher for every current employee, once a year
    (`window:<year>`); people hired within the exemption period are left out this year."""
    if now.month != rules.refresher_month:
        return 0
    opens = date(now.year, rules.refresher_month, 1)
    exempt_after = _months_before(opens, rules.refresher_exempt_months)
    due = end_of_day(opens + timedelta(days=rules.refresher_due_days))
    settled = [
        person
        for person in _current_people(tenant.id, now)
        if person.hire_date is None or person.hire_date <= exempt_after
    ]
    return assign_to_each(
        settled,
        rules.refresher_course,
        due=lambda _person: due,
        source="recertification",
        cycle_key=f"window:{now.year}",
        actor=ACTOR,
    )


def _months_before(day: date, months: int) -> date:
    month = day.month - months
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, min(day.day, 28))


# --- policy changes -------------------------------------------------------------------------------


def reassign_after_policy_changes(tenant: Tenant, rules: Rules, now: datetime) -> int:
    """After a material version of a course, everyone whose current completion is of an older
    version takes it again, with the grace period (`policy:<version number>`); a minor version
    re-assigns nobody."""
    assigned = 0
    for course_id, slug, number, published_at in _latest_material_versions():
        grace = end_of_day((max(published_at, now) + timedelta(days=rules.policy_change_grace_days)).date())
        outdated = db.session.execute(
            select(Enrolment, User)
            .join(User, User.id == Enrolment.user_id)
            .join(
                Completion,
                and_(Completion.enrolment_id == Enrolment.id, Completion.cycle == Enrolment.cycle),
            )
            .join(CourseVersion, CourseVersion.id == Completion.course_version_id)
            .where(
                Enrolment.tenant_id == tenant.id,
                Enrolment.course_id == course_id,
                Enrolment.source != "preview",
                Enrolment.ended_at.is_(None),
                Completion.status == "completed",
                CourseVersion.number < number,
            )
        ).all()
        for enrolment, person in outdated:
            done = assign_course(
                person,
                slug,
                due_at=grace,
                source="policy_change",
                cycle_key=f"policy:{number}",
                actor=ACTOR,
                enrolment=enrolment,
            )
            assigned += done is not None
    return assigned


def _latest_material_versions() -> list[tuple[int, str, int, datetime]]:
    newest = (
        select(CourseVersion.course_id, func.max(CourseVersion.number).label("number"))
        .where(CourseVersion.material.is_(True))
        .group_by(CourseVersion.course_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Course.id, Course.slug, CourseVersion.number, CourseVersion.published_at)
        .join(newest, newest.c.course_id == Course.id)
        .join(
            CourseVersion, and_(CourseVersion.course_id == Course.id, CourseVersion.number == newest.c.number)
        )
        .where(CourseVersion.number > 1)
    ).all()
    return [(row[0], row[1], row[2], _aware(row[3])) for row in rows]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _is_published(course_slug: str) -> bool:
    try:
        published_course(course_slug)
    except NotFound:
        return False
    return True
