"""A launched learner's way through a course over HTTP: lessons, attestation, quiz."""

from __future__ import annotations

from flask import Flask

from courses import publishing
from quizzes.demo import scripted_answers
from quizzes.models import QuizAttempt
from quizzes.published_banks import bank_for_version
from tests.helpers import FormClient, text_of
from tests.launch.conftest import ORIENTATION
from training_app.extensions import db


def lesson_slugs(app: Flask, course: str) -> list[str]:
    with app.app_context():
        return [lesson.slug for lesson in publishing.course_by_slug(course)[1].lessons]


def ready_for_quiz(
    app: Flask, client: FormClient, course: str = ORIENTATION, *, name: str = "Ada Lovelace"
) -> None:
    """Every lesson done and the policy attested, through the pages a learner uses."""
    base = f"/courses/{course}"
    for slug in lesson_slugs(app, course):
        done = client.submit(f"{base}/lessons/{slug}", {}, action=f"{base}/lessons/{slug}/complete")
        assert done.status_code == 303, text_of(done)
    signed = client.submit(f"{base}/attestation", {"confirm": "y", "typed_name": name})
    assert signed.status_code == 303, text_of(signed)


def take_quiz(app: Flask, client: FormClient, *, right: int, course: str = ORIENTATION) -> str:
    """Start an attempt and answer `right` questions correctly; the result page's text."""
    started = client.submit(f"/quiz/{course}/", {}, action=f"/quiz/{course}/attempts")
    assert started.status_code == 303, text_of(started)
    attempt_id = int(started.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    answered = client.post_form(
        f"/quiz/attempts/{attempt_id}", answers(app, attempt_id, right, course), follow_redirects=True
    )
    assert [r.status_code for r in answered.history] == [303], text_of(answered)
    assert answered.status_code == 200, text_of(answered)
    return text_of(answered)


def answers(app: Flask, attempt_id: int, right: int, course: str) -> dict[str, list[str]]:
    with app.app_context():
        attempt = db.session.get(QuizAttempt, attempt_id)
        bank = bank_for_version(publishing.course_by_slug(course)[1])
        return {f"q-{qid}": chosen for qid, chosen in scripted_answers(bank, attempt, right).items()}


def pass_course(
    app: Flask, client: FormClient, *, right: int = 9, course: str = ORIENTATION, name: str = "Ada Lovelace"
) -> str:
    ready_for_quiz(app, client, course, name=name)
    result = take_quiz(app, client, right=right, course=course)
    assert f"You passed with {right * 10}/100" in result, result
    return result
