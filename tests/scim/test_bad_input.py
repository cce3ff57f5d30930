"""Bad input over SCIM: the right 4xx as an RFC 7644 error (schemas, status, scimType, detail)
saying what to fix, and nothing written. Tokens: missing, unknown, revoked, expired, of another
scope; another tenant's token and ids. Both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from tests.scim.conftest import (
    ENTERPRISE,
    ERROR,
    ScimClient,
    events,
    issue,
    patch,
    people_count,
    person,
    user_body,
)
from training_app import api_tokens
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import Tenant


def scim_error(response, status: int, scim_type: str | None = None) -> str:
    body = response.get_json()
    assert response.status_code == status, body
    assert response.headers["Content-Type"] == "application/scim+json"
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    assert body.get("scimType") == scim_type, body
    return body["detail"]


@pytest.fixture
def ann(okta) -> str:
    return okta.create(user_body("E100", "ann@acme.example"))


def unchanged(app, orgs, count_before: int, events_before: int) -> None:
    tenant_id = orgs["acme"].tenant_id
    assert people_count(app, tenant_id) == count_before
    assert len(events(app, tenant_id)) == events_before


@pytest.mark.parametrize(
    ("change", "scim_type", "names"),
    [
        ({"favouriteColour": "blue"}, "invalidSyntax", "favouriteColour"),  # no SCIM schema has it
        ({ENTERPRISE: {"employeeNumber": "E1", "shoeSize": 44}}, "invalidSyntax", "shoeSize"),
        ({"active": "maybe"}, "invalidValue", "active"),
        ({"emails": "ann@acme.example"}, "invalidValue", "emails"),
        ({"title": 7}, "invalidValue", "title"),  # an RFC attribute that is not kept is still checked
        ({"emails": [{"value": "not an email", "type": "work"}]}, "invalidValue", "email"),
        ({ENTERPRISE: {"department": "Sales"}}, "invalidValue", "employeeNumber"),
        ({"userName": None}, "invalidValue", "userName"),
        ({"displayName": "Ann\u202eLee"}, "invalidValue", "full_name"),
        ({"preferredLanguage": "klingon-1"}, "invalidValue", "locale"),
    ],
)
def test_a_create_with_a_bad_value_is_a_400_naming_it_and_writes_nothing(
    app, orgs, okta, change, scim_type, names
):
    body = {**user_body("E100", "ann@acme.example"), **change}
    detail = scim_error(okta.post("/Users", body), 400, scim_type)
    assert names in detail
    unchanged(app, orgs, 0, 1)  # the token's creation only


def test_a_patch_on_an_unknown_attribute_or_with_a_bad_value_is_a_400(app, orgs, okta, ann):
    before = len(events(app, orgs["acme"].tenant_id))
    unknown_path = patch({"op": "replace", "path": "favouriteColour", "value": "blue"})
    assert "favouriteColour" in scim_error(okta.patch(f"/Users/{ann}", unknown_path), 400, "invalidPath")
    unknown_key = patch({"op": "replace", "value": {"favouriteColour": "blue"}})
    assert "favouriteColour" in scim_error(okta.patch(f"/Users/{ann}", unknown_key), 400, "invalidValue")
    bad_op = patch({"op": "frobnicate", "path": "displayName", "value": "x"})
    scim_error(okta.patch(f"/Users/{ann}", bad_op), 400, "invalidValue")
    bad_email = patch({"op": "replace", "path": 'emails[type eq "work"].value', "value": "nope"})
    scim_error(okta.patch(f"/Users/{ann}", bad_email), 400, "invalidValue")
    unchanged(app, orgs, 1, before)
    assert person(app, ann).email == "ann@acme.example"


def test_a_body_that_is_not_json_or_too_large(app, orgs, okta):
    scim_error(okta.post("/Users", "{not json"), 400, "invalidSyntax")
    assert okta.post("/Users", "{}", headers={"Content-Type": "text/plain"}).status_code == 415
    huge = {**user_body("E100", "ann@acme.example"), "nickName": "x" * 70_000}
    assert "65536 bytes" in scim_error(okta.post("/Users", huge), 413)
    unchanged(app, orgs, 0, 1)


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ('userName eq "unterminated', "invalid syntax"),
        ("userName zz 1", "invalid syntax"),
        ('title eq "Boss"', "title"),  # an RFC attribute this service does not keep
        ('favouriteColour eq "blue"', "favouriteColour"),
        ("displayName pr and name.givenName pr", "name.givenName"),  # written, never read
        ("active gt true", ""),
        ('emails[type eq "work"].display eq "x"', ""),
    ],
)
def test_a_bad_filter_is_a_400_invalid_filter(okta, ann, expression, names):
    detail = scim_error(okta.get("/Users", query_string={"filter": expression}), 400, "invalidFilter")
    assert names in detail


def test_sorting_and_bulk_are_not_offered(okta):
    assert okta.get("/Users", query_string={"sortBy": "userName"}).status_code == 501
    assert (
        okta.post("/Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"]}).status_code
        == 501
    )
    assert okta.get("/Me").status_code == 501
    assert okta.get("/Groups").status_code == 404
    response = okta.request("POST", "/Users/1", {})
    assert response.status_code == 405 and "DELETE" in response.headers["Allow"]


def test_a_patch_giving_an_employee_the_email_of_another_is_a_409_and_writes_nothing(app, orgs, okta, ann):
    bob = okta.create(user_body("E101", "bob@acme.example", "Bob Ray"))
    before = len(events(app, orgs["acme"].tenant_id))
    takes_email = patch(
        {"op": "replace", "path": "displayName", "value": "Bob Ann"},
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "ANN@acme.example"},
    )
    detail = scim_error(okta.patch(f"/Users/{bob}", takes_email), 409, "uniqueness")
    assert "ann@acme.example" in detail and "E100" in detail
    takes_user_name = patch({"op": "replace", "path": "userName", "value": "Ann@Acme.example"})
    assert "userName" in scim_error(okta.patch(f"/Users/{bob}", takes_user_name), 409, "uniqueness")
    put = {**user_body("E101", "ann@acme.example", "Bob Ray"), "id": bob}
    scim_error(okta.put(f"/Users/{bob}", put), 409, "uniqueness")
    unchanged(app, orgs, 2, before)
    assert (person(app, bob).email, person(app, bob).name) == ("bob@acme.example", "Bob Ray")


def test_an_employee_id_cannot_change_nor_name_two_people(app, orgs, okta, ann):
    before = len(events(app, orgs["acme"].tenant_id))
    other_id = patch({"op": "replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "E999"})
    scim_error(okta.patch(f"/Users/{ann}", other_id), 400, "mutability")
    again = okta.post("/Users", user_body("E100", "ann.other@acme.example", user_name="other@acme.example"))
    assert "E100" in scim_error(again, 409, "uniqueness")
    same_email = okta.post("/Users", user_body("E200", "ann@acme.example", user_name="ann2@acme.example"))
    assert "E100" in scim_error(same_email, 409, "uniqueness")
    unchanged(app, orgs, 1, before)
    assert person(app, ann).employee_id == "E100"


def test_a_manager_must_be_a_user_here_and_not_oneself(app, okta, entra, ann):
    gus = entra.create(user_body("G1", "gus@globex.example", "Gus Boss"))
    for manager in ("999", gus, "not-an-id"):
        set_manager = patch({"op": "add", "path": f"{ENTERPRISE}:manager", "value": manager})
        assert "manager" in scim_error(okta.patch(f"/Users/{ann}", set_manager), 400, "invalidValue")
    own = patch({"op": "add", "path": f"{ENTERPRISE}:manager", "value": {"value": ann}})
    assert "own manager" in scim_error(okta.patch(f"/Users/{ann}", own), 400, "invalidValue")
    assert person(app, ann).manager_email is None


def test_another_tenants_ids_are_404_and_nothing_is_written_there(app, orgs, okta, entra):
    gus = entra.create(user_body("G1", "gus@globex.example", "Gus Boss"))
    globex_events = len(events(app, orgs["globex"].tenant_id))
    assert okta.get(f"/Users/{gus}").status_code == 404
    assert okta.put(f"/Users/{gus}", {**user_body("G1", "gus@globex.example"), "id": gus}).status_code == 404
    scim_error(okta.patch(f"/Users/{gus}", patch({"op": "replace", "value": {"active": False}})), 404)
    assert okta.delete(f"/Users/{gus}").status_code == 404
    assert (
        okta.get("/Users", query_string={"filter": 'userName eq "gus@globex.example"'}).get_json()[
            "totalResults"
        ]
        == 0
    )
    assert okta.get("/Users/99999999999999").status_code == 404
    assert person(app, gus).end_date is None and person(app, gus).name == "Gus Boss"
    assert len(events(app, orgs["globex"].tenant_id)) == globex_events
    # the same employee id in two tenants is two people
    assert okta.post("/Users", user_body("G1", "gus@acme.example")).status_code == 201


def _tokens(app, orgs) -> dict[str, str]:
    with app.app_context():
        acme = db.session.get(Tenant, orgs["acme"].tenant_id)
        revoked_id, revoked = issue(acme, "Old Okta")
        api_tokens.revoke_token(revoked_id, tenant_id=acme.id, actor="test")
        _read_id, read = issue(acme, "Warehouse", scope="read")
        _write_id, write = issue(acme, "Workday", scope="write")
        _short_id, short = issue(acme, "Short", days=1)
        db.session.commit()
    return {"revoked": revoked, "read": read, "write": write, "short": short}


def test_missing_unknown_revoked_expired_and_wrong_scope_tokens(app, orgs):
    tokens = _tokens(app, orgs)
    body = user_body("E100", "ann@acme.example")

    def answer(secret: str | None, header: str | None = None):
        client = ScimClient(app, secret)
        if header is not None:
            client.headers = {"Authorization": header}
        return client.post("/Users", body)

    for secret, header in (
        (None, None),
        ("pw_unknown", None),
        (None, "Basic dXNlcjpwYXNz"),
        (tokens["revoked"], None),
    ):
        response = answer(secret, header)
        scim_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    with time_machine.travel(utcnow() + timedelta(days=2), tick=False):
        assert "expired" in scim_error(answer(tokens["short"]), 401)
    for scope in ("read", "write"):
        response = answer(tokens[scope])
        assert "scim" in scim_error(response, 403)
        assert 'scope="scim"' in response.headers["WWW-Authenticate"]
    assert people_count(app, orgs["acme"].tenant_id) == 0


def test_too_many_requests_from_one_token_is_a_scim_429(app, okta, entra):
    app.config["SCIM_RATE_LIMIT"] = "3 per minute"
    answers = [okta.get("/Users").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    response = okta.get("/Users")
    scim_error(response, 429)
    assert int(response.headers["Retry-After"]) > 0
    assert entra.get("/Users").status_code == 200  # the limit is the token's
