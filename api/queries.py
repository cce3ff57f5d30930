"""What the API reads, one page at a time, always within the token's tenant.

Each list is read in a fixed order (an id, or the audit log's sequence number) from the position
the cursor names, `limit + 1` rows at a time (the extra row says whether a next page exists).
The completions are the export's rows and columns (reports.exports.export_query over
reports.completions, with the console's filters): the API adds only its order, its cursor and
`updated_since`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from assignments import status as status_rule
from certificates import codes
from certificates import services as certificate_services
from certificates.models import Certificate
from courses.models import Course, CourseVersion, Enrolment
from courses.publishing import latest_version
from courses.services import PREVIEW_ISSUER
from reports import audit_log, completions, exports
from reports.filters import CompletionFilter
from training_app.db import UTCDateTime, utcnow
from training_app.errors import NotFound
from training_app.extensions import db
from training_app.models import AuditEvent, User

# --- completions ----------------------------------------------------------------------------------


class latest_of(FunctionElement[datetime]):
    """The latest of some timestamps, NULLs ignored (GREATEST on PostgreSQL; SQLite's max() of
    several values is NULL when one is, so NULLs become the empty text that sorts first)."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(latest_of, "postgresql")
def _latest_of_postgresql(element: latest_of, compiler: Any, **kw: Any) -> str:
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


@compiles(latest_of, "sqlite")
def _latest_of_sqlite(element: latest_of, compiler: Any, **kw: Any) -> str:
    values = ", ".join(f"coalesce({compiler.process(clause, **kw)}, '')" for clause in element.clauses)
    return f"max({values})"


def record_changed_at() -> ColumnElement[datetime]:
    """When an assignment's row last changed: assigned, started, attested, completed, waived, the
    person's HR record, or a certificate of the course revoked. Reads reports.completions' joins."""
    revoked = (
        select(func.max(Certificate.revoked_at))
        .where(Certificate.user_id == Enrolment.user_id, Certificate.course_id == Enrolment.course_id)
        .correlate(Enrolment)
        .scalar_subquery()
    )
    return latest_of(
        Enrolment.enrolled_at,
        Enrolment.assigned_at,
        Enrolment.started_at,
        Enrolment.completed_at,
        Enrolment.waived_at,
        completions.used_attestation.attested_at,
        completions.result.completed_at,
        User.updated_at,
        revoked,
    )


def completion_rows(
    tenant_id: int, chosen: CompletionFilter, *, after: int, updated_since: datetime | None, limit: int
) -> list[dict[str, Any]]:
    scope = completions.scope_for(tenant_id)
    changed = record_changed_at()
    statement = (
        exports.export_query(scope, chosen, for_spreadsheet=False)
        .add_columns(
            Enrolment.id.label("assignment_id"),
            User.id.label("person_id"),
            exports.iso_utc(changed).label("updated_at"),
        )
        .where(Enrolment.id > after)
        .order_by(None)
        .order_by(Enrolment.id)
        .limit(limit + 1)
    )
    if updated_since is not None:
        statement = statement.where(changed >= updated_since)
    return [dict(row._mapping) for row in db.session.execute(statement)]


# --- employees ------------------------------------------------------------------------------------


def people(tenant_id: int) -> Select:
    """The tenant's people (employees from HR and learners known through an LMS), never the
    console's preview learners."""
    return select(User).where(User.tenant_id == tenant_id, User.issuer != PREVIEW_ISSUER)


def employee_rows(tenant_id: int, args: dict[str, Any], *, after: int, limit: int) -> list[User]:
    query = people(tenant_id).where(User.id > after)
    for name in ("employee_id", "department"):
        if args.get(name):
            query = query.where(getattr(User, name) == args[name])
    if args.get("email"):
        query = query.where(func.lower(User.email) == args["email"].strip().lower())
    today = utcnow().date()
    if args.get("status") == "left":
        query = query.where(User.end_date < today)
    elif args.get("status") == "active":
        query = query.where((User.end_date.is_(None)) | (User.end_date >= today))
    if args.get("updated_since"):
        query = query.where(User.updated_at >= args["updated_since"])
    return list(db.session.scalars(query.order_by(User.id).limit(limit + 1)))


def employee(tenant_id: int, person_id: int) -> User:
    found = db.session.scalar(people(tenant_id).where(User.id == person_id))
    if found is None:
        raise NotFound(f"There is no person {person_id} in your organisation.")
    return found


def employee_status(user: User) -> str:
    return "left" if user.end_date is not None and user.end_date < utcnow().date() else "active"


# --- assignments ----------------------------------------------------------------------------------

ASSIGNMENT_COLUMNS = {
    "id": Enrolment.id,
    "person_id": User.id,
    "employee_id": User.employee_id,
    "course": Course.slug,
    "cycle": Enrolment.cycle,
    "source": Enrolment.source,
    "assigned_at": Enrolment.assigned_at,
    "due_at": Enrolment.due_at,
    "completed_at": Enrolment.completed_at,
    "waived_at": Enrolment.waived_at,
    "waiver_reason": Enrolment.waiver_reason,
    "ended_at": Enrolment.ended_at,
}


def _assignments(tenant_id: int, chosen: CompletionFilter) -> Select:
    """The console's assignments (reports.completions: its FROM and WHERE, the one status rule)."""
    scope = completions.scope_for(tenant_id)
    status = status_rule.status_column(scope.now, scope.expiring_soon_days)
    columns = [column.label(name) for name, column in ASSIGNMENT_COLUMNS.items()]
    query = completions.rows_from(select(*columns, status.label("status")), everything=False)
    return query.where(*completions.conditions_of(scope, chosen, status))


def assignment_rows(tenant_id: int, args: dict[str, Any], *, after: int, limit: int) -> list[dict[str, Any]]:
    chosen = CompletionFilter(course=args.get("course"), status=args.get("status"))
    query = _assignments(tenant_id, chosen).where(Enrolment.id > after)
    if args.get("person_id"):
        query = query.where(User.id == args["person_id"])
    if args.get("employee_id"):
        query = query.where(User.employee_id == args["employee_id"])
    rows = db.session.execute(query.order_by(Enrolment.id).limit(limit + 1))
    return [dict(row._mapping) for row in rows]


def assignment(tenant_id: int, assignment_id: int) -> dict[str, Any]:
    row = db.session.execute(_assignments(tenant_id, CompletionFilter()).where(Enrolment.id == assignment_id))
    found = row.first()
    if found is None:
        raise NotFound(f"There is no assignment {assignment_id} in your organisation.")
    return dict(found._mapping)


# --- certificates ---------------------------------------------------------------------------------


def certificate_rows(
    tenant_id: int, filters: certificate_services.CertificateFilter, *, after: int, limit: int
) -> list[Certificate]:
    query = certificate_services.certificates_query(tenant_id, filters).where(Certificate.id > after)
    return list(db.session.scalars(query.order_by(None).order_by(Certificate.id).limit(limit + 1)))


def certificate_json(certificate: Certificate, now: datetime | None = None) -> dict[str, Any]:
    return {
        "id": certificate.id,
        "code": certificate.code,
        "person_id": certificate.user_id,
        "holder_name": certificate.holder_name,
        "holder_email": certificate.holder_email,
        "course": certificate.course_slug,
        "course_title": certificate.course_title,
        "policy_version": certificate.policy_version,
        "content_hash": certificate.content_hash,
        "score": certificate.score,
        "locale": certificate.locale,
        "completed_at": certificate.completed_at,
        "issued_at": certificate.issued_at,
        "expires_at": certificate.expires_at,
        "revoked_at": certificate.revoked_at,
        "revoked_reason": certificate.revoked_reason,
        "status": certificate.status(now or utcnow()),
        "verification_url": certificate_services.verify_url(certificate.code),
    }


def verification(tenant_id: int, code_text: str) -> dict[str, Any]:
    """What the public verify page says of a code, for a certificate of this tenant; any other
    code is "unknown" (another organisation's certificates are not this token's business)."""
    code = codes.normalise_code(code_text)  # InvalidCertificateCode (400) for what is not a code
    certificate_id = db.session.scalar(
        select(Certificate.id).where(Certificate.code == code, Certificate.tenant_id == tenant_id)
    )
    if certificate_id is None:
        return {"code": code, "status": "unknown", "certificate_id": None}
    return {**certificate_services.verify(code).as_json(), "certificate_id": certificate_id}


# --- courses --------------------------------------------------------------------------------------


def version_json(version: CourseVersion | None) -> dict[str, Any] | None:
    if version is None:
        return None
    return {
        "number": version.number,
        "content_hash": version.content_hash,
        "material": version.material,
        "published_at": version.published_at,
    }


def course_json(course: Course) -> dict[str, Any]:
    return {
        "slug": course.slug,
        "title": course.title,
        "audience": course.audience,
        "latest_version": version_json(latest_version(course.id)),
    }


def courses() -> list[dict[str, Any]]:
    return [course_json(course) for course in db.session.scalars(select(Course).order_by(Course.slug))]


COURSE_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")


def course(slug: str) -> Course:
    found = (
        db.session.scalar(select(Course).where(Course.slug == slug)) if COURSE_SLUG.fullmatch(slug) else None
    )
    if found is None:
        raise NotFound(f"There is no course {slug!r}.")
    return found


def versions(slug: str) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(CourseVersion).where(CourseVersion.course_id == course(slug).id).order_by(CourseVersion.number)
    )
    return [version_json(version) for version in rows]  # type: ignore[misc]


# --- audit log ------------------------------------------------------------------------------------


def audit_rows(
    tenant_id: int, chosen: audit_log.AuditFilter, *, after: int, limit: int
) -> list[dict[str, Any]]:
    """The tenant's events in chain order (oldest first), with their actors' names."""
    events = list(
        db.session.scalars(
            audit_log.filtered_events(tenant_id, chosen)
            .where(AuditEvent.seq > after)
            .order_by(AuditEvent.seq)
            .limit(limit + 1)
        )
    )
    return [
        {
            "seq": row.event.seq,
            "occurred_at": row.event.occurred_at,
            "actor": row.event.actor,
            "actor_name": row.actor_name,
            "action": row.event.action,
            "subject_type": row.event.subject_type,
            "subject_id": row.event.subject_id,
            "data": row.event.data,
            "ip_address": row.event.ip_address,
            "prev_hash": row.event.prev_hash,
            "hash": row.event.hash,
        }
        for row in audit_log.named_rows(tenant_id, events)
    ]
