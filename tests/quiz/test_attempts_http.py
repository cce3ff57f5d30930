"""Quiz attempts over HTTP on SQLite and PostgreSQL: journeys, integrity, tampering, answer key."""

import dataclasses
import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select, update

from courses import publishing
from courses import services as learning
from courses.models import Completion, Enrolment
from quizzes.models import AttemptGrant, QuizAttempt
from quizzes.published_banks import bank_for_version
from quizzes.services import lifecycle
from tests import factories
from tests.helpers import FormClient, sign_in_learner, text_of
from tests.journeys import COURSE, answer_key, ready_for_quiz, start, submit
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import AuditEvent, Tenant, User


def attempt_row(app, attempt_id: int) -> QuizAttempt:
    with app.app_context():
        return db.session.get(QuizAttempt, attempt_id)


def results(app) -> list[Completion]:
    with app.app_context():
        return list(db.session.scalars(select(Completion).order_by(Completion.id)))


def rows(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def grant_events(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).where(AuditEvent.action == "quiz.attempt_granted"))


def test_fail_then_pass_completes_the_course(app, client, learner):
    first = start(client)
    failed = submit(client, first, answer_key(app, first, right=5))
    assert failed.status_code == 200 and "You scored 50/100; the pass mark is 80" in text_of(failed)
    assert "Why:" in text_of(failed)  # review after each attempt shows explanations
    assert results(app) == []  # attempts remain: no result yet
    second = start(client)
    assert second != first
    passed = submit(client, second, answer_key(app, second, right=9))
    assert "You passed with 90/100" in text_of(passed)
    [completion] = results(app)
    assert completion.status == "completed" and completion.score == 90
    assert completion.source_ref == f"quiz_attempt:{second}"
    assert completion.expires_at - completion.completed_at == timedelta(days=365)
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "course.completed"))
    overview = text_of(client.get(f"/courses/{COURSE}/"))
    assert "You completed this course" in overview and "90/100" in overview
    again = client.post_form(f"/quiz/{COURSE}/attempts", {})
    assert again.status_code == 409 and "You already passed this quiz" in text_of(again)
    assert rows(app, QuizAttempt) == 2 and len(results(app)) == 1  # no attempt started, no result


def test_out_of_attempts_then_hr_grants_one_more_then_pass(app, client, learner):
    for _ in range(3):
        attempt_id = start(client)
        submit(client, attempt_id, answer_key(app, attempt_id, right=2))
    [failed] = results(app)
    assert failed.status == "failed" and failed.score == 20
    locked = client.post_form(f"/quiz/{COURSE}/attempts", {})
    assert locked.status_code == 409 and "You have used all 3 attempts" in text_of(locked)
    assert rows(app, QuizAttempt) == 3
    assert "You have used all your attempts" in text_of(client.get(f"/quiz/{COURSE}/"))

    staff = FormClient(app)
    staff.login("hr@acme.example", factories.PASSWORD)
    learner_page = staff.get(f"/console/learners/{learner}")
    assert "Failed: needs another attempt" in text_of(learner_page)
    with app.app_context():
        enrolment_id = db.session.scalar(select(Enrolment.id))
    refused = staff.submit(
        f"/console/learners/{learner}",
        {"reason": ""},
        action=f"/console/enrolments/{enrolment_id}/grant-attempt",
    )
    assert refused.status_code == 422
    assert rows(app, AttemptGrant) == 0 and grant_events(app) == 0  # no grant without a reason
    granted = staff.submit(
        f"/console/learners/{learner}",
        {"reason": "Was ill during attempt 3"},
        action=f"/console/enrolments/{enrolment_id}/grant-attempt",
    )
    assert granted.status_code == 303
    assert rows(app, AttemptGrant) == 1 and grant_events(app) == 1
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "quiz.attempt_granted"))
        assert event.data["reason"] == "Was ill during attempt 3"

    fourth = start(client)
    submit(client, fourth, answer_key(app, fourth, right=10))
    assert [r.status for r in results(app)] == ["failed", "completed"]
    assert results(app)[-1].score == 100


def test_an_auditor_cannot_grant_attempts(app, client, learner):
    with app.app_context():
        acme = db.session.get(User, learner).tenant_id
        factories.staff(db.session.get(Tenant, acme), "auditor@acme.example", "auditor")
        enrolment_id = db.session.scalar(select(Enrolment.id))
        db.session.commit()
    auditor = FormClient(app)
    auditor.login("auditor@acme.example", factories.PASSWORD)
    refused = auditor.submit(
        f"/console/learners/{learner}",
        {"reason": "please"},
        action=f"/console/enrolments/{enrolment_id}/grant-attempt",
    )
    assert refused.status_code == 403
    assert rows(app, AttemptGrant) == 0 and grant_events(app) == 0


def test_a_submit_after_the_time_limit_is_closed_without_a_score(app, client, learner):
    attempt_id = start(client)
    form = answer_key(app, attempt_id, right=10)
    with app.app_context():
        db.session.execute(
            update(QuizAttempt).values(
                started_at=utcnow() - timedelta(minutes=25), deadline_at=utcnow() - timedelta(minutes=5)
            )
        )
        db.session.commit()
    late = submit(client, attempt_id, form)
    assert late.status_code == 200
    body = text_of(late)
    assert "Time ran out" in body and "The time limit of 20 minutes ended" in body
    row = attempt_row(app, attempt_id)
    assert row.status == "expired" and row.score == 0 and row.passed is False and row.answers is None
    assert "Attempts: 1 used of 3" in text_of(client.get(f"/quiz/{COURSE}/"))


def test_an_expired_open_attempt_is_closed_when_the_learner_comes_back(app, client, learner):
    attempt_id = start(client)
    with app.app_context():
        db.session.execute(update(QuizAttempt).values(deadline_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
    page = client.get(f"/quiz/attempts/{attempt_id}")
    assert "Time ran out" in text_of(page)
    assert start(client) != attempt_id


def questions_and_options_of(page) -> list[tuple[str, str]]:
    """The drawn questions and their option order as the page shows them; the CSRF token may differ."""
    return re.findall(r'name="(q-[^"]+)" value="([^"]+)"', text_of(page))


def test_a_reload_shows_the_same_attempt_and_starting_again_resumes_it(app, client, learner):
    attempt_id = start(client)
    first = questions_and_options_of(client.get(f"/quiz/attempts/{attempt_id}"))
    assert first
    assert questions_and_options_of(client.get(f"/quiz/attempts/{attempt_id}")) == first
    assert start(client) == attempt_id
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(QuizAttempt)) == 1


def test_the_answer_key_never_reaches_the_browser_before_submission(app, client, learner):
    attempt_id = start(client)
    html = text_of(client.get(f"/quiz/attempts/{attempt_id}"))
    with app.app_context():
        attempt = db.session.get(QuizAttempt, attempt_id)
        bank = bank_for_version(publishing.course_by_slug(COURSE)[1])
        for drawn in attempt.questions:
            question = bank.question(drawn["id"])
            assert question.prompt.split()[0] in html
            assert question.explanation not in html
    assert "is-correct" not in html and "correct answer" not in html and '"correct"' not in html
    options = re.findall(r'name="q-[^"]+" value="([^"]+)"', html)
    assert len(options) >= 10 * 2


def test_review_after_pass_hides_answers_of_failed_attempts(app, client, published):
    with app.app_context():
        acme = factories.tenant("acme")
        leader = factories.learner(acme, "Lee Leader")
        ready_for_quiz(leader, "leaders-on-social-media")
        db.session.commit()
        leader_id = leader.id
    sign_in_learner(client, leader_id)
    response = client.submit(
        "/quiz/leaders-on-social-media/", {}, action="/quiz/leaders-on-social-media/attempts"
    )
    attempt_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        attempt = db.session.get(QuizAttempt, attempt_id)
        bank = bank_for_version(publishing.course_by_slug("leaders-on-social-media")[1])
        wrong = {
            f"q-{d['id']}": [
                o for o in bank.question(d["id"]).option_ids if o not in bank.question(d["id"]).correct_ids
            ][:1]
            for d in attempt.questions
        }
    failed = text_of(client.submit(f"/quiz/attempts/{attempt_id}", wrong, follow_redirects=True))
    assert "The right answers are shown once you pass" in failed and "Why:" not in failed


def test_double_submit_grades_once_and_shows_the_result(app, client, learner):
    attempt_id = start(client)
    form = answer_key(app, attempt_id, right=9)
    first = submit(client, attempt_id, form)
    second = submit(client, attempt_id, answer_key(app, attempt_id, right=0))
    assert "You passed with 90/100" in text_of(first)
    assert "already submitted" in text_of(second) and "You passed with 90/100" in text_of(second)
    assert len(results(app)) == 1 and attempt_row(app, attempt_id).score == 90


def test_a_graded_submit_redirects_to_its_result_so_a_reload_never_resubmits(app, client, learner):
    attempt_id = start(client)
    answered = client.post_form(f"/quiz/attempts/{attempt_id}", answer_key(app, attempt_id, right=9))
    assert answered.status_code == 303
    assert answered.headers["Location"].endswith(f"/quiz/attempts/{attempt_id}")
    for _reload in range(2):
        assert "You passed with 90/100" in text_of(client.get(answered.headers["Location"]))
    again = client.post_form(f"/quiz/attempts/{attempt_id}", answer_key(app, attempt_id, right=0))
    assert again.status_code == 303 and again.headers["Location"].endswith("?notice=already-submitted")
    assert len(results(app)) == 1 and attempt_row(app, attempt_id).score == 90


def test_an_unknown_notice_in_the_address_is_ignored(app, client, learner):
    attempt_id = start(client)
    page = text_of(client.get(f"/quiz/attempts/{attempt_id}?notice=<script>alert(1)</script>"))
    assert "<script>alert(1)" not in page and "already submitted" not in page


@pytest.mark.parametrize("tamper", ["foreign_option", "unknown_question", "missing_answer", "two_on_single"])
def test_a_tampered_form_gets_a_422_and_leaves_the_attempt_unchanged(app, client, learner, tamper):
    attempt_id = start(client)
    form = answer_key(app, attempt_id, right=10)
    first_key = next(iter(form))
    if tamper == "foreign_option":
        form[first_key] = ["zz"]
        expected = "Option 'zz' is not one of the options of question 1"
    elif tamper == "unknown_question":
        form["q-o99"] = ["a"]
        expected = "Question 'o99' is not part of this attempt"
    elif tamper == "missing_answer":
        form.pop(first_key)
        expected = "Answer every question before you submit: 1 still without an answer"
    else:
        single = next(k for k in form if len(form[k]) == 1)
        with app.app_context():
            bank = bank_for_version(publishing.course_by_slug(COURSE)[1])
            form[single] = list(bank.question(single[2:]).option_ids[:2])
        expected = "takes one answer; you chose 2"
    response = submit(client, attempt_id, form)
    assert response.status_code == 422 and expected in text_of(response)
    row = attempt_row(app, attempt_id)
    assert row.status == "open" and row.answers is None and row.score is None
    assert results(app) == []
    if tamper == "missing_answer":  # what the learner chose is still selected on the page
        assert text_of(response).count("checked") >= 9


def test_another_learners_attempt_is_not_found(app, client, learner):
    attempt_id = start(client)
    with app.app_context():
        other = factories.learner(db.session.get(Tenant, 1), "Bob Other", subject="bob")
        db.session.commit()
        other_id = other.id
    sign_in_learner(client, other_id)
    assert client.get(f"/quiz/attempts/{attempt_id}").status_code == 404
    response = client.post_form(f"/quiz/attempts/{attempt_id}", {"q-o01": "a"})
    assert response.status_code == 404
    row = attempt_row(app, attempt_id)
    assert row.status == "open" and row.answers is None and row.score is None
    assert rows(app, QuizAttempt) == 1 and results(app) == []  # nothing started or recorded for Bob


def test_only_a_launched_learner_can_submit(app, client, learner):
    attempt_id = start(client)
    form = answer_key(app, attempt_id, right=10)
    for who in ("anonymous", "staff"):
        visitor = FormClient(app)
        if who == "staff":
            assert visitor.login("hr@acme.example", factories.PASSWORD).status_code in (302, 303)
        response = visitor.post_form(f"/quiz/attempts/{attempt_id}", form)
        assert response.status_code == 401, who
        assert "Open this training from your company's learning platform" in text_of(response)
    row = attempt_row(app, attempt_id)
    assert row.status == "open" and row.answers is None and row.score is None
    assert results(app) == []


def test_a_huge_payload_is_refused(app, client, learner):
    attempt_id = start(client)
    form = answer_key(app, attempt_id, right=10)
    form["padding"] = "x" * (3 * 1024 * 1024)
    response = submit(client, attempt_id, form)
    assert response.status_code == 413
    row = attempt_row(app, attempt_id)
    assert row.status == "open" and row.answers is None and row.score is None
    assert results(app) == []


def test_the_quiz_needs_the_lessons_and_the_attestation_first(app, client, published):
    with app.app_context():
        acme = factories.tenant("acme")
        fresh = factories.learner(acme, "New Hire")
        learning.enrol(fresh, COURSE, source="hr")
        db.session.commit()
        fresh_id = fresh.id
    sign_in_learner(client, fresh_id)
    page = client.get(f"/quiz/{COURSE}/")
    assert page.status_code == 409 and "Finish the lessons first" in text_of(page)
    refused = client.post_form(f"/quiz/{COURSE}/attempts", {})
    assert refused.status_code == 409
    assert rows(app, QuizAttempt) == 0


def test_the_cooldown_between_attempts_is_enforced_by_the_server(app, client, learner, monkeypatch):
    real = lifecycle.bank_for_version

    def bank_with_a_break(version):
        return dataclasses.replace(real(version), cooldown_minutes=10)

    monkeypatch.setattr(lifecycle, "bank_for_version", bank_with_a_break)
    first = start(client)
    submit(client, first, answer_key(app, first, right=2))
    refused = client.post_form(f"/quiz/{COURSE}/attempts", {})
    assert refused.status_code == 409 and "Take a short break before the next attempt" in text_of(refused)
    assert rows(app, QuizAttempt) == 1
    assert "you can start again in 10 minute" in text_of(refused)
    with time_machine.travel(utcnow() + timedelta(minutes=11)):
        assert start(client) != first
