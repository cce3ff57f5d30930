"""A simulated year with a frozen, moving clock, on SQLite and PostgreSQL, with a real SMTP server:
hire -> reminders -> overdue with the manager copied -> completion -> expiring soon -> refresher
assigned -> completion; a calendar-window tenant beside a rolling one; a material version
re-assigning and a minor one not."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from assignments.rules import change_rules, rules_of
from assignments.status import status_column
from courses import publishing
from courses.content import CONTENT_ROOT
from courses.models import Course, Enrolment
from people import services as people
from tests import factories
from tests.conftest import settings_for
from tests.journeys import record_pass
from tests.mail_server import MailServer
from training_app import outbox
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import Tenant, User

START = datetime(2027, 1, 4, 7, 0, tzinfo=UTC)
ACME = """employee_id,email,full_name,department,manager_email,hire_date,locale
A1,bea@acme.example,Bea Boss,Sales,,2019-03-01,en
A2,ann@acme.example,Ann Lee,Sales,bea@acme.example,2027-01-04,es-MX
"""
GLOBEX = """employee_id,email,full_name,department,manager_email,hire_date,locale
G1,gus@globex.example,Gus Old,Ops,,2018-06-01,en
G2,gia@globex.example,Gia New,Ops,,2026-11-15,en
"""


@pytest.fixture
def mail():
    server = MailServer().start()
    yield server
    server.down()


@pytest.fixture
def app_settings(database_url, tmp_path, mail):
    return settings_for(database_url, tmp_path / "instance", **mail.settings())


@pytest.fixture
def content_copy(tmp_path):
    """A writable copy of the built-in course content, to publish new versions of."""
    root = tmp_path / "content"
    shutil.copytree(CONTENT_ROOT, root, ignore=shutil.ignore_patterns("README.md"))
    return root


@pytest.fixture
def world(app):
    with time_machine.travel(START, tick=False), app.app_context():
        publishing.publish_all(material=True, actor="test")
        acme, globex = factories.tenant("acme"), factories.tenant("globex", "Globex")
        change_rules(globex, refresher_mode="calendar", refresher_month=1, refresher_exempt_months=3)
        people.import_employees(acme, ACME.encode(), dry_run=False, actor="test")
        people.import_employees(globex, GLOBEX.encode(), dry_run=False, actor="test")
        db.session.commit()


def tick_and_deliver(app, moment: datetime) -> None:
    with time_machine.travel(moment, tick=False):
        result = app.test_cli_runner().invoke(args=["training", "tick"])
        assert result.exit_code == 0, result.output
        with app.app_context():
            outbox.run_worker(once=True)


def status_of(app, employee_id: str, course: str, moment: datetime) -> str:
    with time_machine.travel(moment, tick=False), app.app_context():
        person = db.session.scalar(select(User).where(User.employee_id == employee_id))
        tenant = db.session.get(Tenant, person.tenant_id)
        column = status_column(utcnow(), rules_of(tenant).expiring_soon_days)
        return db.session.scalar(
            select(column)
            .select_from(Enrolment)
            .join(Course, Course.id == Enrolment.course_id)
            .where(Enrolment.user_id == person.id, Course.slug == course)
        )


def enrolment_of(app, employee_id: str, course: str) -> Enrolment:
    with app.app_context():
        return db.session.scalar(
            select(Enrolment)
            .join(User, User.id == Enrolment.user_id)
            .join(Course, Course.id == Enrolment.course_id)
            .where(User.employee_id == employee_id, Course.slug == course)
        )


def pass_course(app, employee_id: str, course: str, moment: datetime) -> None:
    """The learner's result as the quiz records it (the learner's path is tested elsewhere)."""
    with time_machine.travel(moment, tick=False), app.app_context():
        enrolment = enrolment_of(app, employee_id, course)
        enrolment = db.session.get(Enrolment, enrolment.id)
        record_pass(enrolment, score=100)
        db.session.commit()


def mail_to(mail: MailServer, address: str) -> list:
    return [m for m in mail.messages if address in m.recipients]


def test_a_new_hire_is_reminded_then_overdue_with_the_manager_copied(app, world, mail):
    tick_and_deliver(app, START)
    ann = enrolment_of(app, "A2", "social-media-orientation")
    assert ann.source == "hire_rule" and ann.due_at == datetime(2027, 2, 3, 23, 59, 59, tzinfo=UTC)
    assert enrolment_of(app, "A1", "leaders-on-social-media").source == "leaders_rule"  # Bea manages Ann
    assert status_of(app, "A2", "social-media-orientation", START) == "not_started"
    assert mail_to(mail, "ann@acme.example") == []  # nothing is due for a week

    week_before = datetime(2027, 1, 27, 7, tzinfo=UTC)
    tick_and_deliver(app, week_before)
    tick_and_deliver(app, week_before + timedelta(hours=3))  # twice the same day: one email
    [first] = mail_to(mail, "ann@acme.example")
    assert (
        first.message["Subject"]
        == "Recordatorio: tu capacitación sobre la política de redes sociales vence pronto"
    )
    assert first.recipients == ["ann@acme.example"] and "Social media policy orientation" in first.text
    link = next(line.strip() for line in first.text.splitlines() if "/learn/acme/sign-in" in line)
    assert "course=social-media-orientation" in link

    tick_and_deliver(app, datetime(2027, 2, 2, 7, tzinfo=UTC))  # the day before
    tick_and_deliver(app, datetime(2027, 2, 3, 7, tzinfo=UTC))  # the due date
    overdue = datetime(2027, 2, 10, 7, tzinfo=UTC)  # a week late
    tick_and_deliver(app, overdue)
    assert status_of(app, "A2", "social-media-orientation", overdue) == "overdue"
    last = mail_to(mail, "ann@acme.example")[-1]
    assert "bea@acme.example" in last.recipients and last.message["Cc"] == "bea@acme.example"
    assert len(mail_to(mail, "ann@acme.example")) == 4  # 7 days before, 1 day before, on the day, 7 after


def test_completion_expiry_and_the_rolling_refresher(app, world, mail):
    tick_and_deliver(app, START)
    done = datetime(2027, 1, 20, 9, tzinfo=UTC)
    pass_course(app, "A2", "social-media-orientation", done)
    assert status_of(app, "A2", "social-media-orientation", done) == "completed"
    expires = done + timedelta(days=365)
    quiet = expires - timedelta(days=31)
    tick_and_deliver(app, quiet)
    assert enrolment_of(app, "A2", "social-media-refresher") is None
    assert status_of(app, "A2", "social-media-orientation", quiet) == "completed"
    window = expires - timedelta(days=30)
    tick_and_deliver(app, window)
    refresher = enrolment_of(app, "A2", "social-media-refresher")
    assert refresher.source == "recertification" and refresher.due_at == expires
    assert status_of(app, "A2", "social-media-orientation", window) == "expiring_soon"
    tick_and_deliver(app, window + timedelta(hours=1))
    assert enrolment_of(app, "A2", "social-media-refresher").cycle == 1  # assigned once
    pass_course(app, "A2", "social-media-refresher", window + timedelta(days=2))
    assert status_of(app, "A2", "social-media-refresher", window + timedelta(days=3)) == "completed"
    after = expires + timedelta(days=1)
    assert status_of(app, "A2", "social-media-orientation", after) == "expired"  # never "completed"


def test_a_certificate_already_expired_when_the_refresher_comes_gives_the_refreshers_due_days(
    app, world, mail
):
    """The tick stopped for a while (or the tenant is new): the refresher is not overdue the day
    it is assigned."""
    tick_and_deliver(app, START)
    done = datetime(2027, 1, 20, 9, tzinfo=UTC)
    pass_course(app, "A2", "social-media-orientation", done)
    late = done + timedelta(days=400)
    tick_and_deliver(app, late)
    refresher = enrolment_of(app, "A2", "social-media-refresher")
    with app.app_context():
        due_days = rules_of(db.session.get(Tenant, refresher.tenant_id)).refresher_due_days
    assert refresher.due_at.date() == (late + timedelta(days=due_days)).date()
    assert status_of(app, "A2", "social-media-refresher", late) == "not_started"
    assert status_of(app, "A2", "social-media-orientation", late) == "expired"


def test_a_calendar_window_tenant_assigns_once_a_year_and_exempts_recent_hires(app, world, mail):
    tick_and_deliver(app, START)
    gus = enrolment_of(app, "G1", "social-media-refresher")
    assert gus.cycle_key == "window:2027" and gus.due_at == datetime(2027, 2, 1, 23, 59, 59, tzinfo=UTC)
    assert enrolment_of(app, "G2", "social-media-refresher") is None  # hired within 3 months
    assert enrolment_of(app, "A1", "social-media-refresher") is None  # acme is rolling
    tick_and_deliver(app, START + timedelta(days=3))
    assert enrolment_of(app, "G1", "social-media-refresher").cycle == 1
    pass_course(app, "G1", "social-media-refresher", START + timedelta(days=5))
    next_year = datetime(2028, 1, 3, 7, tzinfo=UTC)
    tick_and_deliver(app, next_year)
    again = enrolment_of(app, "G1", "social-media-refresher")
    assert (again.cycle, again.cycle_key) == (2, "window:2028")
    assert enrolment_of(app, "G2", "social-media-refresher").cycle_key == "window:2028"


def test_a_material_version_reassigns_and_a_minor_one_does_not(app, world, mail, content_copy):
    tick_and_deliver(app, START)
    pass_course(app, "A2", "social-media-orientation", START + timedelta(days=3))
    later = START + timedelta(days=40)
    with time_machine.travel(later, tick=False), app.app_context():
        lesson = next((content_copy / "social-media-orientation" / "lessons" / "en").glob("*.md"))
        lesson.write_text(lesson.read_text() + "\nA clarified sentence.\n")
        publishing.publish("social-media-orientation", material=False, actor="test", root=content_copy)
        db.session.commit()
    tick_and_deliver(app, later)
    assert enrolment_of(app, "A2", "social-media-orientation").cycle == 1
    with time_machine.travel(later + timedelta(days=1), tick=False), app.app_context():
        lesson.write_text(lesson.read_text() + "\nA new rule.\n")
        publishing.publish("social-media-orientation", material=True, actor="test", root=content_copy)
        db.session.commit()
    tick_and_deliver(app, later + timedelta(days=1))
    changed = enrolment_of(app, "A2", "social-media-orientation")
    assert (changed.cycle, changed.source, changed.cycle_key) == (2, "policy_change", "policy:3")
    assert changed.due_at.date() == (later + timedelta(days=31)).date()
    assert status_of(app, "A2", "social-media-orientation", later + timedelta(days=2)) == "expiring_soon"
