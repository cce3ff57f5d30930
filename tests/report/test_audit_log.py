"""The audit log page: people's names instead of ids, filters in the URL, bad filters refused
with what to fix, a CSV export that spreadsheets open safely, failed sign-ins recorded."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from tests import factories
from tests.helpers import FormClient, text_of
from training_app import audit
from training_app.extensions import db
from training_app.models import AuditEvent, StaffAccount


@pytest.fixture
def world(app):
    with app.app_context():
        made = factories.two_tenants_with_staff()
        admin = made["acme_admin"]
        admin.name = "=Hana HR"  # a formula in a name: neutralised in the CSV
        learner = factories.learner(made["acme"], name="Lucía Gómez")
        db.session.flush()
        audit.record_event(made["acme"].id, f"staff:{admin.id}", "staff.changed", subject=("staff", admin.id))
        audit.record_event(
            made["acme"].id, f"learner:{learner.id}", "attestation.signed", subject=("user", learner.id)
        )
        audit.record_event(made["acme"].id, "scheduler", "assignment.assigned", subject=("enrolment", 9))
        audit.record_event(made["globex"].id, "cli", "employees.imported", data={"secret": "globex only"})
        db.session.commit()
        return {"admin": admin.id, "learner": learner.id}


def signed_in(app, email: str = "hr@acme.example") -> FormClient:
    client = FormClient(app)
    assert client.login(email, factories.PASSWORD).status_code == 302
    return client


def table(response) -> str:
    return text_of(response).split("<tbody>")[1].split("</tbody>")[0]


def test_the_log_names_people_and_never_shows_another_tenants_events(app, world):
    page = text_of(signed_in(app).get("/console/audit"))
    assert "=Hana HR (hr@acme.example)" in page and "staff:" not in page.split("<tbody>")[1]
    assert "Lucía Gómez (lucía@acme.example)" in page
    assert "Scheduler (training tick)" in page
    assert "employees.imported" not in page and "globex only" not in page


def test_filters_by_who_what_and_subject_and_keeps_them_in_the_pages_links(app, world):
    client = signed_in(app)
    by_learner = table(client.get(f"/console/audit?actor=learner:{world['learner']}"))
    assert "attestation.signed" in by_learner and "assignment.assigned" not in by_learner
    by_action = table(
        client.get("/console/audit?action=assignment.assigned&since=2000-01-01&until=2999-12-31")
    )
    assert "Scheduler (training tick)" in by_action and "attestation.signed" not in by_action
    by_subject = table(client.get("/console/audit?subject_type=enrolment&subject_id=9"))
    assert "assignment.assigned" in by_subject and "staff.changed" not in by_subject
    nothing = text_of(client.get("/console/audit?since=2999-01-01"))
    assert "No event matches." in nothing
    assert 'href="/console/audit/export.csv?since=2999-01-01"' in nothing


@pytest.mark.parametrize(
    "query, problem",
    [
        ("since=31/12/2026", "since: a date like 2027-03-31"),
        ("until=9999-12-31", "until: a day up to 9999-12-30"),
        ("since=2027-02-01&until=2027-01-01", "until: on or after the 'from' date"),
        ("subject_id=5", "subject_type: choose the kind of subject for that id"),
        ("action=" + "x" * 101, "action: at most 100 characters"),
    ],
)
def test_a_filter_that_is_not_right_is_a_400_saying_which_and_how(app, world, query, problem):
    response = signed_in(app).get(f"/console/audit?{query}")
    assert response.status_code == 400
    assert problem in text_of(response)


def test_the_csv_export_is_the_filtered_view_safe_in_a_spreadsheet_and_itself_audited(app, world):
    response = signed_in(app, "auditor@acme.example").get("/console/audit/export.csv?action=staff.changed")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="audit-log-acme-' in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "private, no-store"
    header, *rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert header[:5] == ["seq", "occurred_at", "actor", "actor_name", "action"]
    assert [row[4] for row in rows] == ["staff.changed"]
    assert rows[0][3] == "'=Hana HR (hr@acme.example)"  # neutralised: not a formula
    assert rows[0][1].endswith("+00:00")
    with app.app_context():
        exported = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "report.exported"))
        auditor = db.session.scalar(select(StaffAccount).where(StaffAccount.email == "auditor@acme.example"))
    assert exported.actor == f"staff:{auditor.id}"
    assert exported.data == {"report": "audit_log", "format": "csv", "filters": {"action": "staff.changed"}}


def test_the_export_holds_every_event_of_a_long_log_once(app, world):
    with app.app_context():
        tenant_id = db.session.scalar(select(StaffAccount.tenant_id).where(StaffAccount.id == world["admin"]))
        for number in range(2500):
            audit.record_event(tenant_id, "cli", "course.yaml", subject=("course", number))
        db.session.commit()
    response = signed_in(app).get("/console/audit/export.csv?action=course.yaml")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))[1:]
    assert sorted(int(row[5].split()[-1]) for row in rows) == list(range(2500))
