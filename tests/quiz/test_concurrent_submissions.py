"""Twenty simultaneous submissions of one attempt, over real HTTP: exactly one is graded."""

import threading

import pytest
import requests
from sqlalchemy import func, select

from courses.models import Completion
from quizzes import form_snapshot
from quizzes.models import QuizAttempt
from tests.helpers import csrf_from
from tests.journeys import COURSE, answer_key
from tests.live_server import learner_session_cookie, serve
from training_app.extensions import db

SUBMITTERS = 20


@pytest.mark.parametrize("snapshot", ["with the page's snapshot", "without"])
def test_twenty_simultaneous_submissions_grade_exactly_one_attempt(app, learner, snapshot):
    """With the snapshot the grade's conditional UPDATE decides; without it, the locked read."""
    with serve(app) as base_url:
        browser = requests.Session()
        browser.cookies.set("session", learner_session_cookie(app, learner), domain="127.0.0.1")
        token = csrf_from(browser.get(f"{base_url}/login").text)
        started = browser.post(
            f"{base_url}/quiz/{COURSE}/attempts", data={"csrf_token": token}, allow_redirects=False
        )
        assert started.status_code == 303
        attempt_id = int(started.headers["Location"].rsplit("/", 1)[1])
        form = {"csrf_token": token, **answer_key(app, attempt_id, right=9)}
        if snapshot == "without":
            form.pop(form_snapshot.FIELD)
        cookies = browser.cookies.get_dict()
        barrier = threading.Barrier(SUBMITTERS)
        answers: list[requests.Response] = []

        def submit_once() -> None:
            barrier.wait()
            answers.append(
                requests.post(
                    f"{base_url}/quiz/attempts/{attempt_id}", data=form, cookies=cookies, timeout=60
                )
            )

        threads = [threading.Thread(target=submit_once) for _ in range(SUBMITTERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)

    assert [r.status_code for r in answers] == [200] * SUBMITTERS
    graded_now = [r for r in answers if "already submitted" not in r.text]
    assert len(graded_now) == 1, "exactly one submission grades the attempt; the others see its result"
    assert all("You passed with 90/100" in r.text for r in answers)
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count()).select_from(QuizAttempt).where(QuizAttempt.status == "submitted")
            )
            == 1
        )
        assert db.session.scalar(select(func.count()).select_from(Completion)) == 1
