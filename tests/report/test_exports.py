"""Completion exports (CSV, XLSX, JSON Lines) from the console and the CLI, on both databases:
the documented columns with the database's values, formula cells neutralised, the table's rows
for the same filters, 400 for impossible filters, an audit event for every export, one tenant."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from courses import publishing
from courses.models import Attestation, Completion
from reports import completions, exports
from reports.completions import EXPORT_COLUMNS
from reports.filters import CompletionFilter
from tests import factories
from tests.report.test_people_table import (
    FORMULA_DEPARTMENT,
    FORMULA_NAME,
    NOW,
    ORIENTATION,
    TRICKY_NAME,
    build_world,
    day,
    employee_ids,
)
from training_app.extensions import db
from training_app.models import AuditEvent, StaffAccount

FILENAME = re.compile(r'attachment; filename="completions-acme-\d{8}T\d{6}Z\.(csv|xlsx|jsonl)"')


@pytest.fixture
def world(app, published):
    with app.app_context():
        return build_world()


@pytest.fixture
def hr(client, world):
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302
    return client


def iso(moment: datetime | None) -> str:
    """As the export writes a timestamp: UTC, to the second, the offset written."""
    return moment.replace(microsecond=0).isoformat() if moment else ""


def csv_rows(response) -> list[dict[str, str]]:
    text = response.get_data(as_text=True)
    reader = csv.reader(io.StringIO(text))
    assert next(reader) == list(EXPORT_COLUMNS)
    return [dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in reader]


def xlsx_rows(response) -> list[list[object]]:
    sheet = load_workbook(io.BytesIO(response.data), read_only=True)["Completions"]
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def jsonl_rows(response) -> list[dict[str, object]]:
    lines = response.get_data(as_text=True).splitlines()
    return [json.loads(line) for line in lines]


def test_the_csv_holds_the_documented_columns_with_the_database_values(app, hr, world):
    answer = hr.get("/console/learners/export.csv")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert FILENAME.fullmatch(answer.headers["Content-Disposition"])
    assert answer.headers["Cache-Control"] == "private, no-store"
    rows = csv_rows(answer)
    assert [row["employee_id"] for row in rows] == ["E003", "E001", "E001", "E002", "E004", "E005", "E006"]
    with app.app_context():
        passed = db.session.get(Completion, world.ada_completion)
        signed = db.session.get(Attestation, world.ada_attestation)
        version = publishing.course_by_slug(ORIENTATION)[1]
        enrolment_due = passed.completed_at - timedelta(days=10)
    ada = next(row for row in rows if row["employee_id"] == "E001" and row["course"] == ORIENTATION)
    assert ada == {
        "employee_id": "E001",
        "name": "Ada Lovelace",
        "email": "ada@acme.example",
        "department": "Engineering",
        "manager": "grace@acme.example",
        "course": ORIENTATION,
        "policy_version": str(version.number),
        "content_hash": version.content_hash,
        "status": "completed",
        "score": "92",
        "attested_at": iso(signed.attested_at),  # .999999 s is cut, not rounded
        "completed_at": iso(passed.completed_at),
        "due_at": iso(enrolment_due),
        "expires_at": iso(passed.expires_at),
        "certificate_code": world.certificate_code,
        "verification_url": f"http://localhost/verify/{world.certificate_code}",
        "lms": "Moodle Acme",
    }
    assert ada["completed_at"].endswith("+00:00") and "T" in ada["completed_at"]
    assert signed.attested_at.microsecond == 999_999 and ada["attested_at"] == iso(
        NOW - timedelta(days=10, hours=1)
    )
    by_id = {(row["employee_id"], row["course"]): row for row in rows}
    leaders = by_id["E001", "leaders-on-social-media"]
    assert leaders["status"] == "not_started" and leaders["lms"] == "" and leaders["completed_at"] == ""
    grace = by_id["E002", ORIENTATION]
    assert (grace["status"], grace["score"], grace["policy_version"], grace["certificate_code"]) == (
        "overdue",
        "",
        "",
        "",
    )
    lucia = by_id["E004", ORIENTATION]
    # A failed result is no completion: no score, version or date; the attempt's attestation neither.
    assert (lucia["name"], lucia["status"], lucia["score"], lucia["completed_at"]) == (
        "Lucía Gómez",
        "in_progress",
        "",
        "",
    )
    tom = by_id["E005", ORIENTATION]
    assert (tom["status"], tom["score"], tom["name"]) == ("expired", "75", TRICKY_NAME)
    assert tom["certificate_code"] == "" and tom["verification_url"] == ""  # revoked: not shown
    assert by_id["E006", ORIENTATION]["status"] == "waived"
    assert not {"Preview Person", "Globex Person"} & {row["name"] for row in rows}


def test_formulas_are_neutralised_in_csv_and_xlsx_and_kept_in_jsonl(hr, world):
    row = next(
        row for row in csv_rows(hr.get("/console/learners/export.csv")) if row["employee_id"] == "E003"
    )
    assert row["name"] == "'" + FORMULA_NAME
    assert row["department"] == "'" + FORMULA_DEPARTMENT
    assert row["manager"] == "'-boss@acme.example"

    workbook = hr.get("/console/learners/export.xlsx", buffered=True)
    assert workbook.status_code == 200 and FILENAME.fullmatch(workbook.headers["Content-Disposition"])
    sheet = xlsx_rows(workbook)
    assert sheet[0] == list(EXPORT_COLUMNS)
    formula_row = next(cells for cells in sheet[1:] if cells[0] == "E003")
    assert formula_row[1] == "'" + FORMULA_NAME and formula_row[3] == "'" + FORMULA_DEPARTMENT
    assert all(not (isinstance(value, str) and value.startswith("=")) for cells in sheet for value in cells)
    ada = next(cells for cells in sheet[1:] if cells[0] == "E001" and cells[5] == ORIENTATION)
    assert ada[EXPORT_COLUMNS.index("score")] == 92 and ada[EXPORT_COLUMNS.index("policy_version")] == 1

    raw = next(
        item for item in jsonl_rows(hr.get("/console/learners/export.jsonl")) if item["employee_id"] == "E003"
    )
    assert raw["name"] == FORMULA_NAME and raw["department"] == FORMULA_DEPARTMENT  # data, not a spreadsheet


def test_jsonl_is_one_object_a_line_with_the_schema_keys(hr, world):
    answer = hr.get("/console/learners/export.jsonl?status=completed")
    assert answer.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
    items = jsonl_rows(answer)
    assert len(items) == 1 and list(items[0]) == list(EXPORT_COLUMNS)
    assert items[0]["score"] == 92 and items[0]["lms"] == "Moodle Acme"
    assert items[0]["completed_at"].endswith("+00:00")
    everyone = jsonl_rows(hr.get("/console/learners/export.jsonl"))
    assert len(everyone) == 7
    assert all(
        item["score"] is None
        for item in everyone
        if item["status"] != "completed" and item["employee_id"] != "E005"
    )


@pytest.mark.parametrize(
    "query",
    [
        "",
        "status=overdue",
        "department=Engineering&sort=-due",
        "manager=Grace@Acme.Example",
        "q=%25",
        "version=1&sort=-score",
        f"due_from={(NOW - timedelta(days=4)):%Y-%m-%d}&due_to={(NOW + timedelta(days=5)):%Y-%m-%d}",
        "course=leaders-on-social-media",
        "status=ended",
        "status=counted&sort=-expires",
        "attempts=used_up",
        f"expires_from={day(-40)}&expires_to={day(400)}",
    ],
)
def test_an_export_holds_the_tables_rows_in_its_order(hr, world, query):
    table = employee_ids(hr.get(f"/console/learners?{query}"))
    for fmt in ("csv", "jsonl"):
        answer = hr.get(f"/console/learners/export.{fmt}?{query}")
        assert answer.status_code == 200
        rows = csv_rows(answer) if fmt == "csv" else jsonl_rows(answer)
        assert [row["employee_id"] for row in rows] == table, fmt
    sheet = xlsx_rows(hr.get(f"/console/learners/export.xlsx?{query}", buffered=True))
    assert [cells[0] for cells in sheet[1:]] == table


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
def test_impossible_filters_export_nothing_and_say_why(app, hr, world, fmt):
    answer = hr.get(f"/console/learners/export.{fmt}?due_to=2027-02-30&status=late")
    assert answer.status_code == 400
    assert "due_to" in answer.get_data(as_text=True) and "status" in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "report.exported")) is None


def test_every_export_is_an_audit_event_and_auditors_may_export(app, client, world):
    assert client.login("auditor@acme.example", factories.PASSWORD).status_code == 302
    answer = client.get("/console/learners/export.csv?department=Engineering&status=overdue")
    assert answer.status_code == 200 and len(csv_rows(answer)) == 1
    assert client.get("/console/learners/export.jsonl").status_code == 200
    with app.app_context():
        auditor = db.session.scalar(select(StaffAccount).where(StaffAccount.email == "auditor@acme.example"))
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "report.exported").order_by(AuditEvent.seq)
        ).all()
    assert [(e.tenant_id, e.actor, e.subject_type, e.subject_id) for e in events] == [
        (world.acme, f"staff:{auditor.id}", "report", "completions")
    ] * 2
    assert events[0].data == {
        "format": "csv",
        "filters": {"department": "Engineering", "status": "overdue"},
        "rows": 1,
    }
    assert events[1].data == {"format": "jsonl", "filters": {}, "rows": 7}


def test_staff_export_their_own_tenant_only(client, world):
    assert client.login("hr@globex.example", factories.PASSWORD).status_code == 302
    rows = csv_rows(client.get("/console/learners/export.csv"))
    assert [row["name"] for row in rows] == ["Globex Person"]
    assert csv_rows(client.get("/console/learners/export.csv?q=ada")) == []


def test_exports_need_a_staff_session(client, world):
    answer = client.get("/console/learners/export.csv")
    assert answer.status_code in (302, 401) and b"Ada" not in answer.data


def test_the_cli_writes_the_file_and_says_how_many_rows(app, world, tmp_path):
    out = tmp_path / "overdue.csv"
    runner = app.test_cli_runner()
    done = runner.invoke(
        args=[
            "reports",
            "export",
            "--format",
            "csv",
            "--out",
            str(out),
            "--tenant",
            "acme",
            "--status",
            "overdue",
        ]
    )
    assert done.exit_code == 0, done.output
    assert f"Wrote 1 row(s) to {out}." in done.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(EXPORT_COLUMNS) and lines[1].startswith("E002,Grace Hopper,")
    assert not (tmp_path / "overdue.csv.part").exists()
    for fmt in ("xlsx", "jsonl"):
        target = tmp_path / f"all.{fmt}"
        done = runner.invoke(
            args=["reports", "export", "--format", fmt, "--out", str(target), "--tenant", "acme"]
        )
        assert done.exit_code == 0 and "Wrote 7 row(s)" in done.output, done.output
    assert len(target.read_text(encoding="utf-8").splitlines()) == 7
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "report.exported").order_by(AuditEvent.seq)
        ).all()
    assert [(e.actor, e.data["format"], e.data["rows"]) for e in events] == [
        ("cli", "csv", 1),
        ("cli", "xlsx", 7),
        ("cli", "jsonl", 7),
    ]
    assert events[0].data["filters"] == {"status": "overdue"}


def test_the_cli_refuses_impossible_filters_naming_the_option(app, world, tmp_path):
    out = tmp_path / "x.csv"
    done = app.test_cli_runner().invoke(
        args=[
            "reports",
            "export",
            "--format",
            "csv",
            "--out",
            str(out),
            "--tenant",
            "acme",
            "--due-from",
            "03/01/2027",
        ]
    )
    assert done.exit_code == 2 and "--due-from" in done.output and "YYYY-MM-DD" in done.output
    assert not out.exists()
    unknown = app.test_cli_runner().invoke(
        args=["reports", "export", "--format", "csv", "--out", str(out), "--tenant", "nobody"]
    )
    assert unknown.exit_code != 0 and not out.exists()
    for option, value in (("--expires-to", "2027-02-30"), ("--attempts", "all"), ("--no-department", "no")):
        done = app.test_cli_runner().invoke(
            args=[
                "reports",
                "export",
                "--format",
                "csv",
                "--out",
                str(out),
                "--tenant",
                "acme",
                option,
                value,
            ]
        )
        assert done.exit_code == 2 and option in done.output, done.output
        assert not out.exists()


def test_the_cli_takes_the_expiry_attempts_department_and_counted_filters(app, world, tmp_path):
    out = tmp_path / "chosen.csv"
    chosen = {
        "--expires-from": day(-400),
        "--expires-to": day(400),
        "--status": "counted",
    }
    done = app.test_cli_runner().invoke(
        args=["reports", "export", "--format", "csv", "--out", str(out), "--tenant", "acme"]
        + [word for pair in chosen.items() for word in pair]
    )
    assert done.exit_code == 0 and "Wrote 2 row(s)" in done.output, done.output  # Ada's and Tom's
    assert [line.split(",")[0] for line in out.read_text(encoding="utf-8").splitlines()[1:]] == [
        "E001",
        "E005",
    ]
    for option, value, rows in (("--attempts", "used_up", 1), ("--no-department", "yes", 0)):
        done = app.test_cli_runner().invoke(
            args=[
                "reports",
                "export",
                "--format",
                "jsonl",
                "--out",
                str(out),
                "--tenant",
                "acme",
                option,
                value,
            ]
        )
        assert done.exit_code == 0 and f"Wrote {rows} row(s)" in done.output, done.output
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "report.exported").order_by(AuditEvent.seq)
        ).all()
    assert events[0].data["filters"] == {
        "status": "counted",
        "expires_from": chosen["--expires-from"],
        "expires_to": chosen["--expires-to"],
    }
    assert [event.data["filters"] for event in events[1:]] == [
        {"attempts": "used_up"},
        {"no_department": "yes"},
    ]


@pytest.mark.postgresql_only
def test_postgresqls_copy_writes_the_same_csv_as_the_csv_module(app, world):
    """The console's CSV on PostgreSQL is COPY's; on SQLite, and from the CLI, Python's csv
    module writes it: the same bytes for the same rows (quotes, commas, accents, formulas)."""
    with app.app_context(), app.test_request_context():
        scope = completions.scope_for(world.acme)
        for chosen in (CompletionFilter(), CompletionFilter(sort="-due"), CompletionFilter(q="'")):
            query = exports.export_query(scope, chosen, for_spreadsheet=True)
            copied = b"".join(exports.postgresql_csv(db.engine, query))
            written = b"".join(exports.csv_chunks(exports.rows_of(db.engine, query)))
            assert copied == written
            assert TRICKY_NAME.replace('"', '""').encode() in copied
