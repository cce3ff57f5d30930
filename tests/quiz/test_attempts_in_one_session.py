"""The quiz services in one SQLAlchemy session, as a script or the demo loader calls them: the
grade is written by a Core statement, and the next start must see it (not the open attempt the
session still holds)."""

from __future__ import annotations

import random

from sqlalchemy import select

from courses.models import Enrolment
from quizzes import services
from quizzes.demo import scripted_answers
from quizzes.services.lifecycle import standing
from training_app.extensions import db


def test_starting_right_after_a_graded_submit_starts_the_next_attempt(app, learner):
    with app.app_context():
        enrolment = db.session.scalar(select(Enrolment).where(Enrolment.user_id == learner))
        first = services.start_attempt(enrolment, "en", random.Random(1))
        bank = standing(enrolment).bank
        services.submit(learner, first.id, scripted_answers(bank, first, right=2))
        second = services.start_attempt(enrolment, "en", random.Random(2))
        assert second.id != first.id and (second.number, second.status) == (2, "open")
        assert first.status == "submitted" and first.passed is False  # the session's object, refreshed
        services.submit(learner, second.id, scripted_answers(bank, second, right=len(second.questions)))
        assert standing(enrolment).passed
