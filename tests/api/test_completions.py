"""GET /api/v1/completions: the completions export's rows and columns, the console's filters, in
pages that follow one another by cursor, `updated_since` for incremental syncs; bad parameters
are a clear 400 or 422 (both databases)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from reports.completions import EXPORT_COLUMNS
from tests import factories
from tests.api.conftest import all_pages
from tests.helpers import FormClient
from training_app.extensions import db
from training_app.models import User

PATH = "/api/v1/completions"


def export_rows(app, query: str = "") -> list[dict]:
    """What the console's JSON Lines export holds for the same filters."""
    hr = FormClient(app)
    assert hr.login("hr@acme.example", factories.PASSWORD).status_code == 302
    answer = hr.get(f"/console/learners/export.jsonl{query}")
    assert answer.status_code == 200
    return [json.loads(line) for line in answer.get_data(as_text=True).splitlines()]


def without_api_fields(rows: list[dict]) -> list[dict]:
    return [{name: row[name] for name in EXPORT_COLUMNS} for row in rows]


def by_person_and_course(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: (row["employee_id"] or "", row["course"]))


def test_the_rows_are_the_exports_rows_with_its_columns(app, warehouse, world):
    answer = warehouse.get(PATH)
    assert answer.status_code == 200
    rows = answer.json["data"]
    assert answer.json["next_cursor"] is None
    assert set(rows[0]) == {*EXPORT_COLUMNS, "assignment_id", "person_id", "updated_at"}
    assert by_person_and_course(without_api_fields(rows)) == by_person_and_course(export_rows(app))
    assert [row["assignment_id"] for row in rows] == sorted(row["assignment_id"] for row in rows)
    ada = next(row for row in rows if row["employee_id"] == "E001" and row["status"] == "completed")
    assert ada["certificate_code"] == "7KQ2-M9XD-4HPT-ZR3B" and ada["score"] == 92
    assert ada["verification_url"].endswith("/verify/7KQ2-M9XD-4HPT-ZR3B")
    assert {row["employee_id"] for row in rows} == {"E001", "E002", "E003", "E004", "E005", "E006"}


def test_the_consoles_filters_select_the_same_rows_as_the_export(app, warehouse, world):
    for query in (
        {"status": "overdue"},
        {"department": "Sales"},
        {"q": "ada"},
        {"course": "leaders-on-social-media"},
    ):
        rows = all_pages(warehouse, PATH, **query)
        export = export_rows(app, "?" + "&".join(f"{k}={v}" for k, v in query.items()))
        assert by_person_and_course(without_api_fields(rows)) == by_person_and_course(export), query
        assert rows, query


def test_pages_follow_one_another_by_cursor_without_gaps_or_repeats(warehouse, world):
    everything = warehouse.get(PATH, query_string={"limit": 500}).json["data"]
    first = warehouse.get(PATH, query_string={"limit": 2}).json
    assert len(first["data"]) == 2 and first["next_cursor"]
    paged = all_pages(warehouse, PATH, limit=2)
    assert paged == everything


def test_updated_since_picks_the_rows_whose_record_changed(app, hr_system, warehouse, world):
    assert warehouse.get(PATH, query_string={"updated_since": "2000-01-01T00:00:00Z"}).json["data"]
    since = datetime.now(UTC) + timedelta(seconds=1)
    later = (since + timedelta(days=3650)).isoformat()
    assert warehouse.get(PATH, query_string={"updated_since": later}).json["data"] == []
    with app.app_context():
        grace = db.session.get(User, world.grace)
        grace.updated_at = since + timedelta(seconds=5)  # HR changed her record after `since`
        db.session.commit()
    changed = warehouse.get(PATH, query_string={"updated_since": since.isoformat()}).json["data"]
    assert {row["employee_id"] for row in changed} == {"E002"}
    assert changed[0]["updated_at"] >= since.replace(microsecond=0).isoformat()


def test_impossible_filters_are_a_400_naming_the_filter(warehouse, world):
    answer = warehouse.get(PATH, query_string={"status": "finished", "version": "99999999999"})
    assert answer.status_code == 400
    body = answer.json
    assert body["code"] == "bad_filter" and body["status"] == 400
    assert set(body["errors"]) == {"status", "version"}
    assert "finished" in body["errors"]["status"]
    reversed_range = warehouse.get(PATH, query_string={"due_from": "2027-03-02", "due_to": "2027-03-01"})
    assert reversed_range.status_code == 400 and "due_from" in reversed_range.json["errors"]
    no_such_day = warehouse.get(PATH, query_string={"due_from": "2027-02-30"})
    assert no_such_day.status_code == 422 and set(no_such_day.json["errors"]) == {"due_from"}


def test_unknown_parameters_and_wrong_types_are_a_422_naming_them(warehouse, world):
    answer = warehouse.get(PATH, query_string={"sort": "name", "statuss": "overdue", "limit": "many"})
    assert answer.status_code == 422
    body = answer.json
    assert body["code"] == "validation_failed"
    assert set(body["errors"]) == {"sort", "statuss", "limit"}
    assert body["errors"]["sort"] == "unknown field"
    assert "statuss" in body["message"] and "The fields are:" in body["message"]
    for query in (
        {"limit": 0},
        {"limit": 501},
        {"updated_since": "yesterday"},
        {"updated_since": "2027-01-01T10:00:00"},
    ):
        refused = warehouse.get(PATH, query_string=query)
        assert refused.status_code == 422, query
        assert list(refused.json["errors"]) == list(query), refused.json


def test_a_cursor_that_is_not_this_lists_is_a_400(warehouse, world):
    employees_cursor = warehouse.get("/api/v1/employees", query_string={"limit": 1}).json["next_cursor"]
    for cursor in ("not-a-cursor", "Y29tcGxldGlvbnM6LTE", employees_cursor, "é"):
        answer = warehouse.get(PATH, query_string={"cursor": cursor})
        assert answer.status_code == 400, cursor
        assert answer.json["code"] == "bad_cursor" and "cursor" in answer.json["errors"]
