"""A token works for its own organisation only: every /api/v1 route with an id in its path answers
404 for another organisation's id, whatever the method, and writes nothing there (a new id route
this test does not know fails it, so none is left untried); lists never show another's rows."""

from __future__ import annotations

from datetime import timedelta

from flask import url_for
from sqlalchemy import func, select

from certificates.models import Certificate
from courses.models import Enrolment
from tests.api.conftest import ApiClient
from tests.report.test_people_table import NOW, certify, result
from training_app.extensions import db
from training_app.models import AuditEvent, User

OBJECT_ARGUMENTS = {"person_id", "assignment_id", "certificate_id"}
SHARED_ARGUMENTS = {"slug"}  # courses are the same for every organisation
BODIES = {
    "PATCH": {"department": "Stolen"},
    "POST": {"reason": "not yours", "end_date": "2026-01-01"},
}


def globex_ids(app, world) -> dict[str, int]:
    with app.app_context():
        person = db.session.scalar(
            select(User).where(User.tenant_id == world.globex, User.employee_id == "G001")
        )
        enrolment = db.session.scalar(select(Enrolment).where(Enrolment.user_id == person.id))
        passed = result(enrolment, passed=True, score=90, completed=NOW, expires=NOW + timedelta(days=365))
        certify(passed, "GLOB-EXCE-RT00-0001")
        db.session.commit()
        certificate = db.session.scalar(select(Certificate.id).where(Certificate.tenant_id == world.globex))
        return {"person_id": person.id, "assignment_id": enrolment.id, "certificate_id": certificate}


def written_in(app, tenant_id: int) -> list[int]:
    """Rows of the organisation that a write would add or change (events, people, assignments),
    and revoked certificates."""
    with app.app_context():
        counts = [
            db.session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant_id))
            for model in (AuditEvent, User, Enrolment)
        ]
        revoked = select(func.count()).select_from(Certificate).where(Certificate.revoked_at.is_not(None))
        return [*counts, db.session.scalar(revoked)]


def api_routes_naming_objects(app) -> list[tuple[str, str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or not rule.arguments - SHARED_ARGUMENTS:
            continue
        unknown = rule.arguments - OBJECT_ARGUMENTS - SHARED_ARGUMENTS
        assert not unknown, f"{rule.rule}: teach this test the ids {unknown}"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, method, rule.endpoint))
    return found


def test_every_api_url_naming_another_organisations_object_is_a_404(app, hr_system, world):
    ids = globex_ids(app, world)
    before = written_in(app, world.globex)
    tried = set()
    for rule, method, endpoint in api_routes_naming_objects(app):
        with app.test_request_context():
            url = url_for(endpoint, **{name: ids[name] for name in ids if f":{name}>" in rule})
        if method == "GET":
            answer = hr_system.get(url)
        elif method == "PATCH":
            answer = hr_system.patch(url, BODIES["PATCH"])
        else:
            answer = hr_system.post(url, {k: v for k, v in BODIES["POST"].items() if k in _fields(endpoint)})
        assert answer.status_code == 404, f"{method} {url} answered {answer.status_code}: {answer.get_json()}"
        assert answer.json["code"] == "not_found"
        tried.add((endpoint, method))
    assert len(tried) >= 7, sorted(tried)  # read, change, end a person; read, waive; read, revoke
    assert written_in(app, world.globex) == before


def _fields(endpoint: str) -> set[str]:
    return {"end_date"} if endpoint.endswith("end_employee") else {"reason"}


def test_lists_and_filters_show_the_tokens_organisation_only(app, tokens, world):
    globex = ApiClient(app, tokens.globex)
    for path in ("/api/v1/completions", "/api/v1/employees", "/api/v1/assignments"):
        rows = globex.get(path).json["data"]
        assert rows and all(row.get("employee_id") == "G001" for row in rows), path
    assert globex.get("/api/v1/employees", query_string={"employee_id": "E001"}).json["data"] == []
    assert globex.get("/api/v1/certificates").json["data"] == []
    events = globex.get("/api/v1/audit-events").json["data"]
    assert {event["action"] for event in events} == {"api_token.created"}  # Globex's own token only
