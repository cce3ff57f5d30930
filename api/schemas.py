"""The API's marshmallow schemas: what each request takes and each answer holds (the OpenAPI
document is generated from them). Unknown fields and parameters are refused (422 naming them).

Input is checked here for shape and type only; the rules (an email names one person, a due date
is not in the past, a filter range that ends before it starts) are the services'.
"""

from __future__ import annotations

from datetime import UTC, date
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from api.paging import PageArgs, page_schema
from assignments.status import STATUSES
from reports import filters
from reports.completions import EXPORT_COLUMNS, NUMBER_COLUMNS, TIMESTAMP_COLUMNS

DATE_TIME = {"format": "date-time"}
LAST_DAY = date(9999, 12, 30)  # the day after must exist: ranges end at the next midnight


class Day(fields.Date):
    """A calendar day, YYYY-MM-DD, up to LAST_DAY."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Range(max=LAST_DAY, error="a day up to 9999-12-30"), **kwargs)


class Moment(fields.AwareDateTime):
    """A moment with its UTC offset (ISO 8601), read as UTC."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ma.ValidationError("a moment between the years 1 and 9999 in UTC") from None


def _nullable_text(description: str, **metadata: Any) -> fields.String:
    return fields.String(required=True, allow_none=True, metadata={"description": description, **metadata})


# --- completions ----------------------------------------------------------------------------------

FILTER_HELP = {
    "course": "A course's slug, e.g. orientation",
    "version": "The policy version of the passed result, e.g. 2",
    "department": "The department as written in HR's records",
    "no_department": "`yes`: people without a department",
    "manager": "The manager's email",
    "status": f"A status ({', '.join(STATUSES)}), as the console's status filter takes it",
    "attempts": "`used_up`: people out of quiz attempts",
    "q": "Text in the name, email or employee id",
}


def _filter_field(name: str) -> fields.Field:
    """A filter of the console's people and completions table (reports.filters), taken as text:
    reports.filters.parse_filter, the console's parser, checks it (400 naming the filter)."""
    if name.endswith(("_from", "_to")):
        edge = "from" if name.endswith("_from") else "to"
        what = name.rsplit("_", 1)[0]
        return Day(metadata={"description": f"{what.title()} date {edge} (a UTC day, included)"})
    if name == "version":
        return fields.String(metadata={"pattern": "^[0-9]+$", "description": FILTER_HELP[name]})
    length = filters.MAX_LENGTHS.get(name, 100)
    return fields.String(
        validate=validate.Length(max=length),
        metadata={"description": FILTER_HELP.get(name, "A filter of the console's table")},
    )


CompletionQuery = PageArgs.from_dict(
    {
        **{name: _filter_field(name) for name in filters.FILTER_NAMES if name != "sort"},
        "updated_since": Moment(
            metadata={
                "description": "Only rows whose record changed at or after this moment (assigned, "
                "started, attested, completed, waived, the person's HR record, a certificate revoked); "
                "a status that changes with the clock alone (overdue, expiring) does not count"
            }
        ),
    },
    name="CompletionQuery",
)


def _export_field(name: str) -> fields.Field:
    if name in TIMESTAMP_COLUMNS:
        return fields.String(required=True, allow_none=True, metadata=DATE_TIME)
    if name in NUMBER_COLUMNS:
        return fields.Integer(required=True, allow_none=True)
    return fields.String(required=True, allow_none=True)


Completion = ma.Schema.from_dict(
    {
        "assignment_id": fields.Integer(required=True),
        "person_id": fields.Integer(required=True),
        **{name: _export_field(name) for name in EXPORT_COLUMNS},
        "updated_at": fields.String(required=True, metadata=DATE_TIME),
    },
    name="Completion",
)
CompletionPage = page_schema("CompletionPage", Completion)


# --- employees ------------------------------------------------------------------------------------


class EmployeeQuery(PageArgs):
    employee_id = fields.String(validate=validate.Length(max=64))
    email = fields.String(validate=validate.Length(max=320))
    department = fields.String(validate=validate.Length(max=120))
    status = fields.String(validate=validate.OneOf(("active", "left")))
    updated_since = Moment(metadata={"description": "Changed at or after this moment"})


class Employee(ma.Schema):
    id = fields.Integer(required=True, metadata={"description": "The person's id in this service"})
    employee_id = _nullable_text("HR's id; null for a learner known only through an LMS")
    email = _nullable_text("Work email")
    name = fields.String(required=True)
    department = _nullable_text("Department")
    manager_email = _nullable_text("The manager's work email")
    hire_date = fields.Date(required=True, allow_none=True)
    end_date = fields.Date(required=True, allow_none=True, metadata={"description": "A leaver's last day"})
    locale = _nullable_text("Language, e.g. en or es-MX")
    status = fields.String(required=True, validate=validate.OneOf(("active", "left")))
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


EmployeePage = page_schema("EmployeePage", Employee)

_EMAIL = {"format": "email"}


class EmployeeCreate(ma.Schema):
    """An employee as a row of the CSV import: created, or updated when the employee id exists."""

    employee_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    email = fields.String(required=True, validate=validate.Length(min=3, max=320), metadata=_EMAIL)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    department = fields.String(validate=validate.Length(max=120))
    manager_email = fields.String(validate=validate.Length(max=320), metadata=_EMAIL)
    hire_date = Day()
    locale = fields.String(validate=validate.Length(max=16), metadata={"example": "es-MX"})
    end_date = Day(allow_none=True)


class EmployeeChange(ma.Schema):
    """The fields to change; those left out keep their values. As in the CSV import, a value
    cannot be cleared, except `end_date` (null: the person is back). The employee id never
    changes."""

    email = fields.String(validate=validate.Length(min=3, max=320), metadata=_EMAIL)
    name = fields.String(validate=validate.Length(min=1, max=200))
    department = fields.String(validate=validate.Length(min=1, max=120))
    manager_email = fields.String(validate=validate.Length(min=3, max=320), metadata=_EMAIL)
    hire_date = Day()
    locale = fields.String(validate=validate.Length(min=2, max=16))
    end_date = Day(allow_none=True)


class EmployeeEnd(ma.Schema):
    end_date = Day(metadata={"description": "The last day (default: today, UTC)"})


# --- assignments ----------------------------------------------------------------------------------


class AssignmentQuery(PageArgs):
    person_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    employee_id = fields.String(validate=validate.Length(max=64))
    course = fields.String(validate=validate.Length(max=100))
    status = fields.String(validate=validate.OneOf(STATUSES))


class Assignment(ma.Schema):
    id = fields.Integer(required=True)
    person_id = fields.Integer(required=True)
    employee_id = _nullable_text("HR's id of the person")
    course = fields.String(required=True, metadata={"description": "The course's slug"})
    cycle = fields.Integer(required=True, metadata={"description": "1, then one more at each renewal"})
    source = fields.String(required=True, metadata={"description": "hr, hire_rule, leaders_rule, lti..."})
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    assigned_at = fields.AwareDateTime(required=True, allow_none=True)
    due_at = fields.AwareDateTime(required=True, allow_none=True)
    completed_at = fields.AwareDateTime(required=True, allow_none=True)
    waived_at = fields.AwareDateTime(required=True, allow_none=True)
    waiver_reason = _nullable_text("Why it was waived")
    ended_at = fields.AwareDateTime(required=True, allow_none=True)


AssignmentPage = page_schema("AssignmentPage", Assignment)


class AssignmentCreate(ma.Schema):
    """Assign a course by a date to some employees, a department, or everyone (one of them)."""

    course = fields.String(required=True, validate=validate.Length(min=1, max=100))
    due_on = Day(required=True, metadata={"description": "The last day to complete it"})
    employee_ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)), validate=validate.Length(min=1, max=1000)
    )
    department = fields.String(validate=validate.Length(min=1, max=120))
    everyone = fields.Boolean()


class Assigned(ma.Schema):
    assigned = fields.Integer(
        required=True, metadata={"description": "People it was assigned to now (0: all had it already)"}
    )


class Reason(ma.Schema):
    reason = fields.String(
        required=True,
        validate=validate.Length(min=3, max=1000),
        metadata={"description": "Kept in the audit log"},
    )


# --- certificates ---------------------------------------------------------------------------------

CERTIFICATE_STATUSES = ("valid", "expired", "revoked")


class CertificateQuery(PageArgs):
    course = fields.String(validate=validate.Length(max=100))
    department = fields.String(validate=validate.Length(max=120))
    status = fields.String(validate=validate.OneOf(CERTIFICATE_STATUSES))
    issued_from = Day()
    issued_to = Day()


class Certificate(ma.Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True, metadata={"example": "7KQ2-M9XD-4HPT-ZR3B"})
    person_id = fields.Integer(required=True)
    holder_name = fields.String(required=True)
    holder_email = _nullable_text("The holder's email when it was issued")
    course = fields.String(required=True)
    course_title = fields.String(required=True)
    policy_version = fields.String(required=True)
    content_hash = fields.String(required=True)
    score = fields.Integer(required=True)
    locale = fields.String(required=True)
    completed_at = fields.AwareDateTime(required=True)
    issued_at = fields.AwareDateTime(required=True)
    expires_at = fields.AwareDateTime(required=True, allow_none=True)
    revoked_at = fields.AwareDateTime(required=True, allow_none=True)
    revoked_reason = _nullable_text("Why it was revoked")
    status = fields.String(required=True, validate=validate.OneOf(CERTIFICATE_STATUSES))
    verification_url = fields.String(required=True)


CertificatePage = page_schema("CertificatePage", Certificate)


class VerifyQuery(ma.Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=64))


class Verification(ma.Schema):
    code = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("valid", "expired", "revoked", "unknown")))
    certificate_id = fields.Integer(allow_none=True)
    holder = fields.String(allow_none=True)
    course = fields.String(allow_none=True)
    policy_version = fields.String(allow_none=True)
    issuer = fields.String(allow_none=True)
    completed_at = fields.String(allow_none=True, metadata=DATE_TIME)
    expires_at = fields.String(allow_none=True, metadata=DATE_TIME)
    revoked_at = fields.String(allow_none=True, metadata=DATE_TIME)


# --- courses --------------------------------------------------------------------------------------


class CourseVersion(ma.Schema):
    number = fields.Integer(required=True)
    content_hash = fields.String(required=True)
    material = fields.Boolean(required=True, metadata={"description": "A material change reassigns"})
    published_at = fields.AwareDateTime(required=True)


class Course(ma.Schema):
    slug = fields.String(required=True)
    title = fields.String(required=True)
    audience = fields.String(required=True)
    latest_version = fields.Nested(CourseVersion, required=True, allow_none=True)


class CourseList(ma.Schema):
    data = fields.List(fields.Nested(Course), required=True)


class VersionList(ma.Schema):
    data = fields.List(fields.Nested(CourseVersion), required=True)


# --- audit log ------------------------------------------------------------------------------------


class AuditQuery(PageArgs):
    actor = fields.String(
        validate=validate.Length(max=100), metadata={"description": "e.g. staff:3, token:2, cli"}
    )
    action = fields.String(validate=validate.Length(max=100), metadata={"example": "employee.changed"})
    since = Day(metadata={"description": "From this UTC day"})
    until = Day(metadata={"description": "To this UTC day, included"})
    subject_type = fields.String(validate=validate.Length(max=100))
    subject_id = fields.String(validate=validate.Length(max=100))


class AuditEvent(ma.Schema):
    seq = fields.Integer(required=True, metadata={"description": "The event's place in the chain"})
    occurred_at = fields.AwareDateTime(required=True)
    actor = fields.String(required=True)
    actor_name = fields.String(required=True)
    action = fields.String(required=True)
    subject_type = _nullable_text("e.g. user, enrolment, certificate")
    subject_id = _nullable_text("The subject's id")
    data = fields.Dict(required=True)
    ip_address = _nullable_text("Where the request came from")
    prev_hash = fields.String(required=True)
    hash = fields.String(required=True, metadata={"description": "SHA-256 over the event and prev_hash"})


AuditEventPage = page_schema("AuditEventPage", AuditEvent)
