"""/api/v1/certificates: read, verify a code (this organisation's only), revoke with a reason."""

from __future__ import annotations

from sqlalchemy import select

from certificates.models import Certificate
from tests.api.conftest import ApiClient, all_pages
from training_app.extensions import db
from training_app.models import AuditEvent

PATH = "/api/v1/certificates"
CODE = "7KQ2-M9XD-4HPT-ZR3B"


def test_certificates_are_listed_with_their_status_and_filters(warehouse, world):
    rows = all_pages(warehouse, PATH, limit=1)
    assert {(row["code"], row["status"]) for row in rows} == {
        (CODE, "valid"),
        ("REVO-KEDX-0000-0001", "revoked"),
    }
    valid = warehouse.get(PATH, query_string={"status": "valid"}).json["data"]
    assert [row["code"] for row in valid] == [CODE]
    assert valid[0]["verification_url"].endswith(f"/verify/{CODE}")
    one = warehouse.get(f"{PATH}/{valid[0]['id']}")
    assert one.status_code == 200 and one.json == valid[0]
    assert (
        warehouse.get(PATH, query_string={"department": "Sales"}).json["data"][0]["code"].startswith("REVO")
    )
    backwards = warehouse.get(PATH, query_string={"issued_from": "2027-03-02", "issued_to": "2027-03-01"})
    assert backwards.status_code == 422 and "issued_from" in backwards.json["errors"]


def test_verify_a_code_as_typed(warehouse, world):
    answer = warehouse.get(f"{PATH}/verify", query_string={"code": "7kq2 m9xd 4hpt zr3b"})
    assert answer.status_code == 200
    assert (answer.json["code"], answer.json["status"]) == (CODE, "valid")
    assert answer.json["certificate_id"] is not None
    unknown = warehouse.get(f"{PATH}/verify", query_string={"code": "0000-0000-0000-0000"})
    assert unknown.json == {"code": "0000-0000-0000-0000", "status": "unknown", "certificate_id": None}
    bad = warehouse.get(f"{PATH}/verify", query_string={"code": "not a code!"})
    assert bad.status_code == 400 and bad.json["code"] == "invalid_certificate_code"


def test_another_organisations_code_is_unknown(app, tokens, world):
    globex = ApiClient(app, tokens.globex)
    answer = globex.get(f"{PATH}/verify", query_string={"code": CODE})
    assert answer.status_code == 200 and answer.json["status"] == "unknown"


def test_revoke_with_a_reason_once(app, hr_system, warehouse, tokens, world):
    certificate = warehouse.get(PATH, query_string={"status": "valid"}).json["data"][0]
    url = f"{PATH}/{certificate['id']}/revoke"
    assert warehouse.post(url, {"reason": "Issued by mistake"}).status_code == 403
    assert hr_system.post(url, {}).status_code == 422
    answer = hr_system.post(url, {"reason": "Issued by mistake"})
    assert answer.status_code == 200
    assert (answer.json["status"], answer.json["revoked_reason"]) == ("revoked", "Issued by mistake")
    assert warehouse.get(f"{PATH}/verify", query_string={"code": CODE}).json["status"] == "revoked"
    again = hr_system.post(url, {"reason": "Issued by mistake"})
    assert again.status_code == 409 and again.json["code"] == "conflict"
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "certificate.revoked")).one()
        assert event.actor == f"token:{tokens.write_id}"
        assert db.session.get(Certificate, certificate["id"]).revoked_by is None
