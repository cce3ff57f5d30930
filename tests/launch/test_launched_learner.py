"""Who a launch signs in: the learner's row refreshed from the LMS, and the learner pages see."""

from sqlalchemy import func, select

from courses.models import Enrolment
from lti import services
from lti.models import GradeTarget
from tests.launch.conftest import ORIENTATION, landed_on, learner, learner_claims
from tests.lti_platform.constants import roles_for
from training_app.auth.access import SignedInLearner, load_identity
from training_app.extensions import db
from training_app.models import StaffAccount, User


def _user(app) -> User:
    with app.app_context():
        return db.session.scalar(select(User))


def test_a_relaunch_refreshes_what_the_lms_sent_and_keeps_what_it_omitted(app, driver, registered):
    first = learner_claims(registered, custom={"department": "Marketing"}, locale="es-ES")
    assert driver.launch(first).response.status == 200
    renamed = learner("u-ada", "Ada", "King")
    assert driver.launch(learner_claims(registered, user=renamed)).response.status == 200
    user = _user(app)
    assert (user.name, user.email, user.department, user.locale) == (
        "Ada King",
        "ada@acme.example",
        "Marketing",  # not sent again: kept
        "es-ES",
    )
    assert driver.launch(learner_claims(registered, user=renamed)).response.status == 200
    assert _user(app).updated_at == user.updated_at  # nothing new: the row was not written


def test_the_signed_in_learner_has_what_pages_use(app, driver, registered):
    assert driver.launch(learner_claims(registered, locale="es-ES")).response.status == 200
    user = _user(app)
    with app.test_request_context():
        signed_in = load_identity(f"learner:{user.id}")
        assert isinstance(signed_in, SignedInLearner)
        assert (signed_in.id, signed_in.tenant_id, signed_in.name, signed_in.email, signed_in.locale) == (
            user.id,
            user.tenant_id,
            "Ada Lovelace",
            "ada@acme.example",
            "es-ES",
        )
        assert signed_in.is_authenticated and signed_in.is_active and not signed_in.is_anonymous
        assert not signed_in.is_staff and signed_in.get_id() == user.get_id()
        assert signed_in == user  # Flask-Login's equality: the same identity
        staff = db.session.scalar(select(StaffAccount))
        assert load_identity(staff.get_id()) is staff  # staff:<id>:<session version>
        assert load_identity(f"staff:{staff.id}") is None  # a session from before versions
        assert load_identity(f"staff:{staff.id}:{staff.session_version + 1}") is None
        for unknown in (f"learner:{user.id + 1000}", "learner:x", "robot:1", ""):
            assert load_identity(unknown) is None


def test_a_deleted_learner_is_signed_out(app, driver, registered):
    result = driver.launch(learner_claims(registered))
    overview = landed_on(result.text)
    assert driver.get(overview).status == 200
    with app.app_context():
        db.session.delete(db.session.scalar(select(User)))
        db.session.commit()
    page = driver.get(overview)
    assert page.status == 401 and "Please start from your LMS" in page.text


def test_a_launch_that_waited_for_the_learners_other_launch_adds_no_second_grade_target(
    app, driver, registered
):
    """Such a launch read the standing before the other one committed: it may add what exists."""
    assert driver.launch(learner_claims(registered)).response.status == 200
    with app.app_context():
        target = db.session.scalar(select(GradeTarget))
        services.add_grade_target(target.enrolment_id, target.resource_link_id, "u-ada")
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(GradeTarget)) == 1
        assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 1


def test_an_instructor_launch_signs_the_instructor_in_without_enrolling(app, driver, registered):
    claims = registered.resource_link_claims(
        learner("u-teach", "Tess", "Teacher"),
        roles_for("moodle", "instructor"),
        custom={"course": ORIENTATION},
    )
    result = driver.launch(claims)
    assert result.response.status == 303 and result.response.location.endswith("/lti/report")
    with app.app_context():
        assert db.session.scalar(select(User.name)) == "Tess Teacher"
        assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 0
