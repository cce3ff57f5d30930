"""What an identity provider does over SCIM, as Okta and Entra ID send it: create, read back, find
by filter, page, update with PUT and PATCH, deactivate (a leaver: end date today, assignments
end and stay in history), re-activate, delete; every write audited as the token; the same person
the CSV import and the REST API know. Both databases."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from courses import services as learning
from courses.models import Enrolment
from people.models import ScimAccount
from tests import factories
from tests.helpers import FormClient, text_of
from tests.journeys import COURSE
from tests.scim.conftest import ENTERPRISE, USER, events, patch, people_count, person, user_body
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import Tenant, User


def test_okta_creates_an_employee_and_reads_it_back(app, orgs, okta):
    body = user_body("E100", "Ann.Lee@Acme.example", phoneNumbers=[{"value": "555-0100", "type": "work"}])
    response = okta.post("/Users", body)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert response.headers["Location"] == f"http://localhost/scim/v2/Users/{created['id']}"
    assert response.headers["Content-Type"] == "application/scim+json"
    assert created["schemas"] == [USER, ENTERPRISE]
    assert created["userName"] == "Ann.Lee@Acme.example"
    assert created["displayName"] == "Ann Lee" and created["active"] is True
    assert created["externalId"] == "00uE100"
    assert created["emails"] == [{"value": "ann.lee@acme.example", "type": "work"}]
    assert created[ENTERPRISE] == {"employeeNumber": "E100", "department": "Sales"}
    assert "phoneNumbers" not in created and "name" not in created  # accepted, not kept
    assert created["meta"]["resourceType"] == "User"
    ann = person(app, created["id"])
    assert (ann.employee_id, ann.email, ann.name, ann.department) == (
        "E100",
        "ann.lee@acme.example",
        "Ann Lee",
        "Sales",
    )
    assert ann.issuer == "hr" and ann.end_date is None and ann.tenant_id == orgs["acme"].tenant_id
    read = okta.get(f"/Users/{created['id']}")
    assert read.status_code == 200 and read.get_json() == created
    actions = [(event.action, event.actor) for event in events(app, orgs["acme"].tenant_id, "")]
    actor = f"token:{orgs['acme'].token_id}"
    assert ("employee.created", actor) in actions and ("scim_account.linked", actor) in actions


def test_a_user_without_display_name_is_named_from_name_parts(app, okta):
    body = user_body("E101", "bo@acme.example", "Bo Ray")
    del body["displayName"]
    created = okta.post("/Users", body).get_json()
    assert created["displayName"] == "Bo Ray" and person(app, created["id"]).name == "Bo Ray"


def test_okta_replaces_a_user_with_put(app, orgs, okta):
    user_id = okta.create(user_body("E100", "ann@acme.example"))
    body = user_body("E100", "ann@acme.example", "Ann Lee-Park", department="Marketing")
    body["id"] = user_id
    response = okta.put(f"/Users/{user_id}", body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["displayName"] == "Ann Lee-Park"
    ann = person(app, user_id)
    assert (ann.name, ann.department) == ("Ann Lee-Park", "Marketing")
    changed = events(app, orgs["acme"].tenant_id, "employee.changed")[-1]
    assert changed.actor == f"token:{orgs['acme'].token_id}"
    assert changed.data["department"] == ["Sales", "Marketing"]


def test_a_put_that_changes_nothing_writes_nothing(app, orgs, okta):
    user_id = okta.create(user_body("E100", "ann@acme.example"))
    before = len(events(app, orgs["acme"].tenant_id))
    body = {**user_body("E100", "ann@acme.example"), "id": user_id}
    assert okta.put(f"/Users/{user_id}", body).status_code == 200
    assert len(events(app, orgs["acme"].tenant_id)) == before


def _enrol(app, user_id: str) -> int:
    with app.app_context():
        enrolment = learning.enrol(db.session.get(User, int(user_id)), COURSE, source="hr")
        db.session.commit()
        return enrolment.id


def _enrolment(app, enrolment_id: int) -> Enrolment:
    with app.app_context():
        return db.session.get(Enrolment, enrolment_id)


def test_okta_deactivates_a_leaver_then_reactivates_them(app, orgs, okta, published):
    user_id = okta.create(user_body("E100", "ann@acme.example"))
    enrolment_id = _enrol(app, user_id)
    today = utcnow().date()

    response = okta.patch(f"/Users/{user_id}", patch({"op": "replace", "value": {"active": False}}))
    assert response.status_code == 204, response.get_json()
    assert person(app, user_id).end_date == today
    ended = _enrolment(app, enrolment_id)
    assert ended is not None and ended.ended_at.date() == today  # kept, ended at the end of today
    assert okta.get(f"/Users/{user_id}").get_json()["active"] is False
    leavers = okta.get("/Users", query_string={"filter": "active eq false"}).get_json()
    assert [user["id"] for user in leavers["Resources"]] == [user_id]
    change = events(app, orgs["acme"].tenant_id, "employee.changed")[-1]
    assert change.data["end_date"] == [None, today.isoformat()]

    response = okta.patch(f"/Users/{user_id}", patch({"op": "replace", "value": {"active": True}}))
    assert response.status_code == 204
    assert person(app, user_id).end_date is None
    assert _enrolment(app, enrolment_id).ended_at is None
    assert okta.get(f"/Users/{user_id}").get_json()["active"] is True


def test_entra_patches_with_its_own_habits(app, orgs, entra):
    """Entra ID: capitalised ops, booleans as strings, the manager as a bare id, an add to
    emails[type eq "work"].value, attributes this service does not keep (ignored)."""
    boss_id = entra.create(user_body("G1", "gus@globex.example", "Gus Boss", user_name="gus@globex.example"))
    user_id = entra.create(user_body("G2", "ida@globex.example", "Ida Ng"))
    response = entra.patch(
        f"/Users/{user_id}",
        patch(
            {"op": "Replace", "path": "displayName", "value": "Ida Ng-Wu"},
            {"op": "Add", "path": 'emails[type eq "work"].value', "value": "ida.ng@globex.example"},
            {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Ops"},
            {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": boss_id},
            {"op": "Replace", "path": "preferredLanguage", "value": "es-MX"},
            {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "555"},
        ),
    )
    assert response.status_code == 204, response.get_json()
    ida = person(app, user_id)
    assert (ida.name, ida.email, ida.department, ida.manager_email, ida.locale) == (
        "Ida Ng-Wu",
        "ida.ng@globex.example",
        "Ops",
        "gus@globex.example",
        "es-MX",
    )
    read = entra.get(f"/Users/{user_id}").get_json()
    assert read[ENTERPRISE]["manager"] == {
        "value": boss_id,
        "$ref": f"http://localhost/scim/v2/Users/{boss_id}",
    }
    assert read["preferredLanguage"] == "es-MX"

    assert (
        entra.patch(
            f"/Users/{user_id}", patch({"op": "Replace", "path": "active", "value": "False"})
        ).status_code
        == 204
    )
    assert person(app, user_id).end_date == utcnow().date()
    assert (
        entra.patch(
            f"/Users/{user_id}", patch({"op": "Replace", "path": "active", "value": "True"})
        ).status_code
        == 204
    )
    assert person(app, user_id).end_date is None

    removal = {"op": "Remove", "path": f"{ENTERPRISE}:manager"}
    assert entra.patch(f"/Users/{user_id}", patch(removal)).status_code == 204
    assert person(app, user_id).manager_email is None
    assert "manager" not in entra.get(f"/Users/{user_id}").get_json()[ENTERPRISE]
    assert {event.actor for event in events(app, orgs["globex"].tenant_id, "employee.")} == {
        f"token:{orgs['globex'].token_id}"
    }


def test_a_patch_with_attributes_answers_the_user(okta):
    user_id = okta.create(user_body("E100", "ann@acme.example"))
    response = okta.patch(
        f"/Users/{user_id}",
        patch({"op": "replace", "path": "displayName", "value": "Ann B. Lee"}),
        query_string={"attributes": "displayName"},
    )
    assert response.status_code == 200
    assert response.get_json()["displayName"] == "Ann B. Lee"


def test_filters_the_identity_providers_send(okta):
    ann = okta.create(user_body("E100", "ann@acme.example", user_name="ann.lee@acme.example"))
    bob = okta.create(user_body("E101", "bob@acme.example", "Bob Ray", department="Ops"))
    okta.create(user_body("E102", "cy@acme.example", "Cy Dee", department="Ops"))

    def found(expression: str) -> list[str]:
        response = okta.get("/Users", query_string={"filter": expression})
        assert response.status_code == 200, (expression, response.get_json())
        listed = response.get_json()
        assert listed["totalResults"] == len(listed["Resources"])
        return [user["id"] for user in listed["Resources"]]

    assert found('userName eq "ANN.LEE@acme.example"') == [ann]  # case-insensitive (RFC 7643)
    assert found('userName eq "nobody@acme.example"') == []
    assert found('externalId eq "00uE101"') == [bob]
    assert found('externalId eq "00ue101"') == []  # externalId is case-exact
    assert found('emails[type eq "work"].value eq "bob@acme.example"') == [bob]
    assert found('emails[type eq "home"].value eq "bob@acme.example"') == []
    assert found('emails.value co "acme"') == sorted([ann, bob, found('externalId eq "00uE102"')[0]], key=int)
    assert found('userName sw "ann" and active eq true') == [ann]
    assert found(f'{ENTERPRISE}:employeeNumber eq "E101" or displayName eq "Ann Lee"') == [ann, bob]
    assert found(f'{ENTERPRISE}:department eq "ops" and not (displayName co "Cy")') == [bob]
    assert found('displayName ew "ray"') == [bob]
    assert found('meta.lastModified gt "2000-01-01T00:00:00Z"') == [ann, bob, str(int(bob) + 1)]
    assert found('userName eq "50%_"') == []  # LIKE characters are literal


def test_pages_by_start_index_and_count(okta):
    ids = [okta.create(user_body(f"E{n}", f"p{n}@acme.example", f"Person {n}")) for n in range(5)]
    page = okta.get("/Users", query_string={"startIndex": 2, "count": 2}).get_json()
    assert page["totalResults"] == 5 and page["startIndex"] == 2 and page["itemsPerPage"] == 2
    assert [user["id"] for user in page["Resources"]] == ids[1:3]
    counted = okta.get("/Users", query_string={"count": 0}).get_json()
    assert counted["totalResults"] == 5 and counted["Resources"] == []
    beyond = okta.get("/Users", query_string={"startIndex": 9}).get_json()
    assert beyond["totalResults"] == 5 and beyond["Resources"] == []
    capped = okta.get("/Users", query_string={"count": 10_000}).get_json()
    assert len(capped["Resources"]) == 5


def test_delete_makes_a_leaver_hidden_from_scim_and_a_new_create_brings_them_back(app, orgs, okta, published):
    user_id = okta.create(user_body("E100", "ann@acme.example"))
    enrolment_id = _enrol(app, user_id)
    response = okta.delete(f"/Users/{user_id}")
    assert response.status_code == 204
    assert okta.get(f"/Users/{user_id}").status_code == 404
    assert okta.delete(f"/Users/{user_id}").status_code == 404
    assert okta.get("/Users").get_json()["totalResults"] == 0
    ann = person(app, user_id)  # the person and their history stay
    assert ann.end_date == utcnow().date() and _enrolment(app, enrolment_id).ended_at is not None
    assert events(app, orgs["acme"].tenant_id, "scim_account.deleted")[0].subject_id == user_id

    again = okta.post("/Users", user_body("E100", "ann@acme.example"))
    assert again.status_code == 201 and again.get_json()["id"] == user_id  # one person, one history
    assert person(app, user_id).end_date is None and _enrolment(app, enrolment_id).ended_at is None
    assert people_count(app, orgs["acme"].tenant_id) == 1


def test_an_employee_from_the_csv_import_is_found_and_taken_over(app, orgs, okta, tmp_path):
    path = tmp_path / "employees.csv"
    path.write_text(
        "employee_id,email,full_name,department,manager_email,hire_date,locale\n"
        "E100,ann@acme.example,Ann Lee,Sales,,2020-01-10,en\n"
    )
    result = app.test_cli_runner().invoke(args=["employees", "import", str(path), "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    listed = okta.get("/Users", query_string={"filter": 'userName eq "ann@acme.example"'}).get_json()
    assert listed["totalResults"] == 1
    imported = listed["Resources"][0]
    assert imported[ENTERPRISE]["employeeNumber"] == "E100" and "externalId" not in imported

    created = okta.post("/Users", user_body("E100", "ann@acme.example", user_name="ann.lee@okta.example"))
    assert created.status_code == 201 and created.get_json()["id"] == imported["id"]
    ann = person(app, imported["id"])
    assert ann.hire_date == date(2020, 1, 10)  # SCIM does not carry it: kept
    assert people_count(app, orgs["acme"].tenant_id) == 1
    with app.app_context():
        account = db.session.scalar(select(ScimAccount).where(ScimAccount.user_id == ann.id))
        assert (account.user_name, account.external_id) == ("ann.lee@okta.example", "00uE100")

    # the next HR file still updates the same person
    path.write_text(
        "employee_id,email,full_name,department,manager_email,hire_date,locale\n"
        "E100,ann@acme.example,Ann Lee,Legal,,2020-01-10,en\n"
    )
    result = app.test_cli_runner().invoke(args=["employees", "import", str(path), "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    assert people_count(app, orgs["acme"].tenant_id) == 1
    assert okta.get(f"/Users/{ann.id}").get_json()[ENTERPRISE]["department"] == "Legal"


def test_discovery_endpoints(okta):
    config = okta.get("/ServiceProviderConfig", headers={"Authorization": ""})
    assert config.status_code == 200  # public, RFC 7643 §5
    body = config.get_json()
    assert body["patch"]["supported"] and body["filter"] == {"supported": True, "maxResults": 200}
    assert not body["bulk"]["supported"] and not body["sort"]["supported"]
    assert body["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = okta.get("/ResourceTypes").get_json()["Resources"]
    assert [(t["name"], t["endpoint"]) for t in types] == [("User", "/Users")]
    assert types[0]["schemaExtensions"] == [{"schema": ENTERPRISE, "required": True}]
    schemas = {schema["id"]: schema for schema in okta.get("/Schemas").get_json()["Resources"]}
    assert [a["name"] for a in schemas[USER]["attributes"]] == [
        "userName",
        "name",
        "displayName",
        "preferredLanguage",
        "active",
        "emails",
    ]
    assert [a["name"] for a in schemas[ENTERPRISE]["attributes"]] == [
        "employeeNumber",
        "department",
        "manager",
    ]
    assert okta.get("/Schemas").status_code == 200
    assert okta.get("/Schemas", headers={"Authorization": ""}).status_code == 401


def test_entra_creates_with_its_default_mappings_and_replaces_several_attributes_at_once(app, orgs, entra):
    body = {
        "schemas": [USER, ENTERPRISE],
        "externalId": "ida.ng",
        "userName": "Ida.Ng@globex.example",
        "active": True,
        "displayName": "Ida Ng",
        "title": "Engineer",
        "preferredLanguage": "es-MX",
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ida Ng", "familyName": "Ng", "givenName": "Ida"},
        "emails": [{"primary": True, "type": "work", "value": "ida.ng@globex.example"}],
        "addresses": [{"type": "work", "formatted": "1 Main St", "primary": False}],
        "phoneNumbers": [{"type": "work", "value": "+1 555 0100"}],
        ENTERPRISE: {"employeeNumber": "G2", "department": "Ops"},
    }
    created = entra.post("/Users", body)
    assert created.status_code == 201, created.get_json()
    user_id = created.get_json()["id"]
    assert created.get_json()["preferredLanguage"] == "es-MX"
    # the aadOptscim062020 shape: one replace whose value names several attributes by path
    several = patch(
        {
            "op": "Replace",
            "value": {
                "displayName": "Ida Ng-Wu",
                "name.familyName": "Ng-Wu",
                f"{ENTERPRISE}:department": "Research",
                "title": "Lead",
            },
        }
    )
    assert entra.patch(f"/Users/{user_id}", several).status_code == 204
    ida = person(app, user_id)
    assert (ida.name, ida.department, ida.locale) == ("Ida Ng-Wu", "Research", "es-MX")
    found = entra.get(
        "/Users", query_string={"filter": 'userName eq "ida.ng@globex.example" and active eq true'}
    )
    assert [user["id"] for user in found.get_json()["Resources"]] == [user_id]


def test_hr_sees_what_the_identity_provider_did_in_the_audit_log(app, orgs, okta):
    user_id = okta.create(user_body("E100", "ann@acme.example"))
    okta.patch(f"/Users/{user_id}", patch({"op": "replace", "value": {"active": False}}))
    with app.app_context():
        factories.staff(db.session.get(Tenant, orgs["acme"].tenant_id), "hr@acme.example")
        db.session.commit()
    hr = FormClient(app)
    assert hr.login("hr@acme.example", factories.PASSWORD).status_code == 302
    page = text_of(hr.get(f"/console/audit?actor=token:{orgs['acme'].token_id}"))
    assert "Okta (API token)" in page
    for action in ("employee.created", "scim_account.linked", "employee.changed"):
        assert action in page
