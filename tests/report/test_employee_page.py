"""The employee page: who the person is, their assignments with the one status rule, and a
timeline of everything that happened to them, newest first, with names instead of "staff:1".

`everything_happened` builds one person through the product's own doors: an LMS launch (its grade
target), every lesson, the attestation, three failed quiz attempts, an extra attempt granted by HR
on this page, a passed attempt (result, certificate, LMS grade queued), a reminder email and a
waived refresher.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from assignments import reminders
from assignments import services as assignments
from assignments.models import Reminder
from certificates.models import Certificate
from courses import publishing
from courses import services as learning
from courses.models import Attestation, Enrolment
from lti.models import GradeTarget, Platform, ResourceLink
from quizzes.models import QuizAttempt
from tests import factories
from tests.helpers import FormClient, sign_in_learner, text_of
from tests.journeys import COURSE, answer_key, ready_for_quiz, start, submit
from tests.statements import of_request
from training_app import outbox
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import OutboxMessage, User

REFRESHER = "social-media-refresher"


@dataclass(frozen=True)
class Person:
    user_id: int
    enrolment_id: int
    tenant_id: int
    staff_id: int


def everything_happened(app, client) -> Person:
    """Ada in acme (HR admin Hannah, auditor Audrey; globex next door), with one of each event."""
    with app.app_context():
        acme = factories.tenant("acme")
        hannah = factories.staff(acme, "hannah@acme.example")
        factories.staff(acme, "audrey@acme.example", "auditor")
        globex = factories.tenant("globex", "Globex Industries")
        factories.staff(globex, "hr@globex.example")
        ada = factories.learner(acme, "Ada Lovelace", hire_date=date(2026, 1, 5))
        ada.employee_id, ada.manager_email, ada.end_date = "E1001", "grace@acme.example", date(2027, 6, 30)
        factories.learner(acme, "Grace Hopper").email = "grace@acme.example"
        enrolment = ready_for_quiz(ada)
        _launched_from_the_lms(acme.id, enrolment)
        refresher = learning.enrol(ada, REFRESHER, source="hr")
        assignments.waive(acme.id, refresher.id, reason="On parental leave", actor=f"staff:{hannah.id}")
        _reminded(acme.id, ada)
        db.session.commit()
        person = Person(ada.id, enrolment.id, acme.id, hannah.id)
    sign_in_learner(client, person.user_id)
    for _ in range(3):
        attempt_id = start(client)
        submit(client, attempt_id, answer_key(app, attempt_id, right=2))
    hr = FormClient(app)
    hr.login("hannah@acme.example", factories.PASSWORD)
    granted = hr.submit(
        f"/console/learners/{person.user_id}",
        {"reason": "Was ill during attempt 3"},
        action=f"/console/enrolments/{person.enrolment_id}/grant-attempt",
    )
    assert granted.status_code == 303, text_of(granted)
    passed = start(client)
    assert "You passed" in text_of(submit(client, passed, answer_key(app, passed, right=9)))
    with app.app_context():  # the LMS grades wait: a test's worker runs only what it is about
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.kind == "ags_score")
            .values(next_try_at=utcnow() + timedelta(days=1))
        )
        db.session.commit()
    return person


def _launched_from_the_lms(tenant_id: int, enrolment: Enrolment) -> None:
    platform = Platform(
        tenant_id=tenant_id,
        name="Moodle Acme",
        issuer="https://moodle.acme.example",
        client_id="client-1",
        auth_login_url="https://moodle.acme.example/auth",
        auth_token_url="https://moodle.acme.example/token",
        key_set_url="https://moodle.acme.example/certs",
    )
    db.session.add(platform)
    db.session.flush()
    link = ResourceLink(
        tenant_id=tenant_id,
        platform_id=platform.id,
        deployment_id="3",
        resource_link_id="rl-7",
        context_title="Onboarding 2026",
        title="Social media policy",
        course_slug=COURSE,
        lineitem_url="https://moodle.acme.example/lineitems/7",
    )
    db.session.add(link)
    db.session.flush()
    db.session.add(
        GradeTarget(enrolment_id=enrolment.id, resource_link_id=link.id, lti_user_id="moodle-user-42")
    )


def _reminded(tenant_id: int, user: User) -> None:
    key = f"reminder:{user.id}:2026-11-30"
    db.session.add(
        Reminder(
            tenant_id=tenant_id,
            user_id=user.id,
            sent_on=date(2026, 11, 30),
            kind="after",
            enrolment_ids=[],
            recipients={"to": [user.email], "cc": ["grace@acme.example"]},
            outbox_key=key,
        )
    )
    outbox.enqueue(
        "email", {"builder": reminders.BUILDER, "key": key}, idempotency_key=key, tenant_id=tenant_id
    )
    db.session.flush()
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
    message.status, message.attempts, message.delivered_at = "delivered", 1, utcnow()


@pytest.fixture
def ada(app, client, published) -> Person:
    return everything_happened(app, client)


def staff_client(app, email: str) -> FormClient:
    signed_in = FormClient(app)
    assert signed_in.login(email, factories.PASSWORD).status_code == 302
    return signed_in


def test_the_employee_page_shows_the_person_their_assignments_and_every_kind_of_event(app, ada):
    page = staff_client(app, "hannah@acme.example").get(f"/console/learners/{ada.user_id}")
    assert page.status_code == 200, text_of(page)[:500]
    body = text_of(page)
    with app.app_context():
        version = publishing.course_by_slug(COURSE)[1]
        first_lesson = version.lessons[0].titles["en"]
        attestation = db.session.scalar(select(Attestation))
        certificate = db.session.scalar(select(Certificate))
        prompt = _a_question_prompt(ada.user_id)

    # Who they are, and their assignments with their status (the one SQL rule)
    for fact in ("E1001", "ada@acme.example", "Engineering", "Grace Hopper", "grace@acme.example"):
        assert fact in body
    assert "2026-01-05" in body and "2027-06-30" in body
    assert "Social media policy orientation" in body and "Completed" in body and "Waived" in body
    # The timeline, one of each kind
    assert "Launched from the LMS" in body and "Moodle Acme · Onboarding 2026 · Social media policy" in body
    assert "moodle-user-42" in body
    assert f"Lesson completed: {first_lesson}" in body
    assert f"Policy attested (version {version.number})" in body and "Signed as “Ada Lovelace”" in body
    assert attestation.content_hash in body and attestation.policy_text_hash in body and "pytest" in body
    assert [int(n) for n in re.findall(r"Quiz attempt #(\d)", body)] == [4, 3, 2, 1]
    assert body.count("not passed") == 3 and "20/100" in body and "90/100" in body
    assert prompt in body and "chosen" in body and "correct" in body
    assert "Course failed (no attempts left): 20/100" in body and "Course completed: 90/100" in body
    assert f"Certificate issued <code>{certificate.code}</code>" in body and "Valid" in body
    assert f'href="/verify/{certificate.code}"' in page.get_data(as_text=True)
    assert "Overdue reminder" in body and "Copy to grace@acme.example" in body and "Delivered" in body
    assert "Extra quiz attempt granted by Hannah" in body and "Was ill during attempt 3" in body
    assert "Assignment waived by Hannah" in body and "On parental leave" in body
    assert "Grade for the LMS gradebook: 90/100" in body and "Pending" in body
    assert "Grade for the LMS gradebook: 20/100" in body  # the failed result is reported too
    assert "staff:" not in body  # names, never actor ids
    # Newest first
    order = [body.index(text) for text in ("Course completed", "Extra quiz attempt", "Policy attested")]
    assert order == sorted(order)
    # HR's forms are still there (the grant is used up: only the refresher's waiver is done)
    assert "Waive this assignment" not in body  # the orientation is completed, the refresher waived


def _a_question_prompt(user_id: int) -> str:
    from quizzes.published_banks import bank_for_version

    attempt = db.session.scalar(select(QuizAttempt).where(QuizAttempt.user_id == user_id).limit(1))
    bank = bank_for_version(publishing.version_by_id(attempt.course_version_id))
    return bank.question(attempt.questions[0]["id"]).localized("en").prompt


def test_an_auditor_reads_the_page_without_the_forms_that_change_things(app, client, published):
    with app.app_context():
        acme = factories.tenant("acme")
        factories.staff(acme, "audrey@acme.example", "auditor")
        factories.staff(acme, "hannah@acme.example")
        ada = factories.learner(acme, "Ada Lovelace")
        learning.enrol(ada, COURSE, source="hr")
        db.session.commit()
        user_id = ada.id
    auditor_page = staff_client(app, "audrey@acme.example").get(f"/console/learners/{user_id}")
    assert auditor_page.status_code == 200
    assert "Not started" in text_of(auditor_page) and "Nothing has happened yet." in text_of(auditor_page)
    assert "Waive this assignment" not in text_of(auditor_page)
    assert "Download evidence pack (ZIP)" in text_of(auditor_page)
    hr_page = staff_client(app, "hannah@acme.example").get(f"/console/learners/{user_id}")
    assert "Waive this assignment" in text_of(hr_page)


def test_another_tenants_employee_and_a_preview_learner_are_not_found(app, ada):
    globex = staff_client(app, "hr@globex.example")
    for url in (f"/console/learners/{ada.user_id}", f"/console/learners/{ada.user_id}/evidence.zip"):
        refused = globex.get(url)
        assert refused.status_code == 404, url
        assert "Ada" not in text_of(refused)
    with app.app_context():
        preview = learning.preview_learner(ada.tenant_id, ada.staff_id, "Hannah (preview)", "h@acme.example")
        db.session.commit()
        preview_id = preview.id
    assert staff_client(app, "hannah@acme.example").get(f"/console/learners/{preview_id}").status_code == 404


def test_the_page_runs_the_same_statements_however_many_attempts_there_are(app, ada, executed_sql):
    hr = staff_client(app, "hannah@acme.example")
    url = f"/console/learners/{ada.user_id}"
    assert hr.get(url).status_code == 200  # the question bank is parsed and cached once per process

    def statements() -> int:
        executed_sql.clear()
        assert hr.get(url).status_code == 200
        return len(of_request(executed_sql, f"GET {url}"))

    with_four = statements()
    with app.app_context():
        template = db.session.scalar(select(QuizAttempt).where(QuizAttempt.number == 1))
        last = db.session.scalar(select(func.max(QuizAttempt.number)))
        for number in range(last + 1, last + 21):  # twenty more attempts, in another cycle
            db.session.add(_copy_of(template, number))
        db.session.commit()
    with_twenty_four = statements()
    assert with_twenty_four == with_four <= 20
    assert text_of(hr.get(url)).count("Quiz attempt #") == 24


def _copy_of(attempt: QuizAttempt, number: int) -> QuizAttempt:
    fields = ("tenant_id", "user_id", "enrolment_id", "course_version_id", "quiz_id", "locale", "questions")
    return QuizAttempt(
        **{name: getattr(attempt, name) for name in fields},
        cycle=attempt.cycle + 1,
        number=number,
        status="submitted",
        answers=attempt.answers,
        points=attempt.points,
        score=attempt.score,
        passed=False,
        pass_mark=attempt.pass_mark,
        started_at=attempt.started_at - timedelta(days=number),
        submitted_at=attempt.started_at - timedelta(days=number),
    )
