"""Launches from the emulated LMS through the tool's real endpoints."""

import re
from datetime import timedelta

from sqlalchemy import func, select

from courses.models import Enrolment
from lti.models import GradeTarget, LaunchState, ResourceLink
from tests.launch.conftest import ORIENTATION, landed_on, learner, learner_claims
from training_app import outbox
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import User


def test_a_learner_launch_creates_the_user_enrols_and_opens_the_course(app, driver, registered):
    claims = learner_claims(
        registered,
        custom={"department": "Marketing", "employee_id": "E42", "hire_date": "2026-11-02"},
        locale="es-ES",
    )
    result = driver.launch(claims)
    page = result.response  # the launch answers with the course overview: no redirect to it
    assert page.status == 200 and "Orientación sobre la política de redes sociales" in page.text
    assert landed_on(page.text) == f"/courses/{ORIENTATION}/"
    with app.app_context():
        user = db.session.scalar(select(User))
        assert (
            user.name,
            user.email,
            user.department,
            user.employee_id,
            str(user.hire_date),
            user.locale,
        ) == ("Ada Lovelace", "ada@acme.example", "Marketing", "E42", "2026-11-02", "es-ES")
        assert user.issuer == registered.issuer and user.subject == "u-ada"
        enrolment = db.session.scalar(select(Enrolment))
        assert enrolment.source == "lti" and enrolment.due_at.date().isoformat() == "2026-12-02"
        link = db.session.scalar(select(ResourceLink))
        assert link.course_slug == ORIENTATION and link.lineitem_url and link.memberships_url
        assert db.session.scalar(select(func.count()).select_from(GradeTarget)) == 1


def test_a_substitution_variable_the_lms_left_unexpanded_is_ignored(app, driver, registered):
    """Moodle knows no $Person.address.department: it sends the literal text, nobody's department."""
    claims = learner_claims(
        registered,
        custom={"department": "$Person.address.department", "employee_id": "$Canvas.user.sisSourceId"},
    )
    assert driver.launch(claims).response.status == 200
    with app.app_context():
        user = db.session.scalar(select(User))
        assert (user.department, user.employee_id) == (None, None)


def test_the_tool_configuration_suggests_only_variables_lmss_expand(app):
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["lti", "tool-config"])
    assert result.exit_code == 0, result.output
    assert "employee_id=$Person.sourcedId" in result.output
    assert "$Person.address.department" not in result.output and "department=" not in result.output
    assert "come from HR's employee import" in result.output


def test_a_second_launch_resumes_where_the_learner_left_off(app, driver, registered):
    first = driver.launch(learner_claims(registered))
    assert "Start the course" in first.text
    driver.get("/courses/social-media-orientation/lessons/why-social-media-matter")
    again = driver.launch(learner_claims(registered))
    assert again.response.status == 200 and landed_on(again.text) == f"/courses/{ORIENTATION}/"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 1
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_login_nonces_are_random_not_time_based(driver, registered):
    """The library's default nonce ends with a uuid1, which carries the tool host's MAC and clock."""
    nonces = [driver.launch(learner_claims(registered)).auth.nonce for _ in range(2)]
    assert nonces[0] != nonces[1]
    for nonce in nonces:
        assert len(nonce) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", nonce)
        assert not re.search(r"[0-9a-f]{12}1[0-9a-f]{3}[89ab][0-9a-f]{15}$", nonce)  # no uuid1 hex


def test_a_replayed_launch_is_refused(driver, registered):
    result = driver.launch(learner_claims(registered))
    assert result.response.status == 200
    replay = driver.replay(result)
    assert replay.status == 401
    assert "This launch has already been used" in replay.text


def test_a_link_without_a_course_parameter_gets_a_clear_error(driver, registered):
    claims = registered.resource_link_claims(
        learner(), ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]
    )
    result = driver.launch(claims)
    assert result.response.status == 400
    assert "does not say which course to open" in result.response.text


def test_the_workers_housekeeping_purges_abandoned_logins(app, registered):
    with app.app_context():
        db.session.add(
            LaunchState(key="login-abandoned", value={"v": {}}, expires_at=utcnow() - timedelta(1))
        )
        db.session.add(LaunchState(key="login-pending", value={"v": {}}, expires_at=utcnow() + timedelta(1)))
        db.session.commit()
        assert outbox.run_housekeeping() == 1
        assert set(db.session.scalars(select(LaunchState.key))) == {"login-pending"}
