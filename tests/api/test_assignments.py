"""/api/v1/assignments: read with the one status rule, assign by a date (to employee ids, a
department or everyone), waive with a reason; audited with the token as actor."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from courses.models import Enrolment
from tests.api.conftest import all_pages
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import AuditEvent

PATH = "/api/v1/assignments"
LEADERS = "leaders-on-social-media"


def enrolments(app, tenant_id: int) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(Enrolment).where(Enrolment.tenant_id == tenant_id)
        )


def test_assignments_carry_the_status_rule_and_filter_like_the_console(warehouse, world):
    rows = all_pages(warehouse, PATH, limit=3)
    assert {row["employee_id"] for row in rows} == {"E001", "E002", "E003", "E004", "E005", "E006"}
    statuses = {(row["employee_id"], row["course"]): row["status"] for row in rows}
    assert statuses[("E001", "social-media-orientation")] == "completed"
    assert statuses[("E002", "social-media-orientation")] == "overdue"
    assert statuses[("E006", "social-media-orientation")] == "waived"
    overdue = warehouse.get(PATH, query_string={"status": "overdue"}).json["data"]
    assert {row["employee_id"] for row in overdue} == {"E002"}
    ada = warehouse.get(PATH, query_string={"employee_id": "E001", "course": LEADERS}).json["data"]
    assert [row["status"] for row in ada] == ["not_started"]
    one = warehouse.get(f"{PATH}/{ada[0]['id']}")
    assert one.status_code == 200 and one.json == ada[0]


def test_assign_by_a_date_to_employees_then_again_assigns_nobody(app, hr_system, tokens, world):
    due_on = (utcnow() + timedelta(days=30)).date().isoformat()
    body = {"course": LEADERS, "due_on": due_on, "employee_ids": ["E002", "E004"]}
    answer = hr_system.post(PATH, body)
    assert answer.status_code == 200 and answer.json == {"assigned": 2}
    assert hr_system.post(PATH, body).json == {"assigned": 0}
    rows = hr_system.get(PATH, query_string={"course": LEADERS, "employee_id": "E004"}).json["data"]
    assert rows[0]["due_at"].startswith(due_on) and rows[0]["source"] == "hr"
    with app.app_context():
        actors = set(
            db.session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "assignment.assigned"))
        )
    assert actors == {f"token:{tokens.write_id}"}


def test_assigning_refuses_what_the_console_refuses_and_writes_nothing(app, hr_system, world):
    before = enrolments(app, world.acme)
    future = (utcnow() + timedelta(days=30)).date().isoformat()
    cases = [
        ({"course": LEADERS, "due_on": "2001-01-01", "everyone": True}, 422, "due_on"),
        ({"course": LEADERS, "due_on": future}, 422, "who"),
        ({"course": LEADERS, "due_on": future, "department": "Sales", "everyone": True}, 422, "who"),
        ({"course": LEADERS, "due_on": future, "employee_ids": ["E002", "G001"]}, 422, "employee_ids"),
        ({"course": "no-such-course", "due_on": future, "everyone": True}, 404, None),
        ({"course": LEADERS, "due_on": "soon", "everyone": True}, 422, "due_on"),
        ({"course": LEADERS, "due_on": future, "employee_ids": "E002"}, 422, "employee_ids"),
    ]
    for body, status, field in cases:
        answer = hr_system.post(PATH, body)
        assert answer.status_code == status, (body, answer.json)
        if field:
            assert field in answer.json["errors"], answer.json
    assert enrolments(app, world.acme) == before


def test_waive_with_a_reason(app, hr_system, tokens, world):
    grace = hr_system.get(PATH, query_string={"employee_id": "E002"}).json["data"][0]
    short = hr_system.post(f"{PATH}/{grace['id']}/waive", {"reason": "no"})
    assert short.status_code == 422 and set(short.json["errors"]) == {"reason"}
    answer = hr_system.post(f"{PATH}/{grace['id']}/waive", {"reason": "On long-term leave"})
    assert answer.status_code == 200
    assert (answer.json["status"], answer.json["waiver_reason"]) == ("waived", "On long-term leave")
    again = hr_system.post(f"{PATH}/{grace['id']}/waive", {"reason": "On long-term leave"})
    assert again.status_code == 409
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "assignment.waived")).one()
    assert event.actor == f"token:{tokens.write_id}"
