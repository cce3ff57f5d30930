"""What HR does by hand beside the rules: assign a course from the console or the command line,
waive, change the rules; and the scheduler's other doors (the worker's --tick-every, the old
`courses recertify` name)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlalchemy import select

from courses import publishing
from courses.models import Course, Enrolment
from people import services as people
from tests import factories
from tests.helpers import FormClient, text_of
from training_app.extensions import db
from training_app.models import AuditEvent, User

TODAY = datetime(2027, 3, 1, 9, tzinfo=UTC)
EMPLOYEES = """employee_id,email,full_name,department,manager_email,hire_date,locale,end_date
S1,sam@acme.example,Sam Sales,Sales,,2019-03-01,en,
S2,sue@acme.example,Sue Sales,Sales,sam@acme.example,2020-05-01,es,
F1,fay@acme.example,Fay Finance,Finance,,2018-01-10,en,
L1,leo@acme.example,Leo Left,Finance,,2018-01-10,en,2027-01-31
"""


@pytest.fixture(autouse=True)
def frozen_today():
    with time_machine.travel(TODAY, tick=False):
        yield


@pytest.fixture
def acme(app):
    """Employees imported before the courses were published: nobody is assigned anything yet."""
    with app.app_context():
        tenant = factories.tenant("acme")
        factories.staff(tenant, "hr@acme.example")
        factories.staff(tenant, "auditor@acme.example", role="auditor")
        people.import_employees(tenant, EMPLOYEES.encode(), dry_run=False, actor="test")
        publishing.publish_all(material=True, actor="test")
        db.session.commit()


def assigned_by_rules(app) -> set[str]:
    with app.app_context():
        return set(
            db.session.scalars(
                select(User.employee_id)
                .join(Enrolment, Enrolment.user_id == User.id)
                .where(Enrolment.source == "hire_rule")
            )
        )


def assigned_by_hr(app, course_slug: str = "leaders-on-social-media") -> dict[str, str]:
    with app.app_context():
        rows = db.session.execute(
            select(User.employee_id, Enrolment.due_at)
            .join(Enrolment, Enrolment.user_id == User.id)
            .join(Course, Course.id == Enrolment.course_id)
            .where(Enrolment.source == "hr", Course.slug == course_slug)
        ).all()
    return {employee_id: due.date().isoformat() for employee_id, due in rows}


def hr_client(app) -> FormClient:
    hr = FormClient(app)
    assert hr.login("hr@acme.example", factories.PASSWORD).status_code == 302
    return hr


def assign(client: FormClient, **form: str):
    return client.submit("/console/assignments/new", {"course": "leaders-on-social-media", **form})


def test_hr_assigns_a_department_then_people_then_everyone_from_the_console(app, acme):
    hr = hr_client(app)
    page = hr.get("/console/assignments/new")
    assert page.status_code == 200
    assert "Finance" in text_of(page) and "Sales" in text_of(page)
    done = assign(hr, due_on="2027-04-30", who="department", department="Sales")
    assert done.status_code == 303
    assert "Assigned to 2 person(s), due 2027-04-30" in text_of(hr.get(done.headers["Location"]))
    assert assigned_by_hr(app) == {"S1": "2027-04-30", "S2": "2027-04-30"}
    again = assign(hr, due_on="2027-04-30", who="department", department="Sales")
    assert "Assigned to 0 person(s)" in text_of(hr.get(again.headers["Location"]))
    assert assign(hr, due_on="2027-05-31", who="people", employee_ids="F1\n").status_code == 303
    assert assign(hr, due_on="2027-06-30", who="everyone").status_code == 303
    assert assigned_by_hr(app) == {  # HR's latest date holds for everyone; the leaver is not asked
        "S1": "2027-06-30",
        "S2": "2027-06-30",
        "F1": "2027-06-30",
    }
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action)))
    assert any(action.startswith("assignment") for action in actions), actions


@pytest.mark.parametrize(
    "form, problem",
    [
        ({"due_on": "2027-02-01", "who": "everyone"}, "The due date is in the past."),
        ({"due_on": "31/04/2027", "who": "everyone"}, "The due date must be a date like 2027-03-31."),
        ({"due_on": "2027-04-30"}, "Choose who"),
        (
            {"due_on": "2027-04-30", "who": "people", "employee_ids": "S1, X9 Y8"},
            "not current employees: X9, Y8",
        ),
        ({"due_on": "2027-04-30", "who": "people", "employee_ids": "L1"}, "not current employees: L1"),
        ({"due_on": "2027-04-30", "who": "department", "department": "Legal"}, "No current employee is in"),
    ],
)
def test_a_bad_assignment_is_refused_with_what_to_fix_and_assigns_nobody(app, acme, form, problem):
    refused = assign(hr_client(app), **form)
    assert refused.status_code == 422
    assert problem in text_of(refused)
    assert 'value="{}"'.format(form["due_on"]) in text_of(refused)  # what was typed is kept
    assert assigned_by_hr(app) == {}


def test_an_auditor_cannot_assign(app, acme):
    auditor = FormClient(app)
    auditor.login("auditor@acme.example", factories.PASSWORD)
    assert auditor.get("/console/assignments/new").status_code == 403
    refused = auditor.post_form(
        "/console/assignments/new",
        {"course": "leaders-on-social-media", "due_on": "2027-04-30", "who": "everyone"},
    )
    assert refused.status_code == 403
    assert assigned_by_hr(app) == {}


def cli(app, *args: str):
    result = app.test_cli_runner().invoke(args=list(args))
    return result


def test_the_command_line_assigns_waives_and_changes_the_rules(app, acme):
    done = cli(
        app,
        "assignments",
        "assign",
        "--tenant",
        "acme",
        "--course",
        "leaders-on-social-media",
        "--due",
        "2027-04-30",
        "--employee-id",
        "S1",
        "--employee-id",
        "F1",
    )
    assert done.exit_code == 0, done.output
    assert "Assigned leaders-on-social-media to 2 person(s), due 2027-04-30." in done.output
    refused = cli(
        app,
        "assignments",
        "assign",
        "--tenant",
        "acme",
        "--course",
        "leaders-on-social-media",
        "--due",
        "2027-04-30",
        "--department",
        "Sales",
        "--everyone",
    )
    assert refused.exit_code != 0 and "Choose who" in refused.output
    with app.app_context():
        enrolment_id = db.session.scalar(select(Enrolment.id).where(Enrolment.source == "hr").limit(1))
    waived = cli(
        app,
        "assignments",
        "waive",
        "--tenant",
        "acme",
        "--assignment",
        str(enrolment_id),
        "--reason",
        "Left the team",
    )
    assert waived.exit_code == 0 and f"Assignment {enrolment_id} is waived." in waived.output
    with app.app_context():
        enrolment = db.session.get(Enrolment, enrolment_id)
        assert enrolment.waived_at is not None and enrolment.waiver_reason == "Left the team"
    rules = cli(
        app, "assignments", "rules", "--tenant", "acme", "--no-reminders", "--orientation-due-days", "21"
    )
    assert rules.exit_code == 0, rules.output
    assert "reminders_enabled: False" in rules.output and "orientation_due_days: 21" in rules.output
    assert "orientation_due_days: 21" in cli(app, "assignments", "rules", "--tenant", "acme").output


def test_courses_recertify_says_it_is_now_the_tick_and_runs_it(app, acme):
    result = cli(app, "courses", "recertify")
    assert result.exit_code == 0, result.output
    assert "now part of `flask --app wsgi training tick`" in result.output
    assert "Tick done: assigned hire 3, leaders 1" in result.output
    assert assigned_by_rules(app) == {"S1", "S2", "F1"}


def test_the_worker_runs_the_tick_on_an_interval(app, acme):
    refused = cli(app, "worker", "--once", "--tick-every", "banana")
    assert refused.exit_code == 2 and "write for example 15m" in refused.output
    assert assigned_by_rules(app) == set()
    result = cli(app, "worker", "--once", "--tick-every", "15m")
    assert result.exit_code == 0, result.output
    assert assigned_by_rules(app) == {"S1", "S2", "F1"}


def test_the_due_date_is_the_end_of_that_day(app, acme):
    cli(
        app,
        "assignments",
        "assign",
        "--tenant",
        "acme",
        "--course",
        "leaders-on-social-media",
        "--due",
        "2027-04-30",
        "--everyone",
    )
    with app.app_context():
        due = db.session.scalar(select(Enrolment.due_at).where(Enrolment.source == "hr").limit(1))
    assert due.date() == date(2027, 4, 30)
