"""Recording a cycle's result: once per cycle, handed to the hooks in the same transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from certificates.models import Certificate
from courses import publishing
from courses import services as learning
from courses.models import Completion, Enrolment
from training_app.errors import Conflict
from training_app.extensions import db
from training_app.models import AuditEvent

COURSE = "social-media-orientation"


def record(enrolment: Enrolment, *, passed: bool, score: int) -> learning.RecordedResult:
    _, version = publishing.course_by_slug(COURSE)
    return learning.record_result(
        learning.cycle_of(enrolment.id),
        passed=passed,
        score=score,
        source_ref="test",
        actor="staff:1",
        version=version,
        attestation_id=None,
    )


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_cycle_is_completed_once_and_its_hooks_run_once(app, learner):
    with app.app_context():
        enrolment = db.session.scalar(select(Enrolment).where(Enrolment.user_id == learner))
        result = record(enrolment, passed=True, score=90)
        assert (result.status, result.score, result.course_slug) == ("completed", 90, COURSE)
        assert result.expires_at is not None and result.version_label.startswith("v1")
        db.session.commit()
        for passed in (True, False):
            with pytest.raises(Conflict, match="already completed for the current cycle"):
                record(enrolment, passed=passed, score=100)
            db.session.rollback()
        assert count(Completion) == 1 and count(Certificate) == 1
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
        assert actions[-2:] == ["course.completed", "certificate.issued"]
        db.session.refresh(enrolment)
        assert enrolment.completed_at == result.completed_at


def test_a_failed_result_issues_no_certificate_and_leaves_the_cycle_open(app, learner):
    with app.app_context():
        enrolment = db.session.scalar(select(Enrolment).where(Enrolment.user_id == learner))
        failed = record(enrolment, passed=False, score=40)
        assert failed.status == "failed" and failed.expires_at is None
        passed = record(enrolment, passed=True, score=80)
        db.session.commit()
        assert passed.id != failed.id and count(Completion) == 2 and count(Certificate) == 1
