"""An app process killed with SIGKILL in the middle of a graded quiz submission (gunicorn, the
product's server, on SQLite and PostgreSQL): the attempt is stored whole or not at all, and the
learner's resubmission of the same page works.

The app is `tests.faults.stalling_wsgi:app`, the real app that waits once inside the submission at a
chosen point (before its COMMIT is sent, or after it is answered) for the test to kill it. gunicorn
starts a new worker in its place, as it would in production.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests
from sqlalchemy import func, select

from certificates.models import Certificate
from courses.models import Completion
from quizzes.models import QuizAttempt
from tests.faults.live import LiveLearner, process_env
from tests.launch.test_multi_process import ToolProcess
from training_app.extensions import db
from training_app.models import AuditEvent, OutboxMessage

pytestmark = pytest.mark.slow


def stored(app, attempt_id: int) -> dict[str, object]:
    """What the database holds for the attempt and everything a pass writes with it."""
    with app.app_context():
        attempt = db.session.get(QuizAttempt, attempt_id)
        counts = {
            "attempt": attempt.status,
            "graded": attempt.score is not None,
            "completions": db.session.scalar(select(func.count()).select_from(Completion)),
            "certificates": db.session.scalar(select(func.count()).select_from(Certificate)),
            "outbox": db.session.scalar(select(func.count()).select_from(OutboxMessage)),
            "completed events": db.session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "course.completed")
            ),
        }
        db.session.rollback()
    return counts


NOTHING = {"attempt": "open", "graded": False, "completions": 0, "certificates": 0, "completed events": 0}
WHOLE = {"attempt": "submitted", "graded": True, "completions": 1, "certificates": 1, "completed events": 1}


def wait_for_file(path, process: ToolProcess, seconds: float = 120) -> int:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, (
            f"the submission never reached its stall:\n{process.log()[-3000:]}"
        )
        time.sleep(0.05)
    return int(path.read_text())


@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
def test_an_app_process_killed_mid_submission_stores_it_whole_or_not_at_all(app, learner, tmp_path, point):
    mark = tmp_path / "stalled.pid"
    env = process_env(app, tmp_path / "instance-killed", FAULT_STALL_AT=point, FAULT_MARK_FILE=str(mark))
    server = ToolProcess("stalling", env, tmp_path, app_module="tests.faults.stalling_wsgi:app").spawn()
    try:
        server.wait_ready()
        ada = LiveLearner(app, server.url, learner).start_attempt()
        before = stored(app, ada.attempt_id)
        assert {key: before[key] for key in NOTHING} == NOTHING

        answers: list[object] = []

        def submit_in_background() -> None:
            try:
                answers.append(ada.submit())
            except requests.RequestException as exc:
                answers.append(exc)

        submitting = threading.Thread(target=submit_in_background)
        submitting.start()
        worker_pid = wait_for_file(mark, server)
        os.kill(worker_pid, signal.SIGKILL)
        submitting.join(60)
        [answer] = answers
        assert isinstance(answer, requests.ConnectionError), answer  # the learner saw the page fail

        after_kill = stored(app, ada.attempt_id)
        expected = NOTHING if point == "before_commit" else WHOLE
        assert {key: after_kill[key] for key in expected} == expected, after_kill
        if point == "before_commit":
            assert after_kill["outbox"] == before["outbox"]  # no message of a pass that never was

        # The learner sends the same page again; gunicorn's new worker answers.
        again = ada.submit()
        assert again.status_code == 303, again.text[:500]
        page = ada.result_page()
        assert page.status_code == 200 and "You passed with 90/100" in page.text
        if point == "after_commit":
            assert again.headers["Location"].endswith("?notice=already-submitted")
            notice = ada.browser.get(f"{server.url}{again.headers['Location']}", timeout=60).text
            assert "This attempt was already submitted" in notice
        final = stored(app, ada.attempt_id)
        assert {key: final[key] for key in WHOLE} == WHOLE, final
        if point == "after_commit":
            assert final["outbox"] == after_kill["outbox"]  # nothing queued twice
        ada.close()
    finally:
        server.terminate()
        server.wait()
