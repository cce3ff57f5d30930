"""People and completions: one row per assignment (a person's enrolment in a course, its current
cycle), filtered, sorted and paged in the database, for the console's table and for every export.

The table and the exports share one FROM clause, one WHERE clause and one ORDER BY
(`rows_from`, `conditions_of`, `order_of`), so an export of a view holds exactly the rows the
view lists. The columns of an export are EXPORT_COLUMNS (documented in the README, "Exports"):
- `policy_version`, `content_hash`, `completed_at`, `score`: of the latest passed result of the
  current cycle (empty while it is not passed);
- `attested_at`: of the attestation that result used, else the cycle's latest attestation;
- `expires_at`: of that result's certificate, else (a refresher open) of the previous cycle's;
- `certificate_code` / `verification_url`: that result's certificate, unless revoked;
- `lms`: the LMS (its name, else its issuer) the person last launched this course from;
- `status`: assignments.status, the one rule.
Timestamps are formatted in SQL as ISO 8601 in UTC with the offset written (SQLite stores naive
UTC), so every format and both databases write the same text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Index,
    Select,
    String,
    and_,
    case,
    func,
    literal,
    null,
    nulls_last,
    or_,
    select,
)
from sqlalchemy.orm import aliased

from assignments import status as status_rule
from assignments.rules import rules_of
from certificates.models import Certificate
from certificates.services import verify_url
from courses.models import Attestation, Completion, Course, CourseVersion, Enrolment
from courses.services import PREVIEW_ISSUER
from lti.models import GradeTarget, Platform, ResourceLink
from reports import attempts
from reports.filters import CompletionFilter
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import Tenant, User

EXPORT_COLUMNS = (
    "employee_id",
    "name",
    "email",
    "department",
    "manager",
    "course",
    "policy_version",
    "content_hash",
    "status",
    "score",
    "attested_at",
    "completed_at",
    "due_at",
    "expires_at",
    "certificate_code",
    "verification_url",
    "lms",
)
TIMESTAMP_COLUMNS = ("attested_at", "completed_at", "due_at", "expires_at")
NUMBER_COLUMNS = ("policy_version", "score")
# Text that comes from people (HR's files, an LMS, the course folder): what a spreadsheet could
# take for a formula. Statuses, hashes, codes, URLs and our timestamps never start with one.
FREE_TEXT_COLUMNS = ("employee_id", "name", "email", "department", "manager", "course", "lms")
PAGE_SIZE = 50

# The table's indexes (migration 0011), declared beside the queries that need them.
TABLE_INDEXES = (
    Index("ix_users_tenant_name", User.tenant_id, User.name),
    Index("ix_enrolments_tenant_due", Enrolment.tenant_id, Enrolment.due_at),
    Index("ix_enrolments_tenant_completed", Enrolment.tenant_id, Enrolment.completed_at),
)

result = aliased(Completion, name="result")
result_version = aliased(CourseVersion, name="result_version")
used_attestation = aliased(Attestation, name="used_attestation")
certificate = aliased(Certificate, name="certificate")


@dataclass(frozen=True)
class Scope:
    """Whose rows, as of when: a tenant, the moment statuses are computed for, the tenant's
    "expiring soon" window, and where certificates are verified."""

    tenant_id: int
    tenant_slug: str
    now: datetime
    expiring_soon_days: int
    verify_prefix: str


_CODE_PLACEHOLDER = "CODE"


def scope_for(tenant_id: int, now: datetime | None = None) -> Scope:
    tenant = db.session.get(Tenant, tenant_id)
    url = verify_url(_CODE_PLACEHOLDER)
    return Scope(
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        now=now or utcnow(),
        expiring_soon_days=rules_of(tenant).expiring_soon_days,
        verify_prefix=url.removesuffix(_CODE_PLACEHOLDER),
    )


# --- the rows and their columns -----------------------------------------------------------------


def _latest_passed_id() -> ColumnElement[int]:
    return (
        select(func.max(Completion.id))
        .where(
            Completion.enrolment_id == Enrolment.id,
            Completion.cycle == Enrolment.cycle,
            Completion.status == "completed",
        )
        .correlate(Enrolment)
        .scalar_subquery()
    )


def _latest_attestation_id() -> ColumnElement[int]:
    return (
        select(func.max(Attestation.id))
        .where(Attestation.enrolment_id == Enrolment.id, Attestation.cycle == Enrolment.cycle)
        .correlate(Enrolment)
        .scalar_subquery()
    )


def _lms() -> ColumnElement[str]:
    return (
        select(func.coalesce(func.nullif(Platform.name, ""), Platform.issuer))
        .select_from(GradeTarget)
        .join(ResourceLink, ResourceLink.id == GradeTarget.resource_link_id)
        .join(Platform, Platform.id == ResourceLink.platform_id)
        .where(GradeTarget.enrolment_id == Enrolment.id)
        .order_by(GradeTarget.last_launch_at.desc(), GradeTarget.id.desc())
        .limit(1)
        .correlate(Enrolment)
        .scalar_subquery()
    )


def with_latest_passed(query: Select) -> Select:
    """The query's enrolments joined to `result`, the latest passed result of their current cycle."""
    return query.outerjoin(result, result.id == _latest_passed_id())


def expires_at_column() -> ColumnElement[datetime]:
    """When the assignment's certificate expires: the current cycle's passed result's, else (a
    refresher open) the previous cycle's, from the assignment's own row (assignments.status reads
    the same columns). The list's column, its expiry filter and the dashboard's expiry windows, so
    they count the same certificates."""
    return func.coalesce(Enrolment.expires_at, Enrolment.previous_expires_at)


def department_or_none() -> ColumnElement[str | None]:
    """The person's department; None when it is empty or only spaces (an LMS may send one so), as
    when it is missing: the dashboard's "No department" row and the no_department filter."""
    return case((func.trim(User.department) == "", null()), else_=User.department)


def rows_from(query: Select, *, everything: bool = True) -> Select:
    """Enrolments with their person and course and, unless `everything` is False, the latest
    passed result of the current cycle, its version, its certificate (unless revoked) and the
    attestation it used. (PostgreSQL does not drop these outer joins when nothing reads them:
    their ON clause runs a subquery.)"""
    query = (
        query.select_from(Enrolment)
        .join(User, User.id == Enrolment.user_id)
        .join(Course, Course.id == Enrolment.course_id)
    )
    if not everything:
        return query
    return (
        with_latest_passed(query)
        .outerjoin(result_version, result_version.id == result.course_version_id)
        .outerjoin(
            certificate, and_(certificate.completion_id == result.id, certificate.revoked_at.is_(None))
        )
        .outerjoin(
            used_attestation,
            used_attestation.id == func.coalesce(result.attestation_id, _latest_attestation_id()),
        )
    )


def needs_results(chosen: CompletionFilter) -> bool:
    """Whether choosing and ordering the rows reads the result's columns."""
    return chosen.version is not None or chosen.sort_field in ("version", "score")


def columns_of(scope: Scope) -> dict[str, ColumnElement[Any]]:
    """The export's columns, typed, in EXPORT_COLUMNS order."""
    return {
        "employee_id": User.employee_id,
        "name": User.name,
        "email": User.email,
        "department": User.department,
        "manager": User.manager_email,
        "course": Course.slug,
        "policy_version": result_version.number,
        "content_hash": result.content_hash,
        "status": status_rule.status_column(scope.now, scope.expiring_soon_days),
        "score": result.score,
        "attested_at": used_attestation.attested_at,
        "completed_at": result.completed_at,
        "due_at": Enrolment.due_at,
        "expires_at": expires_at_column(),
        "certificate_code": certificate.code,
        "verification_url": literal(scope.verify_prefix, String) + certificate.code,
        "lms": _lms(),
    }


# --- filters and order ----------------------------------------------------------------------------


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def conditions_of(scope: Scope, chosen: CompletionFilter, status: ColumnElement[str]) -> list[Any]:
    """The WHERE clause: the tenant's real assignments (never a preview), then each filter."""
    conditions: list[Any] = [
        Enrolment.tenant_id == scope.tenant_id,
        User.tenant_id == scope.tenant_id,
        Enrolment.source != "preview",
        User.issuer != PREVIEW_ISSUER,
    ]
    if chosen.course:
        conditions.append(Course.slug == chosen.course)
    if chosen.version is not None:
        conditions.append(result_version.number == chosen.version)
    if chosen.department:
        conditions.append(User.department == chosen.department)
    if chosen.no_department:
        conditions.append(department_or_none().is_(None))
    if chosen.manager:
        conditions.append(func.lower(User.manager_email) == chosen.manager)
    if chosen.statuses:
        # One bound value each, not an expanding IN: the exports compile the statement themselves.
        conditions.append(status.in_([literal(one) for one in chosen.statuses]))
    if chosen.attempts:
        conditions.append(Enrolment.id.in_(attempts.used_up_enrolment_ids(scope.tenant_id, scope.now)))
    # Dates are whole UTC days, both ends included. `enrolments.completed_at` is the current
    # cycle's pass, the same moment as the result's (courses.services.results writes both).
    for column, start, end in (
        (Enrolment.due_at, chosen.due_from, chosen.due_to),
        (Enrolment.completed_at, chosen.completed_from, chosen.completed_to),
        (expires_at_column(), chosen.expires_from, chosen.expires_to),
    ):
        if start:
            conditions.append(column >= _start_of(start))
        if end:
            conditions.append(column < _start_of(end + timedelta(days=1)))
    if chosen.q:
        text = chosen.q.lower()
        conditions.append(
            or_(
                *(
                    func.lower(column).contains(text, autoescape=True)  # % and _ are literal
                    for column in (User.name, User.email, User.employee_id)
                )
            )
        )
    return conditions


def order_of(chosen: CompletionFilter, columns: dict[str, ColumnElement[Any]]) -> list[Any]:
    """The sort field first (empty values last either way), then by name, then by id: the same
    order on every page and in every export."""
    status_rank = case(
        {status: rank for rank, status in enumerate(status_rule.STATUSES)}, value=columns["status"]
    )
    keys: dict[str, list[ColumnElement[Any]]] = {
        "name": [User.name, Course.title],
        "email": [User.email],
        "employee_id": [User.employee_id],
        "department": [User.department],
        "manager": [User.manager_email],
        "course": [Course.title],
        "version": [columns["policy_version"]],
        "status": [status_rank],
        "score": [columns["score"]],
        "due": [Enrolment.due_at],
        "completed": [Enrolment.completed_at],
        "expires": [columns["expires_at"]],
    }
    chosen_keys = [
        nulls_last(key.desc() if chosen.descending else key.asc()) for key in keys[chosen.sort_field]
    ]
    then_by_name = [] if chosen.sort_field == "name" else [User.name]
    return [*chosen_keys, *then_by_name, Enrolment.id]


# --- the table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableRow:
    enrolment_id: int
    user_id: int
    employee_id: str | None
    name: str
    email: str | None
    department: str | None
    manager: str | None
    course: str
    course_title: str
    policy_version: int | None
    status: str
    score: int | None
    due_at: datetime | None
    completed_at: datetime | None
    expires_at: datetime | None

    @property
    def status_label(self) -> str:
        return status_rule.LABELS[self.status]


@dataclass(frozen=True)
class TablePage:
    rows: list[TableRow]
    page: int
    total: int
    page_size: int

    @property
    def has_more(self) -> bool:
        return self.page * self.page_size < self.total


TABLE_FIELDS = tuple(TableRow.__dataclass_fields__)


def count_rows(scope: Scope, chosen: CompletionFilter) -> int:
    columns = columns_of(scope)
    query = rows_from(select(func.count()), everything=needs_results(chosen))
    return db.session.scalar(query.where(*conditions_of(scope, chosen, columns["status"]))) or 0


def table_page(
    scope: Scope, chosen: CompletionFilter, *, page: int = 1, page_size: int = PAGE_SIZE
) -> TablePage:
    """One page of the table in two statements whatever its size. The page's ids are chosen
    first (filters and order only), so the columns' subqueries run for the page's rows alone.
    With a status filter, which computes every row's status, the count of matching rows comes
    with the page's ids (one pass); otherwise it is a join of three tables, and the page stops
    reading at its last row."""
    columns = columns_of(scope)
    conditions = conditions_of(scope, chosen, columns["status"])
    order = order_of(chosen, columns)
    count_with_page = chosen.status is not None
    ids = [Enrolment.id, func.count().over().label("total")] if count_with_page else [Enrolment.id]
    page_ids = (
        rows_from(select(*ids), everything=needs_results(chosen))
        .where(*conditions)
        .order_by(*order)
        .offset((page - 1) * page_size)
        .limit(page_size)
        .cte("page_ids")
    )
    shown = {"enrolment_id": Enrolment.id, "user_id": User.id, "course_title": Course.title, **columns}
    query = rows_from(select(*page_ids.c, *(shown[name].label(name) for name in TABLE_FIELDS)))
    found = db.session.execute(query.join(page_ids, page_ids.c.id == Enrolment.id).order_by(*order)).all()
    rows = [TableRow(**{name: row._mapping[name] for name in TABLE_FIELDS}) for row in found]
    if count_with_page and (found or page == 1):
        total = found[0].total if found else 0
    else:
        total = count_rows(scope, chosen)
    return TablePage(rows, page, total, page_size)
