"""What each person's folder of an evidence pack says: their records as JSON documents.

Plain functions from the timeline's records (reports.timeline) to JSON-ready dicts; no queries.
Timestamps are ISO 8601 in UTC with the offset written.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any

from certificates.models import Certificate
from reports.evidence_archive import iso
from reports.timeline import AttemptRecord, Delivery, PersonRecords
from training_app.models import AuditEvent

_UNSAFE = re.compile(r"[^\w.-]+")


def folder_of(records: PersonRecords) -> str:
    """`<employee id or user-<id>>-<name slug>`: letters of any script kept, everything else a hyphen."""
    user = records.user
    first = user.employee_id or f"user-{user.id}"
    name = unicodedata.normalize("NFC", user.name or "").lower()
    return "-".join(part for part in (_slug(first), _slug(name)[:60]) if part) or f"user-{user.id}"


def _slug(text: str) -> str:
    return re.sub("-{2,}", "-", _UNSAFE.sub("-", text)).strip("-.")


def person_document(records: PersonRecords, names: dict[str, str]) -> dict[str, Any]:
    user = records.user
    return {
        "user_id": user.id,
        "employee_id": user.employee_id,
        "name": user.name,
        "email": user.email,
        "department": user.department,
        "manager_email": user.manager_email,
        "hire_date": user.hire_date.isoformat() if user.hire_date else None,
        "end_date": user.end_date.isoformat() if user.end_date else None,
        "locale": user.locale,
        "assignments": [
            {
                "enrolment_id": a.enrolment.id,
                "course": a.course.slug,
                "course_title": a.course.title,
                "status": a.status,
                "source": a.enrolment.source,
                "cycle": a.enrolment.cycle,
                "enrolled_at": iso(a.enrolment.enrolled_at),
                "assigned_at": iso(a.enrolment.assigned_at),
                "due_at": iso(a.enrolment.due_at),
                "completed_at": iso(a.enrolment.completed_at),
                "lessons_done": a.lessons_done,
                "waived_at": iso(a.enrolment.waived_at),
                "waived_by": _actor(a.enrolment.waived_by, names),
                "waiver_reason": a.enrolment.waiver_reason,
                "ended_at": iso(a.enrolment.ended_at),
            }
            for a in records.assignments
        ],
        "lms_launches": [
            {
                "enrolment_id": launch.enrolment_id,
                "lms": launch.lms,
                "context": launch.context,
                "link": launch.link,
                "lti_user_id": launch.lti_user_id,
                "last_launch_at": iso(launch.at),
            }
            for launch in records.launches
        ],
        "lessons_completed": [
            {
                "enrolment_id": lesson.enrolment_id,
                "cycle": lesson.cycle,
                "lesson": lesson.slug,
                "title": lesson.title,
                "completed_at": iso(lesson.at),
            }
            for lesson in records.lessons
        ],
        "extra_attempts_granted": [
            {
                "enrolment_id": grant.enrolment_id,
                "cycle": grant.cycle,
                "granted_by": _actor(f"staff:{grant.granted_by}", names),
                "reason": grant.reason,
                "granted_at": iso(grant.granted_at),
            }
            for grant in records.grants
        ],
    }


def attestations_document(records: PersonRecords) -> list[dict[str, Any]]:
    user = records.user
    return [
        {
            "id": a.id,
            "signer": {
                "user_id": user.id,
                "employee_id": user.employee_id,
                "name": user.name,
                "email": user.email,
            },
            "course": a.course_version.course.slug,
            "policy_version": a.course_version.number,
            "content_hash": a.content_hash,
            "policy_text_hash": a.policy_text_hash,
            "cycle": a.cycle,
            "typed_name": a.typed_name,
            "statement": a.statement,
            "locale": a.locale,
            "attested_at": iso(a.attested_at),
            "ip_address": a.ip_address,
            "user_agent": a.user_agent,
        }
        for a in records.attestations
    ]


def attempts_document(records: PersonRecords) -> list[dict[str, Any]]:
    return [_attempt(record, records) for record in records.attempts]


def _attempt(record: AttemptRecord, records: PersonRecords) -> dict[str, Any]:
    attempt = record.attempt
    course = records.course_of(attempt.enrolment_id)
    return {
        "id": attempt.id,
        "course": course.slug if course else None,
        "policy_version": record.version_number,
        "content_hash": record.content_hash,
        "cycle": attempt.cycle,
        "number": attempt.number,
        "locale": attempt.locale,
        "status": attempt.status,
        "started_at": iso(attempt.started_at),
        "submitted_at": iso(attempt.submitted_at),
        "deadline_at": iso(attempt.deadline_at),
        "closed_reason": attempt.closed_reason,
        "score": attempt.score,
        "pass_mark": attempt.pass_mark,
        "passed": attempt.passed,
        "questions": [
            {
                "id": question.id,
                "prompt": question.prompt,
                "points": question.points,
                "options": [
                    {"id": o.id, "text": o.text, "chosen": o.chosen, "correct": o.correct}
                    for o in question.options
                ],
            }
            for question in record.questions
        ],
    }


def results_document(records: PersonRecords) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "enrolment_id": c.enrolment_id,
            "course": c.course.slug,
            "policy_version": c.course_version.number,
            "content_hash": c.content_hash,
            "cycle": c.cycle,
            "status": c.status,
            "score": c.score,
            "attestation_id": c.attestation_id,
            "source": c.source_ref,
            "completed_at": iso(c.completed_at),
            "expires_at": iso(c.expires_at),
        }
        for c in records.completions
    ]


def certificates_document(
    certificates: list[tuple[Certificate, str | None, str]], now: datetime, names: dict[str, str]
) -> list[dict[str, Any]]:
    """(certificate, its PDF's path in the pack or None, its verification URL)."""
    return [
        {
            "code": c.code,
            "course": c.course_slug,
            "policy_version": c.policy_version,
            "content_hash": c.content_hash,
            "holder_name": c.holder_name,
            "score": c.score,
            "completed_at": iso(c.completed_at),
            "issued_at": iso(c.issued_at),
            "expires_at": iso(c.expires_at),
            "status": c.status(now),
            "revoked_at": iso(c.revoked_at),
            "revoked_by": _actor(f"staff:{c.revoked_by}", names) if c.revoked_by else None,
            "verification_url": url,
            "pdf": pdf,
        }
        for c, pdf, url in certificates
    ]


def events_document(events: list[AuditEvent], names: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": e.tenant_id,
            "seq": e.seq,
            "occurred_at": iso(e.occurred_at),
            "actor": e.actor,
            "actor_name": names.get(e.actor, e.actor),
            "action": e.action,
            "subject_type": e.subject_type,
            "subject_id": e.subject_id,
            "data": e.data,
            "ip_address": e.ip_address,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }
        for e in events
    ]


def deliveries_document(records: PersonRecords) -> list[dict[str, Any]]:
    receipts = [_receipt(d, "result") for d in records.deliveries]
    receipts += [
        {
            **_receipt(r.delivery, "reminder"),
            "reminder": {"kind": r.reminder.kind, "recipients": r.reminder.recipients},
        }
        for r in records.reminders
        if r.delivery is not None
    ]
    return receipts


def _receipt(delivery: Delivery, about: str) -> dict[str, Any]:
    return {
        "about": about,
        "outbox_id": delivery.id,
        "kind": delivery.kind,
        "idempotency_key": delivery.key,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "queued_at": iso(delivery.created_at),
        "delivered_at": iso(delivery.delivered_at),
        "last_error": delivery.last_error,
    }


def _actor(actor: str | None, names: dict[str, str]) -> dict[str, str] | None:
    return {"id": actor, "name": names.get(actor, actor)} if actor else None
