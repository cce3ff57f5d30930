"""/api/v1/employees: read, create (or update by employee id), change, end and bring back, by the
CSV import's rules; each write an audit event with the token as actor; refusals write nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from courses.models import Enrolment
from tests import factories
from tests.api.conftest import all_pages
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import AuditEvent, Tenant, User

PATH = "/api/v1/employees"
NEW = {
    "employee_id": "E100",
    "email": "Marie.Curie@acme.example",
    "name": "Marie  Curie",
    "department": "Research",
    "manager_email": "ada@acme.example",
    "hire_date": "2026-01-05",
    "locale": "fr",
}


def counts(app, tenant_id: int) -> tuple[int, int]:
    with app.app_context():
        people = db.session.scalar(select(func.count()).select_from(User).where(User.tenant_id == tenant_id))
        events = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
        )
    return people, events


def events_of(app, tenant_id: int, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.tenant_id == tenant_id, AuditEvent.action == action)
            )
        )


def test_the_list_is_the_tenants_people_with_filters(warehouse, world):
    everyone = all_pages(warehouse, PATH, limit=2)
    assert {person["employee_id"] for person in everyone} == {"E001", "E002", "E003", "E004", "E005", "E006"}
    assert all(person["status"] == "active" for person in everyone)  # no preview learner, no Globex
    ada = warehouse.get(PATH, query_string={"employee_id": "E001"}).json["data"]
    assert [person["email"] for person in ada] == ["ada@acme.example"]
    assert warehouse.get(PATH, query_string={"email": "ADA@acme.example"}).json["data"] == ada
    sales = warehouse.get(PATH, query_string={"department": "Sales"}).json["data"]
    assert {person["employee_id"] for person in sales} == {"E004", "E005", "E006"}
    one = warehouse.get(f"{PATH}/{world.ada}")
    assert one.status_code == 200 and one.json == ada[0]


def test_create_follows_the_import_rules_and_is_audited_with_the_token(app, hr_system, tokens, world):
    answer = hr_system.post(PATH, NEW)
    assert answer.status_code == 201, answer.json
    marie = answer.json
    assert (marie["email"], marie["name"], marie["hire_date"]) == (
        "marie.curie@acme.example",
        "Marie Curie",
        "2026-01-05",
    )
    assert marie["status"] == "active" and marie["end_date"] is None
    (created,) = events_of(app, world.acme, "employee.created")
    assert created.actor == f"token:{tokens.write_id}" and created.subject_id == str(marie["id"])
    names = hr_system.get("/api/v1/audit-events", query_string={"action": "employee.created"}).json["data"]
    assert names[0]["actor_name"] == "Workday (API token)"

    again = hr_system.post(PATH, {**NEW, "department": "Physics"})  # upsert by employee id
    assert again.status_code == 200 and again.json["id"] == marie["id"]
    assert again.json["department"] == "Physics"
    (changed,) = events_of(app, world.acme, "employee.changed")
    assert changed.data == {"department": ["Research", "Physics"]}


def test_a_learner_known_through_the_lms_with_the_email_becomes_the_employee(app, hr_system, world):
    with app.app_context():
        learner = factories.learner(db.session.get(Tenant, world.acme), "Rosalind Franklin")
        db.session.commit()
        learner_id, email = learner.id, learner.email
    answer = hr_system.post(PATH, {"employee_id": "E200", "email": email, "name": "Rosalind Franklin"})
    assert answer.status_code == 200 and answer.json["id"] == learner_id
    assert answer.json["employee_id"] == "E200"


def test_an_email_names_one_person_and_a_manager_must_be_an_employee(app, hr_system, world):
    before = counts(app, world.acme)
    taken = hr_system.post(PATH, {**NEW, "email": "grace@acme.example"})
    assert taken.status_code == 409
    assert taken.json["code"] == "conflict" and taken.json["errors"] == {
        "email": "belongs to another employee"
    }
    assert "E002" in taken.json["message"]
    stranger = hr_system.post(PATH, {**NEW, "manager_email": "nobody@acme.example"})
    assert stranger.status_code == 422 and set(stranger.json["errors"]) == {"manager_email"}
    assert counts(app, world.acme) == before


def test_bad_values_are_a_422_naming_each_field_and_nothing_is_written(app, hr_system, world):
    before = counts(app, world.acme)
    cases = [
        ({**NEW, "email": "not an email"}, {"email"}),
        ({**NEW, "hire_date": "2026-13-01"}, {"hire_date"}),
        ({**NEW, "hire_date": 20260105}, {"hire_date"}),
        ({**NEW, "locale": "français"}, {"locale"}),
        ({**NEW, "end_date": "2025-01-01"}, {"end_date"}),  # before the hire date
        ({key: value for key, value in NEW.items() if key != "name"}, {"name"}),
        ({**NEW, "salary": 100, "ssn": "x"}, {"salary", "ssn"}),
        ({**NEW, "employee_id": ["E1"]}, {"employee_id"}),
    ]
    for body, fields in cases:
        answer = hr_system.post(PATH, body)
        assert answer.status_code == 422, (body, answer.json)
        assert set(answer.json["errors"]) == fields, answer.json
        assert answer.json["message"]
    assert hr_system.post(PATH, [NEW]).status_code == 422
    spoofed = hr_system.post(PATH, {**NEW, "name": "Eve\u202eevil"})  # a right-to-left override
    assert spoofed.status_code == 400 and spoofed.json["errors"] == {"name": "contains U+202E"}
    assert counts(app, world.acme) == before


def test_change_only_what_is_sent_and_never_the_employee_id(app, hr_system, world):
    answer = hr_system.patch(f"{PATH}/{world.grace}", {"department": "Compilers", "locale": "en-US"})
    assert answer.status_code == 200
    assert (answer.json["department"], answer.json["locale"], answer.json["name"]) == (
        "Compilers",
        "en-US",
        "Grace Hopper",
    )
    refused = hr_system.patch(f"{PATH}/{world.grace}", {"employee_id": "E999"})
    assert refused.status_code == 422 and refused.json["errors"] == {"employee_id": "unknown field"}
    cleared = hr_system.patch(f"{PATH}/{world.grace}", {"department": None})
    assert cleared.status_code == 422 and "department" in cleared.json["errors"]
    assert hr_system.get(f"{PATH}/{world.grace}").json["department"] == "Compilers"


def test_ending_an_employee_ends_their_assignments_and_bringing_them_back_reopens_them(app, hr_system, world):
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
    answer = hr_system.post(f"{PATH}/{world.grace}/end", {"end_date": yesterday})
    assert answer.status_code == 200
    assert (answer.json["status"], answer.json["end_date"]) == ("left", yesterday)
    assignments = hr_system.get("/api/v1/assignments", query_string={"person_id": world.grace}).json["data"]
    assert [assignment["status"] for assignment in assignments] == ["ended"]
    assert hr_system.get(PATH, query_string={"status": "left"}).json["data"][0]["id"] == world.grace
    back = hr_system.patch(f"{PATH}/{world.grace}", {"end_date": None})
    assert back.status_code == 200 and back.json["status"] == "active"
    with app.app_context():
        assert db.session.scalar(select(Enrolment.ended_at).where(Enrolment.user_id == world.grace)) is None
    today = hr_system.post(f"{PATH}/{world.lucia}/end", {})
    assert today.status_code == 200 and today.json["end_date"] == utcnow().date().isoformat()


def test_a_read_token_cannot_write_and_nothing_is_written(app, warehouse, world):
    before = counts(app, world.acme)
    for answer in (
        warehouse.post(PATH, NEW),
        warehouse.patch(f"{PATH}/{world.grace}", {"department": "X"}),
        warehouse.post(f"{PATH}/{world.grace}/end", {}),
    ):
        assert answer.status_code == 403
        assert answer.json["code"] == "insufficient_scope"
        assert "scope 'write'" in answer.json["message"]
    assert counts(app, world.acme) == before
