"""Hostile values in every field that reaches a page, a PDF, an export, an email, a webhook or an
xAPI statement: markup, formula prefixes, very long strings, NUL bytes and text-direction overrides.

- An LMS learner whose name and custom parameters are markup and formulas is launched through the
  LMS emulator and takes the course: every page shows the text escaped, the CSV and XLSX exports
  neutralise the formulas (JSON Lines keeps the text as it is), the certificate PDF prints the name
  as text (pdftotext reads it), and the webhook, the xAPI statement and the email carry it
  unchanged (JSON) or escaped (HTML).
- Values longer than what is stored are refused with a 400 naming them (a launch's claims, an
  employee file, the API, SCIM), never a database error; an LMS course's title is shortened.
- NUL bytes and text-direction overrides are refused with a clear 4xx and nothing stored at every
  door that does not go through a form (forms and LTI claims: tests/infra/test_edge.py and
  tests/launch/test_launch_security.py).
- What staff type (a waiver's reason, a colleague's name, a webhook's description, the
  certificate's signatory) is escaped in pages, neutralised in the audit log's CSV and printed as
  text in the certificate.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import subprocess
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from certificates.models import Certificate
from feeds import lrs_settings
from lti.claims import CONTEXT, TITLE_SIZE
from lti.models import ResourceLink
from tests import factories
from tests.dispatch.conftest import acme, make_package  # noqa: F401  (fixtures)
from tests.dispatch.steps import launch_body, post_launch
from tests.helpers import FormClient, text_of
from tests.launch.conftest import driver, learner_claims, platform, registered  # noqa: F401  (fixtures)
from tests.launch.steps import pass_course
from tests.launch.test_launch_security import NOTHING_LAUNCHED, launch_rows
from tests.lti_platform.claims import User as LtiUser
from tests.scim.conftest import user_body
from tests.security.conftest import changed_tables, database_fingerprint, staff_client
from training_app import api_tokens, outbox
from training_app.auth.services import find_tenant
from training_app.extensions import db
from training_app.models import OutboxMessage, StaffAccount, User
from webhooks import services as webhooks

SCRIPT = "<script>alert(1)</script>"
IMAGE = '"><img src=x onerror=alert(2)>'
GIVEN = '=HYPERLINK("https://evil.example","Ada")'
NAME = f"{GIVEN} {SCRIPT}"
DEPARTMENT = f"+SUM(1){IMAGE}"
EMPLOYEE_ID = "-E1"
EMAIL = "ada@acme.example"
RAW_MARKUP = ("<script>alert", "<img src=x", "onerror=alert(2)>")


def assert_escaped(page: str, where: str, *, shows: str | None = None) -> None:
    """No hostile markup is live in the page; if `shows` is given, the page shows it as text."""
    for raw in RAW_MARKUP:
        assert raw not in page, f"{where}: {raw!r} is live markup"
    if shows is not None:
        assert shows in html.unescape(page), f"{where} does not show {shows!r}"


def printed_in(pdf: bytes, text: str) -> bool:
    """Whether poppler's pdftotext reads `text` in the PDF (spaces aside: it breaks lines and
    words where the layout does)."""
    result = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True, timeout=60
    )
    printed = "".join(result.stdout.decode().split())
    assert printed.startswith(("CERTIFICATE", "CERTIFICADO")) or "Acme" in printed, printed[:300]
    return "".join(text.split()) in printed


# --- a hostile learner, through every way out -------------------------------------------------


@pytest.fixture
def hostile_learner(app, client, driver, receiver):  # noqa: F811
    """A learner the LMS names with markup and a formula, with a hostile department and employee
    id, who passes the orientation; Acme sends webhooks and xAPI statements to `receiver`."""
    with app.app_context():
        acme = find_tenant("acme")
        hr = db.session.scalar(select(StaffAccount).where(StaffAccount.tenant_id == acme.id))
        webhooks.create_endpoint(
            acme,
            webhooks.EndpointFields(
                receiver.url + "/hooks", IMAGE, ["completion.recorded", "certificate.issued"]
            ),
            staff_id=hr.id,
            ip_address=None,
        )
        lrs_settings.save_connection(
            acme,
            lrs_settings.LrsFields(receiver.url + "/xapi/statements", username="lrs", secret="lrs-secret"),
            staff_id=hr.id,
            ip_address=None,
        )
        db.session.commit()
    user = LtiUser.named("u-hostile", GIVEN, SCRIPT, email=EMAIL)
    claims = learner_claims(
        driver.platform, user=user, custom={"department": DEPARTMENT, "employee_id": EMPLOYEE_ID}
    )
    result = driver.launch(claims)
    assert result.status == 200, result.text[:500]
    assert_escaped(result.text, "the launch's course overview")
    pass_course(app, client, name=NAME)
    with app.app_context():
        learner = db.session.scalar(select(User).where(User.subject == "u-hostile"))
        assert (learner.name, learner.department, learner.employee_id) == (NAME, DEPARTMENT, EMPLOYEE_ID)
        certificate = db.session.scalar(select(Certificate).where(Certificate.user_id == learner.id))
        assert certificate.holder_name == NAME
        outbox.run_worker(once=True)
        return {"user_id": learner.id, "certificate_id": certificate.id, "code": certificate.code}


def test_a_hostile_name_is_text_in_the_learners_pages_and_the_certificate(app, client, hostile_learner):
    certificate_id = hostile_learner["certificate_id"]
    for path in ("/courses/social-media-orientation/", "/learn/", "/quiz/social-media-orientation/"):
        assert_escaped(client.get(path).get_data(as_text=True), path)
    pdf = client.get(f"/certificates/{certificate_id}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert printed_in(pdf.data, NAME)  # printed as text, not parsed as HTML
    verify = FormClient(app).get(f"/verify/{hostile_learner['code']}")
    assert verify.status_code == 200
    assert_escaped(verify.get_data(as_text=True), "the public verification page")


def test_a_hostile_name_is_escaped_in_the_console(app, hostile_learner):
    hr = staff_client(app, "hr@acme.example")
    user_id = hostile_learner["user_id"]
    for path in (
        "/console/",
        "/console/learners",
        f"/console/learners?q={SCRIPT}",
        f"/console/learners/{user_id}",
        "/console/certificates",
        "/console/audit",
        "/console/webhooks/",
        "/console/reminders",
    ):
        response = hr.get(path)
        assert response.status_code == 200, path
        assert_escaped(response.get_data(as_text=True), path)
    assert_escaped(hr.get(f"/console/learners/{user_id}").get_data(as_text=True), "learner", shows=NAME)
    pdf = hr.get(f"/console/certificates/{hostile_learner['certificate_id']}.pdf")
    assert printed_in(pdf.data, NAME)


def test_exports_neutralise_formulas_and_keep_the_text(app, hostile_learner):
    hr = staff_client(app, "hr@acme.example")
    response = hr.get("/console/learners/export.csv")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    [row] = [r for r in rows if "HYPERLINK" in r["name"]]
    assert (row["name"], row["department"], row["employee_id"]) == (
        "'" + NAME,
        "'" + DEPARTMENT,
        "'" + EMPLOYEE_ID,
    )
    download = hr.get("/console/learners/export.xlsx")
    data = download.data
    download.close()
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    sheet = workbook.worksheets[0]
    header, *data = [[cell for cell in row] for row in sheet.iter_rows()]
    names = [cell.value for cell in header]
    [cells] = [r for r in data if "HYPERLINK" in str(r[names.index("name")].value)]
    for column, value in (("name", NAME), ("department", DEPARTMENT), ("employee_id", EMPLOYEE_ID)):
        cell = cells[names.index(column)]
        assert cell.data_type == "s" and cell.value == "'" + value, column
    workbook.close()
    lines = [
        json.loads(line)
        for line in hr.get("/console/learners/export.jsonl").get_data(as_text=True).splitlines()
    ]
    [record] = [r for r in lines if r.get("name") == NAME]
    assert record["department"] == DEPARTMENT  # JSON is no spreadsheet: the text as it is


def test_webhooks_xapi_and_email_carry_the_name_as_data(app, client, hostile_learner, receiver):
    hooks = [r.body for r in receiver.requests if r.path == "/hooks"]
    completed = [body for body in hooks if body["type"] == "completion.recorded"]
    assert completed and completed[0]["data"]["name"] == NAME, hooks
    assert completed[0]["data"]["department"] == DEPARTMENT
    statements = [s for r in receiver.requests if r.path.startswith("/xapi/") for s in r.body]
    assert statements and {s["actor"]["name"] for s in statements} == {NAME}
    asked = FormClient(app).post_form("/learn/acme/sign-in", {"email": EMAIL})
    assert asked.status_code == 200
    with app.app_context():
        [email] = db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "email")
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
        assert_escaped(email.payload["html"], "the sign-in email", shows=NAME)
        assert NAME in email.payload["text"] and SCRIPT not in email.payload["subject"]


# --- too long ---------------------------------------------------------------------------------

LONG = "A" * 10_000


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"name": LONG}, "The name your LMS sent is 10000 characters long; at most 200"),
        ({"email": LONG + "@acme.example"}, "The email your LMS sent is 10013 characters long"),
        ({"custom": {"department": LONG}}, "custom parameter department is 10000 characters long"),
        ({"custom": {"employee_id": LONG}}, "custom parameter employee_id is 10000 characters long"),
    ],
)
def test_a_launch_with_a_value_longer_than_it_may_be_is_refused(app, driver, change, named):  # noqa: F811
    claims = learner_claims(driver.platform, custom=change.get("custom", {}))
    for claim in ("name", "email"):
        if claim in change:
            claims[claim] = change[claim]
    result = driver.launch(claims)
    assert result.status == 400, result.text[:300]
    assert named in html.unescape(result.text)
    assert launch_rows(app) == NOTHING_LAUNCHED


def test_an_lms_courses_very_long_title_is_shortened(app, driver):  # noqa: F811
    claims = learner_claims(driver.platform)
    claims[CONTEXT]["title"] = LONG
    assert driver.launch(claims).status == 200
    with app.app_context():
        assert db.session.scalar(select(ResourceLink.context_title)) == "A" * TITLE_SIZE


EMPLOYEES_HEADER = "employee_id,email,full_name,department,manager_email,hire_date,locale\n"


def import_file(client: FormClient, text: str):
    token = client.csrf_token()
    return client.post(
        "/console/employees/import",
        data={"csrf_token": token, "file": (io.BytesIO(text.encode()), "employees.csv")},
        content_type="multipart/form-data",
    )


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (f"E9,eve@acme.example,{LONG},Sales,,2026-01-05,en\n", "full_name"),
        (f"E9,eve@acme.example,Eve,{LONG},,2026-01-05,en\n", "department"),
        ("E9,eve@acme.example,Eve\x00il,Sales,,2026-01-05,en\n", "U+0000"),
        ("E9,eve@acme.example,Eve \u202egnp.exe,Sales,,2026-01-05,en\n", "U+202E"),
    ],
)
def test_an_employee_file_with_a_hostile_cell_changes_nothing_and_names_the_cell(app, world, row, problem):
    hr = staff_client(app, "hr@acme.example")
    before = database_fingerprint(app)
    refused = import_file(hr, EMPLOYEES_HEADER + "E8,ok@acme.example,Olga Ok,Sales,,2026-01-05,en\n" + row)
    assert refused.status_code in (400, 422), refused.status_code
    page = text_of(refused)
    assert problem in page and "3" in page, page[:2000]  # the line, and what is wrong
    after = database_fingerprint(app)
    assert after == before, changed_tables(before, after)


def employees_csv(*rows: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EMPLOYEES_HEADER.strip().split(","))
    writer.writerows(rows)
    return buffer.getvalue()


def test_an_employee_file_of_formulas_and_markup_is_imported_as_text(app, world):
    hr = staff_client(app, "hr@acme.example")
    imported = import_file(
        hr,
        employees_csv(
            ("E10", "mal@acme.example", GIVEN, "@Sales", "", "2026-01-05", "en"),
            ("E11", "ike@acme.example", IMAGE, "\tTabbed", "", "2026-01-05", "en"),
            ("E12", "cr@acme.example", SCRIPT, "\rCarriage", "", "2026-01-05", "en"),
            ("-E13", "min@acme.example", "-1+2", "+Plus", "", "2026-01-05", "en"),
        ),
    )
    assert imported.status_code == 200, re.sub(r"\s+", " ", text_of(imported))[-1500:]
    assert_escaped(imported.get_data(as_text=True), "the import's result")
    assert_escaped(hr.get("/console/learners").get_data(as_text=True), "the people table")
    export = hr.get("/console/learners/export.csv").get_data(as_text=True).lstrip("\ufeff")
    by_id = {row["employee_id"]: row for row in csv.DictReader(io.StringIO(export))}
    assert by_id["E10"]["name"] == "'" + GIVEN and by_id["E10"]["department"] == "'@Sales"
    assert by_id["E12"]["name"] == SCRIPT  # markup is no formula: unchanged in a CSV
    assert by_id["'-E13"]["name"] == "'-1+2" and by_id["'-E13"]["department"] == "'+Plus"
    with app.app_context():  # what HR sent is stored as sent (a tab or CR kept, or trimmed as space)
        departments = dict(db.session.execute(select(User.employee_id, User.department)).all())
    for employee_id, department in (("E11", "\tTabbed"), ("E12", "\rCarriage")):
        shown = by_id[employee_id]["department"]
        assert shown == departments[employee_id] or shown == "'" + departments[employee_id], (
            shown,
            department,
        )
        assert not shown.startswith(("\t", "\r", "=", "+", "-", "@"))


@pytest.fixture
def hr_system(app, world):
    with app.app_context():
        issued = api_tokens.issue_token(
            find_tenant("acme"), name="Workday", scope="write", expires_in=timedelta(days=1), actor="test"
        )
        db.session.commit()
    return app.test_client(use_cookies=False), {"Authorization": f"Bearer {issued.secret}"}


@pytest.mark.parametrize(
    ("field", "value", "status"),
    [
        ("name", LONG, 422),
        ("department", LONG, 422),
        ("name", "Eve\x00il", 400),
        ("name", "Eve \u202egnp.exe", 400),
        ("department", "Sales\x00", 400),
    ],
)
def test_the_api_refuses_a_hostile_value_clearly_and_stores_nothing(app, hr_system, field, value, status):
    client, headers = hr_system
    before = database_fingerprint(app)
    body = {
        "employee_id": "E20",
        "email": "eve@acme.example",
        "name": "Eve",
        "department": "Sales",
        field: value,
    }
    answer = client.post("/api/v1/employees", json=body, headers=headers)
    assert answer.status_code in (400, 422) and answer.status_code == status, answer.get_json()
    assert field in json.dumps(answer.get_json()["errors"]) or field in answer.get_json()["message"]
    after = database_fingerprint(app)
    assert after == before, changed_tables(before, after)


@pytest.mark.parametrize(
    "change",
    [{"displayName": LONG}, {"displayName": "Eve\x00il"}, {"displayName": "Eve \u202egnp.exe"}],
)
def test_scim_refuses_a_hostile_value_clearly_and_stores_nothing(app, world, change):
    with app.app_context():
        issued = api_tokens.issue_token(
            find_tenant("acme"), name="Okta", scope="scim", expires_in=timedelta(days=1), actor="test"
        )
        db.session.commit()
    before = database_fingerprint(app)
    body = {**user_body("E30", "eve@acme.example", "Eve Example"), **change}
    answer = app.test_client(use_cookies=False).post(
        "/scim/v2/Users",
        json=body,
        headers={"Authorization": f"Bearer {issued.secret}", "Content-Type": "application/scim+json"},
    )
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["detail"], answer.get_json()
    after = database_fingerprint(app)
    assert after == before, changed_tables(before, after)


PACKAGE_NAME = f"@SUM(1) {SCRIPT}"  # no comma: SCORM's "Family, Given" would be turned around


@pytest.mark.parametrize(
    ("name", "status"), [(LONG, 400), ("Eve\x00il", 400), ("Eve \u202egnp.exe", 400), (PACKAGE_NAME, 201)]
)
def test_a_package_launch_names_its_learner_safely(app, client, make_package, name, status):  # noqa: F811
    """A SCORM/cmi5 package's launch carries the LMS's learner name (signed with the package's
    secret): too long or with control characters, it is refused and nothing is stored; markup and
    formulas are text on the page it opens."""
    package = make_package()
    before = database_fingerprint(app)
    answer = post_launch(client, launch_body(package.dispatch_id, package.secret, learner_name=name))
    assert answer.status_code == status, answer.get_json()
    if status != 201:
        assert answer.get_json()["message"]
        after = database_fingerprint(app)
        assert changed_tables(before, after) in ([], ["dispatch_nonces"]), changed_tables(before, after)
        return
    entered = client.get(urlsplit(answer.get_json()["enter_url"]).path, follow_redirects=True)
    assert entered.status_code == 200
    assert_escaped(entered.get_data(as_text=True), "the package's course overview")
    with app.app_context():
        assert db.session.scalar(select(User.name).where(User.issuer != "hr")) == PACKAGE_NAME


# --- what staff type --------------------------------------------------------------------------


def test_what_staff_type_is_escaped_in_pages_neutralised_in_the_audit_csv_and_text_in_the_pdf(app, world):
    hr = staff_client(app, "hr@acme.example")
    reason = f"{GIVEN} {SCRIPT}"
    waived = hr.post_form(f"/console/assignments/{world.ids['enrolment']}/waive", {"reason": reason})
    assert waived.status_code < 400, text_of(waived)[:500]
    added = hr.submit("/console/staff", {"email": "eve@acme.example", "name": SCRIPT, "role": "auditor"})
    assert added.status_code == 201
    assert_escaped(added.get_data(as_text=True), "the new colleague's page")
    described = hr.post_form(
        f"/console/webhooks/{world.ids['endpoint']}/edit",
        {"url": "http://127.0.0.1:9/hooks", "description": IMAGE, "event_types": "certificate.issued"},
    )
    assert described.status_code < 400, text_of(described)[:500]
    for path in (
        "/console/audit",
        "/console/staff",
        "/console/webhooks/",
        f"/console/webhooks/{world.ids['endpoint']}",
    ):
        assert_escaped(hr.get(path).get_data(as_text=True), path)
    assert_escaped(hr.get("/console/staff").get_data(as_text=True), "staff", shows=SCRIPT)
    audit = hr.get("/console/audit/export.csv").get_data(as_text=True).lstrip("\ufeff")
    cells = [cell for row in csv.reader(io.StringIO(audit)) for cell in row]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))], [
        cell for cell in cells if cell.startswith(("=", "+", "-", "@"))
    ][:5]
    assert any("HYPERLINK" in cell for cell in cells)  # the reason is there, as text
    branded = hr.submit(
        "/console/branding",
        {
            "primary_colour": "#1f3a5f",
            "accent_colour": "#b8860b",
            "signatory_name": SCRIPT,
            "signatory_title": GIVEN,
        },
    )
    assert branded.status_code < 400, text_of(branded)[:500]
    assert_escaped(hr.get("/console/branding").get_data(as_text=True), "branding")
    pdf = hr.get(f"/console/certificates/{world.ids['certificate']}.pdf").data
    assert printed_in(pdf, SCRIPT) and printed_in(pdf, GIVEN)  # printed as text


def test_the_fingerprint_sees_an_accepted_change(app, world):
    """The control for the "nothing stored" checks above: a row added shows in the fingerprint."""
    before = database_fingerprint(app)
    with app.app_context():
        factories.learner(find_tenant("acme"), "Zed Zero")
        db.session.commit()
    assert changed_tables(before, database_fingerprint(app)) == ["users"]
