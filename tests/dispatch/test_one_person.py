"""Issue 22: an employee who arrives by a dispatch package and later by an LTI launch is one person
with one history: the package's learner id finds HR's employee, whose row then takes the package's
LMS identity; the LTI launch finds the same row by the employee id and adds its identity beside it."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import func, select

from courses.models import Completion, Course, Enrolment
from dispatch import archive, packages
from tests.dispatch.steps import launch_body, post_launch
from tests.dispatch.test_launches import import_employees
from tests.helpers import text_of
from tests.journeys import answer_key, ready_for_quiz, start, submit
from tests.launch.conftest import driver, learner_claims, platform, registered  # noqa: F401  (fixtures)
from tests.lti_platform.claims import User as LtiUser
from training_app.auth.services import find_tenant
from training_app.extensions import db
from training_app.models import PersonIdentity, User

ORIENTATION = "social-media-orientation"


def test_a_package_learner_and_the_same_employee_by_lti_are_one_person(app, client, driver, registered):  # noqa: F811
    import_employees(app)
    with app.app_context(), app.test_request_context():
        choice = packages.PackageChoice(ORIENTATION, "scorm2004", lms_name="Cornerstone")
        package = packages.create_package(find_tenant("acme"), choice, actor="test")
        secret = packages.secrets_accepted(package, package.created_at)[0]
        archive.build_package(package)
        dispatch_id = package.dispatch_id
        db.session.commit()

    started = post_launch(client, launch_body(dispatch_id, secret, "E101", "Lovelace, Ada"))
    assert started.status_code == 201, started.json
    assert client.get(urlsplit(started.json["enter_url"]).path).status_code == 303  # signed in by the package
    with app.app_context():
        ada = db.session.scalar(select(User).where(User.employee_id == "E101"))
        ready_for_quiz(ada)
        db.session.commit()
    attempt_id = start(client)
    result = submit(client, attempt_id, answer_key(app, attempt_id, right=10))
    assert "You passed" in text_of(result)

    lti = learner_claims(
        registered,
        user=LtiUser.named("moodle-42", "Ada", "Lovelace", email="ada.l@lms.example"),
        custom={"employee_id": "E101"},
    )
    launched = driver.launch(lti)
    assert launched.response.status == 200
    assert "You completed this course on" in launched.response.text, (
        "the LTI door shows the package's history"
    )

    with app.app_context():
        people = db.session.scalars(select(User).where(User.employee_id == "E101")).all()
        assert len(people) == 1 and (people[0].issuer, people[0].subject) == ("dispatch:cornerstone", "E101")
        identities = db.session.execute(select(PersonIdentity.issuer, PersonIdentity.subject)).all()
        assert identities == [(registered.issuer, "moodle-42")]
        assert db.session.scalar(select(func.count()).select_from(User)) == 2  # Ada and her manager
        enrolments = db.session.scalars(
            select(Enrolment)
            .join(Course)
            .where(Enrolment.user_id == people[0].id, Course.slug == ORIENTATION)
        ).all()
        assert len(enrolments) == 1
        assert db.session.scalar(select(func.count()).select_from(Completion)) == 1
