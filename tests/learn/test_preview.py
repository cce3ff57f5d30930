"""A staff preview of a course is for looking only: HR administrators may start one (auditors may
not), and passing its quiz earns nothing that verifies, counts, lists or leaves the service."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from certificates.models import Certificate
from courses import services as learning
from courses.models import Completion, Enrolment, LessonProgress
from tests import factories
from tests.helpers import FormClient, text_of
from tests.journeys import answer_key, start, submit
from tests.learn.conftest import ORIENTATION
from training_app.auth.services import find_tenant
from training_app.extensions import db
from training_app.models import OutboxMessage, StaffAccount, User


@pytest.fixture
def staff(app, world):
    with app.app_context():
        factories.staff(find_tenant("acme"), "auditor@acme.example", role="auditor")
        db.session.commit()


def course_counts(client: FormClient) -> list[str]:
    """The numbers in the console's courses table (enrolled, completed), row by row."""
    page = text_of(client.get("/console/courses"))
    return re.findall(r"<td>(\d+)</td>", page)


def start_preview(client: FormClient):
    page = client.get("/console/courses")
    token = re.search(r'name="csrf_token" value="([^"]+)"', text_of(page)).group(1)
    return client.post(f"/courses/{ORIENTATION}/preview", data={"csrf_token": token})


def test_an_auditor_cannot_start_a_preview(app, client, staff):
    client.login("auditor@acme.example", factories.PASSWORD)
    assert "Preview as learner" not in text_of(client.get("/console/courses"))
    refused = client.post_form(f"/courses/{ORIENTATION}/preview", {})
    assert refused.status_code == 403
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count()).select_from(Enrolment).where(Enrolment.source == "preview")
            )
            == 0
        )
        assert db.session.scalar(select(func.count()).select_from(User).where(User.issuer == "preview")) == 0


def test_a_passed_preview_earns_no_certificate_and_counts_nowhere(app, client, staff):
    client.login("hr@acme.example", factories.PASSWORD)
    before = course_counts(client)
    assert start_preview(client).status_code == 303
    with app.app_context():
        enrolment = db.session.scalar(select(Enrolment).where(Enrolment.source == "preview"))
        twin = db.session.get(User, enrolment.user_id)
        for lesson in learning.overview(enrolment, "en").lessons:
            learning.complete_lesson(enrolment, lesson.slug)
        learning.attest(
            enrolment,
            twin,
            confirmed=True,
            typed_name=twin.name,
            locale_preference="en",
            ip_address="127.0.0.1",
            user_agent="pytest",
        )
        db.session.commit()
    attempt = start(client)
    result = submit(client, attempt, answer_key(app, attempt, right=10))
    assert result.status_code == 200 and "100" in text_of(result)
    with app.app_context():
        completion = db.session.scalar(select(Completion))
        assert completion.status == "completed"  # the preview's own pages show it completed
        assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    client.post_form("/courses/preview/end", {})
    assert course_counts(client) == before  # enrolled / completed counts unchanged
    assert "Preview" not in text_of(client.get("/console/learners"))
    assert text_of(client.get("/console/certificates")).count("/verify/") == 0
    reset = client.post_form(f"/courses/{ORIENTATION}/preview/reset", {})
    assert reset.status_code == 303
    assert "starts again from the beginning" in text_of(client.get(reset.headers["Location"]))
    with app.app_context():
        for model in (Enrolment, Completion):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0, model
    assert start_preview(client).status_code == 303  # a fresh preview: nothing done yet
    with app.app_context():
        fresh = db.session.scalar(select(Enrolment).where(Enrolment.source == "preview"))
        assert fresh.completed_at is None and fresh.cycle == 1
        assert db.session.scalar(select(func.count()).select_from(LessonProgress)) == 0


def test_only_an_hr_administrator_resets_a_preview_and_only_their_own(app, client, staff):
    hr = FormClient(app)
    hr.login("hr@acme.example", factories.PASSWORD)
    start_preview(hr)
    client.login("auditor@acme.example", factories.PASSWORD)
    assert client.post_form(f"/courses/{ORIENTATION}/preview/reset", {}).status_code == 403
    with app.app_context():
        factories.staff(find_tenant("acme"), "hr2@acme.example")
        db.session.commit()
    other = FormClient(app)
    other.login("hr2@acme.example", factories.PASSWORD)
    nothing = other.post_form(f"/courses/{ORIENTATION}/preview/reset", {})
    assert "no preview of this course to reset" in text_of(other.get(nothing.headers["Location"]))
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count()).select_from(Enrolment).where(Enrolment.source == "preview")
            )
            == 1
        )


def test_staff_still_end_their_preview_with_their_own_account(app, client, staff):
    client.login("hr@acme.example", factories.PASSWORD)
    start_preview(client)
    assert "a preview earns no certificate" in text_of(client.get(f"/courses/{ORIENTATION}/"))
    ended = client.post_form("/courses/preview/end", {})
    assert ended.status_code == 303
    with app.app_context():
        staff_id = db.session.scalar(select(StaffAccount.id).where(StaffAccount.email == "hr@acme.example"))
    with client.session_transaction() as session:
        assert session["_user_id"].startswith(f"staff:{staff_id}:")
