"""HR's employee file: checked whole, every problem named by line and column, applied in one
transaction; a dry run changes nothing. The CLI and the console upload, on both databases."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.helpers import FormClient, text_of
from training_app.auth.services import find_tenant
from training_app.extensions import db
from training_app.models import AuditEvent, User

HEADER = "employee_id,email,full_name,department,manager_email,hire_date,locale"
GOOD = f"""{HEADER}
E100,bea.boss@acme.example,Bea Boss,Sales,,2020-01-10,en
E101,ann.lee@acme.example,Ann Lee,Sales,bea.boss@acme.example,2026-11-20,es-MX
E102,bob.ray@acme.example,Bob Ray,Ops,bea.boss@acme.example,2026-02-28,en
"""


@pytest.fixture
def acme(app):
    with app.app_context():
        factories.staff(factories.tenant("acme"), "hr@acme.example")
        factories.staff(find_tenant("acme"), "auditor@acme.example", "auditor")
        db.session.commit()


def run_import(app, tmp_path, text: str | bytes, *extra: str):
    path = tmp_path / "employees.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return app.test_cli_runner().invoke(args=["employees", "import", str(path), "--tenant", "acme", *extra])


def people(app) -> dict[str, User]:
    with app.app_context():
        return {
            user.employee_id: user
            for user in db.session.scalars(select(User).where(User.employee_id.is_not(None)))
        }


def test_a_file_creates_then_updates_and_ends_employees(app, acme, tmp_path):
    result = run_import(app, tmp_path, GOOD)
    assert result.exit_code == 0, result.output
    assert "Created 3, changed 0" in result.output
    found = people(app)
    assert found["E101"].name == "Ann Lee" and found["E101"].manager_email == "bea.boss@acme.example"
    assert found["E101"].locale == "es-MX" and str(found["E102"].hire_date) == "2026-02-28"
    changed = (
        GOOD.replace("Ann Lee,Sales", "Ann Lee-Park,Marketing")
        + "E103,cy@acme.example,Cy Dee,Ops,,2025-05-01,en\n"
    )
    changed = changed.replace(HEADER, HEADER + ",end_date").replace(
        "2026-02-28,en", "2026-02-28,en,2026-12-31"
    )
    result = run_import(app, tmp_path, changed)
    assert result.exit_code == 0, result.output
    assert "Created 1, changed 2 (of which 1 leaving), 1 unchanged" in result.output
    found = people(app)
    assert found["E101"].department == "Marketing" and str(found["E102"].end_date) == "2026-12-31"
    with app.app_context():
        events = list(
            db.session.scalars(select(AuditEvent.action).where(AuditEvent.action == "employees.imported"))
        )
        assert len(events) == 2


def test_semicolons_a_bom_and_header_spelling_as_spreadsheets_write_them(app, acme, tmp_path):
    text = GOOD.replace(",", ";").replace(
        HEADER.replace(",", ";"), "Employee ID;E-mail;Full Name;Department;Manager Email;Hire Date;Locale"
    )
    text = text.replace("E-mail", "Email")
    result = run_import(app, tmp_path, "\ufeff".encode() + text.encode())
    assert result.exit_code == 0, result.output
    assert len(people(app)) == 3


def test_a_dry_run_says_what_would_change_and_changes_nothing(app, acme, tmp_path):
    result = run_import(app, tmp_path, GOOD, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Would create 3" in result.output and "Dry run: nothing was changed." in result.output
    assert "new: E101 Ann Lee <ann.lee@acme.example>" in result.output
    assert people(app) == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\xff\xfeE,m".encode("latin-1"), "line 1: the file is not UTF-8 text"),
        (
            HEADER.replace(",locale", "") + "\nE1,a@acme.example,A,B,,2026-01-01\n",
            "line 1, column locale: this column is missing",
        ),
        (
            HEADER + ",favourite_colour\nE1,a@acme.example,A,B,,2026-01-01,en,red\n",
            "line 1, column favourite_colour: unknown column",
        ),
        (
            HEADER + "\nE1,a@acme.example,A,B,,2026-01-01,en\nE1,b@acme.example,B,B,,2026-01-01,en\n",
            "line 3, column employee_id: E1 is already on line 2",
        ),
        (
            HEADER + "\nE1,a@acme.example,A,B,,2026-02-30,en\n",
            "line 2, column hire_date: '2026-02-30' is not a date",
        ),
        (
            HEADER + "\nE1,a@acme.example,A,B,,31/01/2026,en\n",
            "line 2, column hire_date: '31/01/2026' is not a date",
        ),
        (
            HEADER + "\nE1,a@acme.example,A,B,nobody@acme.example,2026-01-01,en\n",
            "line 2, column manager_email: nobody@acme.example is not an employee",
        ),
        (
            HEADER + "\nE1,a@acme.example,A,B,,2026-01-01,en\nE2,a@acme.example,C,B,,2026-01-01,en\n",
            "line 3, column email: a@acme.example is already used on line 2",
        ),
        (
            HEADER + "\nE1,not-an-email,A,B,,2026-01-01,en\n",
            "line 2, column email: 'not-an-email' is not an email address",
        ),
        (HEADER + "\n,a@acme.example,A,B,,2026-01-01,en\n", "line 2, column employee_id: required"),
        (
            HEADER + "\nE1,a@acme.example,Eve\u202eil,B,,2026-01-01,en\n",
            "line 2, column full_name: contains a control or text-direction character (U+202E)",
        ),
        (
            HEADER + ",end_date\nE1,a@acme.example,A,B,,2026-05-01,en,2026-04-01\n",
            "line 2, column end_date: is before the hire date",
        ),
    ],
)
def test_each_bad_file_names_its_problem_and_changes_nothing(app, acme, tmp_path, text, expected):
    result = run_import(app, tmp_path, text)
    assert result.exit_code == 1
    assert expected in result.output, result.output
    assert "nothing was imported" in result.output
    assert people(app) == {}


def test_an_email_already_used_by_another_employee_is_refused(app, acme, tmp_path):
    assert run_import(app, tmp_path, GOOD).exit_code == 0
    clash = f"{HEADER}\nE999,ann.lee@acme.example,Ann Impostor,Sales,,2026-01-01,en\n"
    result = run_import(app, tmp_path, clash)
    assert result.exit_code == 1
    assert "line 2, column email: ann.lee@acme.example belongs to another employee (E101)" in result.output
    assert "E999" not in people(app)


def test_every_problem_of_a_file_is_listed_at_once(app, acme, tmp_path):
    text = HEADER + "\nE1,bad,A,B,,2026-13-01,en\nE2,b@acme.example,,B,,2026-01-01,xx-yy-zz\n"
    result = run_import(app, tmp_path, text)
    assert result.exit_code == 1
    for expected in (
        "line 2, column email",
        "line 2, column hire_date",
        "line 3, column full_name",
        "line 3, column locale",
    ):
        assert expected in result.output
    assert "The file has 4 problems" in result.output


def test_the_console_upload_imports_and_an_auditor_may_not(app, acme):
    hr = FormClient(app)
    hr.login("hr@acme.example", factories.PASSWORD)
    page = hr.get("/console/employees/import")
    assert page.status_code == 200
    token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    dry = hr.post(
        "/console/employees/import",
        data={"csrf_token": token, "dry_run": "1", "file": (io.BytesIO(GOOD.encode()), "employees.csv")},
        content_type="multipart/form-data",
    )
    assert dry.status_code == 200 and "3 would be created" in text_of(dry)
    assert people(app) == {}
    done = hr.post(
        "/console/employees/import",
        data={"csrf_token": token, "file": (io.BytesIO(GOOD.encode()), "employees.csv")},
        content_type="multipart/form-data",
    )
    assert done.status_code == 200 and "3 created" in text_of(done)
    bad = hr.post(
        "/console/employees/import",
        data={
            "csrf_token": token,
            "file": (io.BytesIO((HEADER + "\nE9,x,A,B,,2026-01-01,en\n").encode()), "e.csv"),
        },
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422 and "line 2, column email" in text_of(bad)
    auditor = FormClient(app)
    auditor.login("auditor@acme.example", factories.PASSWORD)
    refused = auditor.post(
        "/console/employees/import",
        data={"csrf_token": auditor.csrf_token(), "file": (io.BytesIO(GOOD.encode()), "employees.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 3
