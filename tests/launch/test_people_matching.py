"""One person, one history, whatever the door: a learner launched from the LMS is matched to the
employee HR imported (by the launch's employee_id custom parameter, then by email), and a second
LMS of the same person joins the same record."""

from __future__ import annotations

from sqlalchemy import select

from courses.models import Course, Enrolment
from people import services as people
from tests.launch.conftest import learner, learner_claims, register_platform
from tests.lti_platform import LaunchDriver, Platform
from tests.lti_platform.claims import User as LtiUser
from training_app.auth.services import find_tenant
from training_app.extensions import db
from training_app.models import PersonIdentity, User

EMPLOYEES = """employee_id,email,full_name,department,manager_email,hire_date,locale
E100,boss@acme.example,Bea Boss,Sales,,2020-01-10,en
E101,ada@acme.example,Ada Lovelace,Engineering,boss@acme.example,2026-11-20,en
"""


def import_employees(app) -> None:
    with app.app_context():
        people.import_employees(find_tenant("acme"), EMPLOYEES.encode(), dry_run=False, actor="test")
        db.session.commit()


def everyone(app) -> list[User]:
    with app.app_context():
        return list(db.session.scalars(select(User).order_by(User.id)))


def test_a_launch_with_the_employee_id_is_the_imported_employee(app, driver, registered):
    import_employees(app)
    claims = learner_claims(
        registered,
        user=LtiUser.named("moodle-42", "Ada", "L.", email="ada.l@lms.example"),
        custom={"employee_id": "E101", "department": "LMS dept"},
    )
    assert driver.launch(claims).response.status == 200
    people_now = everyone(app)
    assert len(people_now) == 2
    ada = next(p for p in people_now if p.employee_id == "E101")
    assert (ada.issuer, ada.subject) == (registered.issuer, "moodle-42")
    assert (ada.name, ada.department, ada.email) == (
        "Ada Lovelace",
        "Engineering",
        "ada@acme.example",
    )  # HR's
    with app.app_context():  # the launch's enrolment is Ada's (the hire rule enrolled her already)
        orientation = db.session.scalars(
            select(Enrolment.user_id).join(Course).where(Course.slug == "social-media-orientation")
        ).all()
        assert orientation.count(ada.id) == 1
    assert driver.launch(claims).response.status == 200  # a repeat launch finds the same row
    assert len(everyone(app)) == 2


def test_a_launch_without_an_employee_id_is_matched_by_email(app, driver, registered):
    import_employees(app)
    assert (
        driver.launch(learner_claims(registered, user=learner())).response.status == 200
    )  # ada@acme.example
    ada = next(p for p in everyone(app) if p.employee_id == "E101")
    assert ada.subject == "u-ada" and len(everyone(app)) == 2


def test_a_second_lms_joins_the_same_person(app, client, driver, registered):
    import_employees(app)
    assert driver.launch(learner_claims(registered, user=learner())).response.status == 200
    with Platform(flavour="moodle", custom_issuer="https://lms2.acme.example") as second:
        with app.app_context():
            register_platform(find_tenant("acme"), second)
            db.session.commit()
        other = LaunchDriver(second, client)
        claims = learner_claims(
            second, user=LtiUser.named("lms2-7", "Ada", "Lovelace", email="ada@acme.example")
        )
        assert other.launch(claims).response.status == 200
        assert other.launch(claims).response.status == 200
    assert len(everyone(app)) == 2
    with app.app_context():
        [identity] = db.session.scalars(select(PersonIdentity))
        ada = db.session.scalar(select(User).where(User.employee_id == "E101"))
        assert (identity.user_id, identity.subject) == (ada.id, "lms2-7")
        enrolments = db.session.scalars(
            select(Enrolment.user_id).join(Course).where(Course.slug == "social-media-orientation")
        ).all()
        assert enrolments.count(ada.id) == 1  # one history


def test_an_lms_never_takes_an_employee_id_another_person_has(app, driver, registered):
    import_employees(app)
    # Not Ada by email nor by id: a new learner, who claims Bea's employee id.
    claims = learner_claims(
        registered,
        user=LtiUser.named("u-eve", "Eve", "Doe", email="eve@acme.example"),
        custom={"employee_id": "E999"},
    )
    assert driver.launch(claims).response.status == 200
    claims = learner_claims(
        registered,
        user=LtiUser.named("u-eve", "Eve", "Doe", email="eve@acme.example"),
        custom={"employee_id": "E100"},
    )
    assert driver.launch(claims).response.status == 200
    with app.app_context():
        ids = sorted(filter(None, db.session.scalars(select(User.employee_id))))
    assert ids == ["E100", "E101", "E999"]  # Eve kept hers; Bea kept hers
