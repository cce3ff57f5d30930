"""Reminders through a real SMTP server that fails as real ones do; the learner's sign-in link that
works exactly once; the tick run twice, and by two processes at once on PostgreSQL, sending each
reminder once; reminders turned off per tenant; waivers and leavers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select

from assignments import services as assignments
from assignments.models import Reminder
from assignments.rules import change_rules
from courses import publishing
from courses.models import Enrolment
from people import services as people
from tests import factories
from tests.conftest import settings_for
from tests.helpers import FormClient, csrf_from, text_of
from tests.mail_server import MailServer
from training_app import outbox
from training_app.auth.services import find_tenant
from training_app.extensions import db
from training_app.models import OutboxMessage, User

ROOT = Path(__file__).resolve().parents[2]
DUE_SOON = datetime(2027, 2, 24, 7, tzinfo=UTC)  # a week before Ann's orientation is due (Mar 3)
EMPLOYEES = """employee_id,email,full_name,department,manager_email,hire_date,locale
A1,bea@acme.example,Bea Boss,Sales,,2019-03-01,en
A2,ann@acme.example,Ann Lee,Sales,bea@acme.example,2027-02-01,en
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
def acme(app):
    with time_machine.travel(datetime(2027, 2, 8, 7, tzinfo=UTC), tick=False), app.app_context():
        publishing.publish_all(material=True, actor="test")
        tenant = factories.tenant("acme")
        factories.staff(tenant, "hr@acme.example")
        people.import_employees(tenant, EMPLOYEES.encode(), dry_run=False, actor="test")
        db.session.commit()


def tick(app, moment: datetime = DUE_SOON) -> str:
    with time_machine.travel(moment, tick=False):
        result = app.test_cli_runner().invoke(args=["training", "tick"])
    assert result.exit_code == 0, result.output
    return result.output


def deliver(app, moment: datetime = DUE_SOON) -> None:
    with time_machine.travel(moment, tick=False), app.app_context():
        outbox.run_worker(once=True)


def email_messages(app) -> list[OutboxMessage]:
    with app.app_context():
        return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")))


def test_a_mail_server_that_is_down_or_refuses_the_login_is_retried_and_nothing_is_lost(app, acme, mail):
    app.config["SMTP_PORT"] = closed_port()  # the server is down
    assert "1 reminder email(s) queued" in tick(app)
    deliver(app)
    [message] = email_messages(app)
    assert message.status == "pending" and "could not reach the mail server" in message.last_error
    app.config["SMTP_PORT"] = mail.port  # back up, but the password changed on the server
    mail.password = "changed-on-the-server"
    retry_now(app, message.id)
    deliver(app)
    [message] = email_messages(app)
    assert message.status == "pending" and "refused the login" in message.last_error
    mail.password = "mail-password-2026"
    retry_now(app, message.id)
    deliver(app)
    [message] = email_messages(app)
    assert message.status == "delivered"
    assert [m.recipients for m in mail.messages] == [["ann@acme.example"]]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def retry_now(app, message_id: int) -> None:
    """The next attempt's time has come (the backoff is tested in tests/infra/test_outbox.py)."""
    with app.app_context():
        db.session.get(OutboxMessage, message_id).next_try_at = datetime(2000, 1, 1, tzinfo=UTC)
        db.session.commit()


def test_a_recipient_the_server_rejects_is_a_final_failure_shown_on_the_reminders_page(app, acme, mail):
    mail.reject = {"ann@acme.example"}
    tick(app)
    deliver(app)
    [message] = email_messages(app)
    assert message.status == "dead" and "refused every recipient" in message.last_error
    hr = FormClient(app)
    hr.login("hr@acme.example", factories.PASSWORD)
    page = text_of(hr.get("/console/reminders"))
    assert "Ann Lee" in page and "failed" in page and "No such user here" in page


def test_the_tick_twice_sends_each_reminder_once_and_reminders_can_be_turned_off(app, acme, mail):
    tick(app)
    tick(app, DUE_SOON + timedelta(hours=5))
    deliver(app)
    assert len(mail.messages) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Reminder)) == 1
        change_rules(find_tenant("acme"), reminders_enabled=False)
        db.session.commit()
    tick(app, DUE_SOON + timedelta(days=6))  # a day before the due date: a reminder would be due
    deliver(app, DUE_SOON + timedelta(days=6))
    assert len(mail.messages) == 1


@pytest.mark.postgresql_only
def test_two_processes_ticking_at_once_send_each_reminder_once(app, acme, mail, database_url, tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "TRAINING_CONFIG": "testing",
        "TRAINING_INSTANCE_PATH": str(tmp_path / "ticks"),
        "TRAINING_LOG_LEVEL": "WARNING",
        "TRAINING_PUBLIC_URL": "http://localhost",
    }
    command = [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "wsgi",
        "training",
        "tick",
        "--now",
        DUE_SOON.isoformat(),
    ]
    runs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Reminder)) == 1
        assert (
            db.session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "email")
            )
            == 1
        )
    deliver(app)
    assert len(mail.messages) == 1


def test_the_sign_in_link_signs_the_learner_in_exactly_once(app, acme, mail):
    tick(app)
    deliver(app)
    reminder = mail.messages[0].text
    link = next(line.strip() for line in reminder.splitlines() if "/learn/acme/sign-in" in line)
    learner = FormClient(app)
    page = learner.get(link.replace("http://localhost", ""))
    assert page.status_code == 200 and 'value="ann@acme.example"' in page.get_data(as_text=True)
    asked = learner.post(
        "/learn/acme/sign-in",
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "email": "ann@acme.example",
            "course": "social-media-orientation",
        },
    )
    assert asked.status_code == 200 and "a sign-in link is on its way" in text_of(asked)
    unknown = learner.post(
        "/learn/acme/sign-in",
        data={"csrf_token": csrf_from(asked.get_data(as_text=True)), "email": "nobody@acme.example"},
    )
    assert text_of(unknown).count("a sign-in link is on its way") == 1  # the same answer: nothing revealed
    deliver(app)
    sign_in_mail = [m for m in mail.messages if "sign-in link" in m.message["Subject"]]
    assert len(sign_in_mail) == 1 and sign_in_mail[0].recipients == ["ann@acme.example"]
    url = next(line.strip() for line in sign_in_mail[0].text.splitlines() if "/learn/sign-in/" in line)
    path = url.replace("http://localhost", "")
    confirm = learner.get(path)  # a mail scanner opening the link uses nothing
    assert confirm.status_code == 200 and "Continue to my training" in text_of(confirm)
    signed_in = learner.post(path, data={"csrf_token": csrf_from(confirm.get_data(as_text=True))})
    assert signed_in.status_code == 303 and signed_in.headers["Location"].endswith(
        "/courses/social-media-orientation/"
    )
    assert learner.get("/courses/social-media-orientation/").status_code == 200
    assert "Social media policy orientation" in text_of(learner.get("/learn/"))
    other = FormClient(app)
    assert "expired or was already used" in text_of(other.get(path))
    reused = other.post(path, data={"csrf_token": other.csrf_token()})
    assert reused.status_code == 400 and "expired or was already used" in text_of(reused)


def test_a_waived_assignment_and_a_leaver_get_no_reminder(app, acme, mail):
    tick(app, DUE_SOON - timedelta(days=20))  # assignments exist, no reminder due yet
    with app.app_context():
        ann = db.session.scalar(select(User).where(User.employee_id == "A2"))
        enrolment_id = db.session.scalar(select(Enrolment.id).where(Enrolment.user_id == ann.id))
        assignments.waive(find_tenant("acme").id, enrolment_id, reason="On long-term leave", actor="staff:1")
        db.session.commit()
    tick(app)
    deliver(app)
    assert mail.messages == []
