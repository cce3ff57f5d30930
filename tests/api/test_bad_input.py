"""Bad input to the API: each answer a clear JSON error naming what to fix, and nothing written
(oversize bodies, bodies that are not JSON or not an object, text no column can hold, values out
of range, ids that cannot exist)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from training_app.extensions import db
from training_app.models import AuditEvent, User

NEW = {"employee_id": "E100", "email": "marie@acme.example", "name": "Marie Curie"}


def written(app) -> tuple[int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(User)),
            db.session.scalar(select(func.count()).select_from(AuditEvent)),
        )


def post_raw(client, path: str, data: bytes | str, content_type: str = "application/json"):
    return client.client.post(path, data=data, headers={**client.headers, "Content-Type": content_type})


def test_an_oversize_body_is_a_413_before_it_is_read(app, hr_system, world):
    before = written(app)
    body = json.dumps({**NEW, "name": "x" * 70_000})
    answer = post_raw(hr_system, "/api/v1/employees", body)
    assert answer.status_code == 413
    assert answer.json["code"] == "payload_too_large"
    assert "at most 65536 bytes" in answer.json["message"]
    assert written(app) == before


def test_a_body_that_is_not_a_json_object_says_so(app, hr_system, world):
    before = written(app)
    broken = post_raw(hr_system, "/api/v1/employees", '{"employee_id": "E100",')
    assert broken.status_code == 400 and broken.json["code"] == "invalid_json"
    a_list = hr_system.post("/api/v1/employees", [NEW])
    assert a_list.status_code == 422 and "body" in a_list.json["errors"]
    form = post_raw(hr_system, "/api/v1/employees", "employee_id=E100", "application/x-www-form-urlencoded")
    assert form.status_code == 422
    assert set(form.json["errors"]) == {"employee_id", "email", "name"}  # no JSON: nothing was sent
    assert written(app) == before


@pytest.mark.parametrize(
    "name",
    ['"Marie\\u0000Curie"', '"Marie\\u202eeiruC"', '"Marie\\ud800"'],
    ids=["nul", "bidi-override", "lone-surrogate"],
)
def test_text_no_column_can_hold_is_refused_naming_the_field(app, hr_system, world, name):
    before = written(app)
    body = '{"employee_id": "E100", "email": "marie@acme.example", "name": ' + name + "}"
    answer = post_raw(hr_system, "/api/v1/employees", body)
    assert answer.status_code in (400, 422), answer.json
    assert "name" in answer.json["errors"]
    assert written(app) == before


def test_text_no_column_can_hold_in_a_query_or_a_list_is_refused(warehouse, hr_system, world):
    answer = warehouse.get("/api/v1/employees", query_string={"department": "Sales\x00"})
    assert answer.status_code == 400 and answer.json["code"] == "unsafe_characters"
    listed = post_raw(
        hr_system,
        "/api/v1/assignments",
        '{"course": "leaders-on-social-media", "due_on": "2099-01-01", "employee_ids": ["E002\\u0000"]}',
    )
    assert listed.status_code == 400 and "employee_ids" in listed.json["errors"]


def test_values_out_of_range_are_a_422_not_a_crash(warehouse, hr_system, world):
    for path, query, field in (
        ("/api/v1/completions", {"due_to": "9999-12-31"}, "due_to"),
        ("/api/v1/completions", {"updated_since": "0001-01-01T00:00:00+05:00"}, "updated_since"),
        ("/api/v1/audit-events", {"until": "9999-12-31"}, "until"),
        ("/api/v1/certificates", {"issued_to": "9999-12-31"}, "issued_to"),
    ):
        answer = warehouse.get(path, query_string=query)
        assert answer.status_code == 422, (path, answer.json)
        assert field in answer.json["errors"]
    far = hr_system.post(
        "/api/v1/assignments", {"course": "leaders-on-social-media", "due_on": "9999-12-31", "everyone": True}
    )
    assert far.status_code == 422 and "due_on" in far.json["errors"]


def test_ids_that_cannot_exist_are_a_404_for_every_method(hr_system, world):
    for method, path in (
        ("GET", "/api/v1/employees/2147483648"),
        ("PATCH", "/api/v1/employees/99999999999"),
        ("POST", "/api/v1/employees/0/end"),
        ("GET", "/api/v1/courses/%00"),
        ("GET", "/api/v1/courses/..%2F..%2Fetc"),
    ):
        client = hr_system.client
        answer = client.open(path, method=method, headers=hr_system.headers, json={})
        assert answer.status_code == 404, (method, path, answer.status_code)
        assert answer.json["code"] == "not_found"


def test_messages_are_in_english_whatever_the_client_asks(hr_system, world):
    answer = hr_system.post(
        "/api/v1/employees", {**NEW, "email": "grace@acme.example"}, headers={"Accept-Language": "es"}
    )
    assert answer.status_code == 409
    assert answer.json["message"] == "grace@acme.example belongs to another employee (E002)."
