"""The one status rule, case by case, and the reminders' shortcut for its open statuses held equal
to it (assignments.status.is_open), on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from assignments.status import OPEN_STATUSES, STATUSES, is_open, status_column
from courses import publishing
from courses import services as learning
from courses.models import Completion, Enrolment
from tests import factories
from training_app.extensions import db

NOW = datetime(2027, 6, 1, 12, tzinfo=UTC)


def add_result(
    enrolment: Enrolment, *, status: str, cycle: int, completed: datetime, expires: datetime | None
):
    _, version = publishing.course_by_slug("social-media-orientation")
    db.session.add(
        Completion(
            tenant_id=enrolment.tenant_id,
            user_id=enrolment.user_id,
            enrolment_id=enrolment.id,
            course_id=enrolment.course_id,
            course_version_id=version.id,
            cycle=cycle,
            status=status,
            score=90 if status == "completed" else 40,
            content_hash=version.content_hash,
            completed_at=completed,
            expires_at=expires,
        )
    )
    # What the services keep on the assignment's row (courses.services.results, recertification,
    # lessons): the status rule reads only that row.
    if cycle == enrolment.cycle:
        enrolment.started_at = enrolment.started_at or completed
        if status == "completed":
            enrolment.completed_at, enrolment.expires_at = completed, expires
    elif status == "completed":
        enrolment.previous_expires_at = expires


CASES = {
    "not_started": lambda e: None,
    "in_progress": lambda e: setattr(e, "started_at", NOW - timedelta(days=1)),
    "failed_attempt": lambda e: add_result(e, status="failed", cycle=1, completed=NOW, expires=None),
    "overdue": lambda e: setattr(e, "due_at", NOW - timedelta(days=1)),
    "completed": lambda e: add_result(
        e, status="completed", cycle=1, completed=NOW, expires=NOW + timedelta(days=200)
    ),
    "expiring_soon": lambda e: add_result(
        e, status="completed", cycle=1, completed=NOW, expires=NOW + timedelta(days=10)
    ),
    "expired": lambda e: add_result(
        e, status="completed", cycle=1, completed=NOW, expires=NOW - timedelta(days=1)
    ),
    "refresher_open": lambda e: (
        setattr(e, "cycle", 2),
        add_result(
            e,
            status="completed",
            cycle=1,
            completed=NOW - timedelta(days=350),
            expires=NOW + timedelta(days=15),
        ),
    ),
    "renewal_overdue": lambda e: (
        setattr(e, "cycle", 2),
        setattr(e, "due_at", NOW - timedelta(days=2)),
        add_result(
            e,
            status="completed",
            cycle=1,
            completed=NOW - timedelta(days=400),
            expires=NOW - timedelta(days=35),
        ),
    ),
    "waived": lambda e: setattr(e, "waived_at", NOW),
    "ended": lambda e: setattr(e, "ended_at", NOW - timedelta(days=1)),
    "ends_later": lambda e: setattr(e, "ended_at", NOW + timedelta(days=10)),
}
EXPECTED = {
    "not_started": "not_started",
    "in_progress": "in_progress",
    "failed_attempt": "in_progress",
    "overdue": "overdue",
    "completed": "completed",
    "expiring_soon": "expiring_soon",
    "expired": "expired",
    "refresher_open": "expiring_soon",
    "renewal_overdue": "overdue",
    "waived": "waived",
    "ended": "ended",
    "ends_later": "not_started",
}


@pytest.fixture
def statuses(app):
    with app.app_context():
        publishing.publish_all(material=True, actor="test")
        acme = factories.tenant("acme")
        ids = {}
        for name, arrange in CASES.items():
            person = factories.learner(acme, f"Person {name}", subject=name)
            enrolment = learning.enrol(
                person, "social-media-orientation", source="hr", due_at=NOW + timedelta(days=20)
            )
            db.session.flush()
            arrange(enrolment)
            db.session.flush()
            ids[name] = enrolment.id
        db.session.commit()
        rows = db.session.execute(
            select(Enrolment.id, status_column(NOW, 30), is_open(NOW)).where(Enrolment.id.in_(ids.values()))
        ).all()
    by_id = {row[0]: (row[1], bool(row[2])) for row in rows}
    return {name: by_id[enrolment_id] for name, enrolment_id in ids.items()}


def test_each_case_has_its_status(statuses):
    assert {name: status for name, (status, _open) in statuses.items()} == EXPECTED
    assert set(EXPECTED.values()) <= set(STATUSES)


def test_the_reminders_shortcut_agrees_with_the_rule(statuses):
    """Open: the status is an open one, and the current cycle is not the one that passed (a passed
    cycle whose certificate expires soon is "expiring soon" too, with nothing to do yet)."""
    passed_cycles = {"completed", "expiring_soon", "expired"}
    for name, (status, open_) in statuses.items():
        done_this_cycle = name in passed_cycles
        assert open_ == (status in OPEN_STATUSES and not done_this_cycle), name
