"""Recertification: a new cycle of an enrolment, and who is due for one.

Services take plain values and an explicit user; they flush and never commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from courses.models import Completion, Enrolment
from training_app import audit
from training_app.db import utcnow
from training_app.extensions import db


def start_new_cycle(
    enrolment: Enrolment,
    *,
    source: str,
    due_at: datetime | None,
    actor: str,
    cycle_key: str | None = None,
) -> Enrolment:
    """Retraining: the learner takes the course again (progress, attestation and quiz start afresh).

    Earlier cycles keep their attestations, results and certificates: the history stays (and the
    audit log has each cycle's source and due date).
    """
    enrolment.cycle += 1
    enrolment.source = source
    enrolment.due_at = due_at
    enrolment.assigned_at = utcnow()
    enrolment.cycle_key = cycle_key
    if enrolment.completed_at is not None:  # the cycle that ends passed: its certificate is the previous one
        enrolment.previous_expires_at = enrolment.expires_at
    enrolment.started_at = None
    enrolment.completed_at = enrolment.expires_at = None
    enrolment.last_lesson_slug = None
    enrolment.waived_at = enrolment.waived_by = enrolment.waiver_reason = None
    db.session.flush()
    audit.record_event(
        enrolment.tenant_id,
        actor,
        "enrolment.new_cycle",
        subject=("enrolment", enrolment.id),
        data={
            "course": enrolment.course.slug,
            "cycle": enrolment.cycle,
            "source": source,
            "due_at": due_at.isoformat() if due_at else None,
            "cycle_key": cycle_key,
        },
    )
    return enrolment


def due_for_recertification(within_days: int) -> list[tuple[Enrolment, Completion]]:
    """Enrolments whose current certificate expires within `within_days` (or already has)."""
    horizon = utcnow() + timedelta(days=within_days)
    rows = db.session.execute(
        select(Enrolment, Completion)
        .join(Completion, (Completion.enrolment_id == Enrolment.id) & (Completion.cycle == Enrolment.cycle))
        .where(
            Enrolment.source != "preview",
            Completion.status == "completed",
            Completion.expires_at.is_not(None),
            Completion.expires_at <= horizon,
        )
    ).all()
    return [(enrolment, completion) for enrolment, completion in rows]
