"""Steps of the learner's journey that several test packages share (quiz, certificates, LTI)."""

from __future__ import annotations

from courses import publishing
from courses import services as learning
from courses.models import Enrolment
from quizzes import form_snapshot
from quizzes.demo import scripted_answers
from quizzes.models import QuizAttempt
from quizzes.published_banks import bank_for_version
from tests.helpers import text_of
from training_app.extensions import db
from training_app.models import User

COURSE = "social-media-orientation"


def ready_for_quiz(user: User, course: str = COURSE) -> Enrolment:
    enrolment = learning.enrol(user, course, source="hr")
    _, version = publishing.course_by_slug(course)
    for lesson in version.lessons:
        learning.complete_lesson(enrolment, lesson.slug)
    learning.attest(
        enrolment,
        user,
        confirmed=True,
        typed_name=user.name,
        locale_preference="en",
        ip_address="127.0.0.1",
        user_agent="pytest",
    )
    return enrolment


def record_pass(enrolment: Enrolment, *, score: int = 90, attestation_id: int | None = None):
    """A passing result of the cycle as the quiz records it, with the course's published version
    (the learner's path to it is tested elsewhere)."""
    _, version = publishing.course_by_slug(enrolment.course.slug)
    return learning.record_result(
        learning.cycle_of(enrolment.id),
        passed=True,
        score=score,
        source_ref="test",
        actor="test",
        version=version,
        attestation_id=attestation_id,
    )


def start(client) -> int:
    response = client.submit(f"/quiz/{COURSE}/", {}, action=f"/quiz/{COURSE}/attempts")
    assert response.status_code == 303, text_of(response)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def answer_key(app, attempt_id: int, *, right: int) -> dict[str, list[str] | str]:
    """Form data answering the first `right` questions correctly and the rest wrongly, with the
    signed snapshot of the drawn questions that the attempt page's form carries (last)."""
    with app.app_context():
        attempt = db.session.get(QuizAttempt, attempt_id)
        bank = bank_for_version(publishing.course_by_slug(COURSE)[1])
        form: dict[str, list[str] | str] = {
            f"q-{qid}": chosen for qid, chosen in scripted_answers(bank, attempt, right).items()
        }
        content_hash = publishing.version_by_id(attempt.course_version_id).content_hash
        form[form_snapshot.FIELD] = form_snapshot.sign(attempt, content_hash)
        return form


def submit(client, attempt_id: int, form: dict):
    """POST the answers as the attempt page's form does (the page may be long open: no GET first).

    A graded submit answers 303 to the attempt's result page (post/redirect/get), which is followed.
    """
    response = client.post_form(f"/quiz/attempts/{attempt_id}", form, follow_redirects=True)
    assert [r.status_code for r in response.history] in ([], [303])
    return response
