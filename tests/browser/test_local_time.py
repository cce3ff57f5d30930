"""The quiz deadline in the learner's own time zone: the page says it in UTC, the browser shows it
in its zone and language."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from courses.models import Enrolment
from quizzes import services as quizzes
from tests.browser.support import sign_in_learner
from tests.journeys import ready_for_quiz
from training_app.extensions import db
from training_app.local_time import local_time
from training_app.models import User


@pytest.mark.browser
def test_the_deadline_shows_in_the_browsers_time_zone(app, learners, live_url, new_context):
    with app.app_context():
        ada = db.session.get(User, learners["ada"])
        ready_for_quiz(ada)
        enrolment = db.session.scalar(select(Enrolment).where(Enrolment.user_id == ada.id))
        attempt = quizzes.start_attempt(enrolment, "en", random.Random(3))
        db.session.commit()
        attempt_id, deadline = attempt.id, attempt.deadline_at
    assert deadline is not None, "the orientation's quiz has a time limit"
    context = new_context(timezone_id="America/Mexico_City")
    sign_in_learner(context, app, live_url, learners["ada"])
    page = context.new_page()
    page.goto(f"{live_url}/quiz/attempts/{attempt_id}")
    shown = page.locator("time[data-local]").first
    text = shown.inner_text()
    local = deadline.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("America/Mexico_City"))
    assert "UTC" not in text and local.strftime("%I:%M") in text, text
    assert shown.get_attribute("datetime").endswith("+00:00")


def test_without_the_script_the_page_says_the_time_in_utc():
    markup = str(local_time(datetime(2027, 3, 1, 14, 5, tzinfo=UTC)))
    assert markup == '<time datetime="2027-03-01T14:05:00+00:00" data-local="time">14:05 UTC</time>'
    assert str(local_time(datetime(2027, 3, 1, 14, 5), "datetime")).endswith(">2027-03-01 14:05 UTC</time>")
