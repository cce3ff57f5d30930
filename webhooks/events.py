"""The events webhooks announce, their payloads, and queueing them for every subscribed endpoint.

Subscribers to the hooks of courses, certificates and assignments call `queue_*` in the
transaction that made the event happen; each event becomes one delivery row (with its own
`webhook-id`) and one outbox message per enabled endpoint of the tenant that chose its type. The
body is `{"type", "timestamp", "data"}`; `data` names its fields as the completions export does
(reports.completions.EXPORT_COLUMNS: employee_id, name, email, department, manager, course,
policy_version, content_hash, status, score, attested_at, completed_at, due_at, expires_at,
certificate_code, verification_url) where they apply, plus the ids of what the event is about.
`status` is the assignment's, by the one status rule, at the moment of the event.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, exists, select

from assignments.hooks import BecameOverdue, ResultExpired
from assignments.rules import rules_of
from assignments.status import status_column
from certificates.models import Certificate
from certificates.services import verify_url
from courses.models import Attestation, Completion, Course, CourseVersion, Enrolment
from courses.services import RecordedResult
from training_app import outbox, subscribers
from training_app.db import chunks, insert_unless_conflict, utcnow
from training_app.errors import N_
from training_app.extensions import db, run_core
from training_app.models import Tenant, User
from webhooks.models import WebhookDelivery, WebhookEndpoint

KIND = "webhook"  # the outbox kind of a delivery
# The completions export's columns (reports.completions.EXPORT_COLUMNS, which webhooks may not
# import) that events carry, in its order; the ids of what an event is about follow them.
EXPORT_FIELDS = (
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
)
EVENT_TYPES = {
    "completion.recorded": N_("A course is completed (passed)"),
    "attestation.recorded": N_("The policy attestation is signed"),
    "certificate.issued": N_("A certificate is issued"),
    "certificate.revoked": N_("A certificate is revoked"),
    "certificate.expired": N_("A certificate expires"),
    "assignment.overdue": N_("An assignment becomes overdue"),
}


@dataclass(frozen=True)
class Event:
    type: str
    key: str  # names the event once: one delivery per endpoint and key, whatever repeats
    occurred_at: datetime
    data: dict[str, Any]

    def body(self) -> str:
        return json.dumps(
            {"type": self.type, "timestamp": iso(self.occurred_at), "data": self.data},
            separators=(",", ":"),
            ensure_ascii=False,
        )


def iso(moment: datetime | None) -> str | None:
    """As the export writes timestamps: ISO 8601 in UTC, to the second, with the offset."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00") if moment else None


def new_message_id() -> str:
    return "msg_" + base64.b32encode(os.urandom(15)).decode().lower()


# --- the hooks' subscribers ----------------------------------------------------------------------


def on_result(result: RecordedResult) -> None:
    if result.status == "completed":
        _queue(result.tenant_id, "completion.recorded", [result.id], _completion_events)


def on_attestation(attestation: Attestation) -> None:
    _queue(attestation.tenant_id, "attestation.recorded", [attestation.id], _attestation_events)


def on_certificate_issued(certificate_id: int, result: RecordedResult) -> None:
    _queue(
        result.tenant_id, "certificate.issued", [certificate_id], _certificate_events("certificate.issued")
    )


def on_certificate_revoked(certificate: Certificate) -> None:
    _queue(
        certificate.tenant_id,
        "certificate.revoked",
        [certificate.id],
        _certificate_events("certificate.revoked"),
    )


def on_overdue(moments: list[BecameOverdue]) -> None:
    noticed = max(m.noticed_at for m in moments)
    for tenant_id, ids in _by_tenant((m.tenant_id, m.enrolment_id) for m in moments).items():
        _queue(tenant_id, "assignment.overdue", ids, _overdue_events, noticed)


def on_results_expired(moments: list[ResultExpired]) -> None:
    noticed = max(m.noticed_at for m in moments)
    for tenant_id, completion_ids in _by_tenant((m.tenant_id, m.completion_id) for m in moments).items():
        certificate_ids = list(
            db.session.scalars(
                select(Certificate.id).where(
                    Certificate.completion_id.in_(completion_ids), Certificate.revoked_at.is_(None)
                )
            )
        )
        _queue(
            tenant_id,
            "certificate.expired",
            certificate_ids,
            _certificate_events("certificate.expired"),
            noticed,
        )


def _by_tenant(pairs: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    grouped: dict[int, list[int]] = {}
    for tenant_id, subject_id in pairs:
        grouped.setdefault(tenant_id, []).append(subject_id)
    return grouped


# --- queueing -------------------------------------------------------------------------------------

EventsOf = Callable[[int, list[int], datetime], list[Event]]  # (tenant, subject ids, now) -> events


SENDER = "webhooks"


def subscribed_endpoints(tenant_id: int, event_type: str) -> list[int]:
    """The tenant's enabled endpoints that want this event type. It runs inside every passing quiz
    submit (twice: the completion and its certificate), so a tenant without endpoints is
    recognised by training_app.subscribers' one statement for every sender."""
    if not subscribers.has_work(tenant_id, SENDER):
        return []
    rows = run_core(_ENABLED_ENDPOINTS, {"tenant_id": tenant_id})
    return [endpoint_id for endpoint_id, types in rows if event_type in (types or ())]


_endpoints = WebhookEndpoint.__table__
_ENABLED = (_endpoints.c.tenant_id == bindparam("tenant_id")) & _endpoints.c.enabled.is_(True)
_ENABLED_ENDPOINTS = select(_endpoints.c.id, _endpoints.c.event_types).where(_ENABLED)
HAS_ENABLED_ENDPOINTS = exists().where(_ENABLED)


def _queue(
    tenant_id: int, event_type: str, subject_ids: list[int], events_of: EventsOf, now: datetime | None = None
) -> int:
    """Queue the events of these subjects for every endpoint that wants them; how many deliveries.
    Nothing is read for a tenant without such an endpoint beyond the endpoints themselves."""
    endpoint_ids = subscribed_endpoints(tenant_id, event_type) if subject_ids else []
    queued = 0
    if not endpoint_ids:
        return queued
    for some in chunks(subject_ids):
        queued += queue_events(tenant_id, endpoint_ids, events_of(tenant_id, list(some), now or utcnow()))
    return queued


def queue_events(tenant_id: int, endpoint_ids: list[int], events: list[Event]) -> int:
    """A delivery and its outbox message for each event and endpoint; an event already queued for
    an endpoint (same key) is skipped, so a repeated hook never sends twice."""
    now = utcnow()
    rows = []
    for event in events:
        body = event.body()
        for endpoint_id in endpoint_ids:
            message_id = new_message_id()
            rows.append(
                {
                    "tenant_id": tenant_id,
                    "endpoint_id": endpoint_id,
                    "message_id": message_id,
                    "event_type": event.type,
                    "event_key": event.key,
                    "body": body,
                    "status": "pending",
                    "attempts": 0,
                    "replays": 0,
                    "outbox_key": f"{KIND}:{message_id}",
                    "created_at": now,
                }
            )
    if not rows:
        return 0
    inserted = db.session.connection().execute(_INSERT_DELIVERY, rows).scalars().all()
    outbox.enqueue_many(
        KIND, [({"delivery": message_id}, f"{KIND}:{message_id}", tenant_id) for message_id in inserted]
    )
    return len(inserted)


_deliveries = WebhookDelivery.__table__
# executed with many rows: SQLAlchemy's "insertmanyvalues" batches them and returns what was inserted
_INSERT_DELIVERY = insert_unless_conflict(_deliveries, "endpoint_id", "event_key").returning(
    _deliveries.c.message_id
)


# --- the events' data -----------------------------------------------------------------------------


def _person_columns() -> dict[str, ColumnElement[Any]]:
    return {
        "employee_id": User.employee_id,
        "name": User.name,
        "email": User.email,
        "department": User.department,
        "manager": User.manager_email,
        "course": Course.slug,
    }


def _status(tenant_id: int, now: datetime) -> ColumnElement[str]:
    tenant = db.session.get(Tenant, tenant_id)
    return status_column(now, rules_of(tenant).expiring_soon_days).label("status")


def _rows(query: Select) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in db.session.execute(query)]


def _completion_events(tenant_id: int, completion_ids: list[int], now: datetime) -> list[Event]:
    query = (
        select(
            Completion.id.label("completion_id"),
            Enrolment.id.label("assignment_id"),
            *(column.label(name) for name, column in _person_columns().items()),
            CourseVersion.number.label("policy_version"),
            Completion.content_hash,
            _status(tenant_id, now),
            Completion.score,
            Attestation.attested_at,
            Completion.completed_at,
            Enrolment.due_at,
            Completion.expires_at,
            Certificate.code.label("certificate_code"),
        )
        .select_from(Completion)
        .join(Enrolment, Enrolment.id == Completion.enrolment_id)
        .join(User, User.id == Completion.user_id)
        .join(Course, Course.id == Completion.course_id)
        .join(CourseVersion, CourseVersion.id == Completion.course_version_id)
        .outerjoin(Attestation, Attestation.id == Completion.attestation_id)
        .outerjoin(Certificate, Certificate.completion_id == Completion.id)
        .where(Completion.tenant_id == tenant_id, Completion.id.in_(completion_ids))
    )
    return [
        Event(
            "completion.recorded",
            f"completion.recorded:{row['completion_id']}",
            row["completed_at"],
            _data(row),
        )
        for row in _rows(query)
    ]


def _attestation_events(tenant_id: int, attestation_ids: list[int], now: datetime) -> list[Event]:
    query = (
        select(
            Attestation.id.label("attestation_id"),
            Enrolment.id.label("assignment_id"),
            *(column.label(name) for name, column in _person_columns().items()),
            CourseVersion.number.label("policy_version"),
            Attestation.content_hash,
            _status(tenant_id, now),
            Attestation.attested_at,
            Enrolment.due_at,
        )
        .select_from(Attestation)
        .join(Enrolment, Enrolment.id == Attestation.enrolment_id)
        .join(User, User.id == Attestation.user_id)
        .join(Course, Course.id == Enrolment.course_id)
        .join(CourseVersion, CourseVersion.id == Attestation.course_version_id)
        .where(Attestation.tenant_id == tenant_id, Attestation.id.in_(attestation_ids))
    )
    return [
        Event(
            "attestation.recorded",
            f"attestation.recorded:{row['attestation_id']}",
            row["attested_at"],
            _data(row),
        )
        for row in _rows(query)
    ]


def _certificate_events(event_type: str) -> EventsOf:
    def events_of(tenant_id: int, certificate_ids: list[int], now: datetime) -> list[Event]:
        query = (
            select(
                Certificate.id.label("certificate_id"),
                Certificate.completion_id,
                Enrolment.id.label("assignment_id"),
                *(column.label(name) for name, column in _person_columns().items()),
                CourseVersion.number.label("policy_version"),
                Certificate.content_hash,
                _status(tenant_id, now),
                Certificate.score,
                Attestation.attested_at,
                Certificate.completed_at,
                Enrolment.due_at,
                Certificate.expires_at,
                Certificate.code.label("certificate_code"),
                Certificate.issued_at,
                Certificate.revoked_at,
            )
            .select_from(Certificate)
            .join(Completion, Completion.id == Certificate.completion_id)
            .join(Enrolment, Enrolment.id == Completion.enrolment_id)
            .join(User, User.id == Certificate.user_id)
            .join(Course, Course.id == Certificate.course_id)
            .join(CourseVersion, CourseVersion.id == Certificate.course_version_id)
            .outerjoin(Attestation, Attestation.id == Completion.attestation_id)
            .where(Certificate.tenant_id == tenant_id, Certificate.id.in_(certificate_ids))
        )
        events = []
        for row in _rows(query):
            if event_type != "certificate.revoked":
                row.pop("revoked_at")
            occurred = {
                "certificate.issued": row["issued_at"],
                "certificate.revoked": row.get("revoked_at"),
                "certificate.expired": row["expires_at"],
            }[event_type] or now
            events.append(Event(event_type, f"{event_type}:{row['certificate_id']}", occurred, _data(row)))
        return events

    return events_of


def _overdue_events(tenant_id: int, enrolment_ids: list[int], now: datetime) -> list[Event]:
    query = (
        select(
            Enrolment.id.label("assignment_id"),
            Enrolment.cycle,
            *(column.label(name) for name, column in _person_columns().items()),
            _status(tenant_id, now),
            Enrolment.due_at,
        )
        .select_from(Enrolment)
        .join(User, User.id == Enrolment.user_id)
        .join(Course, Course.id == Enrolment.course_id)
        .where(Enrolment.tenant_id == tenant_id, Enrolment.id.in_(enrolment_ids))
    )
    events = []
    for row in _rows(query):
        cycle = row.pop("cycle")
        # an assignment is overdue once per cycle and due date (a new due date can pass again)
        key = f"assignment.overdue:{row['assignment_id']}:{cycle}:{iso(row['due_at'])}"
        events.append(Event("assignment.overdue", key, row["due_at"], _data(row)))
    return events


def _data(row: dict[str, Any]) -> dict[str, Any]:
    """The row as JSON values: timestamps as the export writes them, the certificate's public
    verification URL beside its code."""
    if "certificate_code" in row:
        code = row["certificate_code"]
        row["verification_url"] = verify_url(code) if code else None
    ordered = [name for name in EXPORT_FIELDS if name in row] + [
        name for name in row if name not in EXPORT_FIELDS
    ]
    return {name: iso(row[name]) if isinstance(row[name], datetime) else row[name] for name in ordered}
