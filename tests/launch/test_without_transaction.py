"""Views marked `without_transaction` run their statements in autocommit on PostgreSQL, without
BEGIN and COMMIT round trips: the OIDC login (one INSERT), the course overview (reads) and the
launch, which takes its login alone and opens one transaction only for the rows a learner's launch
writes together (first launch: user, enrolment, grade target). The connection goes back reset."""

import pytest
from sqlalchemy import func, select

from courses.models import Enrolment
from lti import services
from lti.models import GradeTarget, LaunchState
from lti.services import launches
from tests.launch.conftest import ORIENTATION, landed_on, learner_claims
from tests.lti_platform import LaunchDriver
from tests.statements import of_request
from training_app.extensions import db
from training_app.models import User

pytestmark = pytest.mark.postgresql_only

LAUNCH = "POST /lti/launch"


def verb_of(sql: str) -> str:
    return sql.split()[0].upper()


def test_login_and_overview_commit_each_statement(client, registered, executed_sql):
    driver = LaunchDriver(registered, client)
    first = driver.launch(learner_claims(registered))
    assert first.status == 200, first.text[:500]
    overview = client.get(landed_on(first.text))
    assert overview.status_code == 200

    login = of_request(executed_sql, "POST /lti/login")  # and the registration, read now and then
    assert [verb_of(e.sql) for e in login if verb_of(e.sql) != "SELECT"] == ["INSERT"]
    assert all(e.autocommit and not e.in_transaction for e in login)
    page = of_request(executed_sql, f"GET /courses/{ORIENTATION}/")
    assert page and all(e.autocommit and not e.in_transaction for e in page)


def test_a_first_launch_takes_its_login_alone_and_writes_the_learner_in_one_transaction(
    client, registered, executed_sql
):
    driver = LaunchDriver(registered, client)
    assert driver.launch(learner_claims(registered)).status == 200

    launch = of_request(executed_sql, LAUNCH)
    assert all(e.autocommit for e in launch)
    take, standing, *rest = launch
    assert verb_of(take.sql) == "DELETE" and not take.in_transaction  # committed at once: used once
    assert verb_of(standing.sql) == "SELECT" and not standing.in_transaction
    writes = [e for e in rest if verb_of(e.sql) != "SELECT"]
    assert [" ".join(e.sql.split()[:3]) for e in writes] == [
        "INSERT INTO users",
        "INSERT INTO lti_resource_links",
        "INSERT INTO enrolments",
        "INSERT INTO lti_grade_targets",
    ]
    first_write = rest.index(writes[0])  # before it: is this a person HR knows? (reads, in autocommit)
    assert all(e.in_transaction for e in rest[first_write:])  # from the first write on, one transaction


def test_a_repeat_launch_opens_no_transaction(client, registered, executed_sql):
    driver = LaunchDriver(registered, client)
    claims = learner_claims(registered)
    assert driver.launch(claims).status == 200
    executed_sql.clear()
    assert driver.launch(claims).status == 200  # the same connection, given back reset

    launch = of_request(executed_sql, LAUNCH)
    # its login taken, the learner's standing read, then the page it answers with: the overview's read
    assert [(verb_of(e.sql), e.in_transaction) for e in launch] == [
        ("DELETE", False),
        ("SELECT", False),
        ("SELECT", False),
    ]


def test_a_launch_refused_after_its_writes_began_rolls_them_back(app, client, registered, monkeypatch):
    """The learner's rows belong together: a launch that fails after its first write leaves none."""

    def refuse(*_args, **_kwargs):
        raise services.LaunchRefused("refused by the test after the learner was inserted")

    monkeypatch.setattr(launches, "add_grade_target", refuse)
    driver = LaunchDriver(registered, client)
    result = driver.launch(learner_claims(registered))
    assert result.status == 400, result.text[:300]

    with app.app_context():
        counts = [
            db.session.scalar(select(func.count()).select_from(m)) for m in (User, Enrolment, GradeTarget)
        ]
        assert counts == [0, 0, 0]
        assert db.session.scalar(select(func.count()).select_from(LaunchState)) == 0  # the login stays used
    monkeypatch.undo()
    assert driver.launch(learner_claims(registered)).status == 200  # the connection went back usable
