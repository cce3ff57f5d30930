"""/api/v1/courses (the published courses and versions) and /api/v1/audit-events (the tenant's
chain, oldest first, with names; the console's filters)."""

from __future__ import annotations

from itertools import pairwise

from tests.api.conftest import all_pages

ORIENTATION = "social-media-orientation"


def test_courses_and_their_versions(warehouse, world):
    courses = warehouse.get("/api/v1/courses").json["data"]
    orientation = next(course for course in courses if course["slug"] == ORIENTATION)
    assert orientation["latest_version"]["number"] >= 1 and orientation["latest_version"]["material"] is True
    assert warehouse.get(f"/api/v1/courses/{ORIENTATION}").json == orientation
    versions = warehouse.get(f"/api/v1/courses/{ORIENTATION}/versions").json["data"]
    assert versions[-1] == orientation["latest_version"]
    missing = warehouse.get("/api/v1/courses/no-such-course/versions")
    assert missing.status_code == 404 and missing.json["code"] == "not_found"


def test_the_audit_log_in_chain_order_with_the_consoles_filters(hr_system, warehouse, world):
    hr_system.patch(f"/api/v1/employees/{world.grace}", {"department": "Compilers"})
    events = all_pages(warehouse, "/api/v1/audit-events", limit=2)
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert all(event["prev_hash"] == before["hash"] for before, event in pairwise(events))
    changed = warehouse.get("/api/v1/audit-events", query_string={"action": "employee.changed"}).json["data"]
    assert [(event["actor_name"], event["subject_type"]) for event in changed] == [
        ("Workday (API token)", "user")
    ]
    by_token = warehouse.get("/api/v1/audit-events", query_string={"actor": changed[0]["actor"]}).json["data"]
    assert by_token == changed
    bad = warehouse.get("/api/v1/audit-events", query_string={"subject_id": "3"})
    assert bad.status_code == 400 and "subject_type" in bad.json["errors"]
    wrong = warehouse.get("/api/v1/audit-events", query_string={"since": "last week"})
    assert wrong.status_code == 422 and "since" in wrong.json["errors"]
