"""`launched`: an LMS launch (LTI 1.3 here) becomes a cmi5 `launched` statement in the tenant's
learning record store, read back from Ralph; a reload within minutes is the same launch."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from feeds.models import XapiStatement
from lti.models import GradeTarget
from lti.services.launches import LAST_LAUNCH_PRECISION
from tests.feeds.conftest import connect_lrs, run_worker
from tests.launch.conftest import learner_claims, register_platform
from tests.lti_platform import LaunchDriver, Platform
from training_app.extensions import db
from training_app.models import Tenant

LAUNCHED = "http://adlnet.gov/expapi/verbs/launched"


def launched_rows(app) -> list[XapiStatement]:
    with app.app_context():
        return list(db.session.scalars(select(XapiStatement).where(XapiStatement.verb == "launched")))


def test_an_lti_launch_is_a_launched_statement_and_a_reload_is_the_same_launch(app, client, acme, lrs):
    connect_lrs(app, acme, lrs)
    with Platform(flavour="moodle") as platform:
        with app.app_context():
            register_platform(db.session.get(Tenant, acme.id), platform)
            db.session.commit()
        driver = LaunchDriver(platform, client)
        assert driver.launch(learner_claims(platform)).status == 200
        assert driver.launch(learner_claims(platform)).status == 200  # a reload: the same launch
        assert len(launched_rows(app)) == 1
        with app.app_context():  # the next launch comes later than a reload would
            target = db.session.scalars(select(GradeTarget)).one()
            target.last_launch_at -= LAST_LAUNCH_PRECISION + timedelta(minutes=1)
            db.session.commit()
        assert driver.launch(learner_claims(platform)).status == 200
    assert run_worker(app) >= 1
    rows = launched_rows(app)
    assert len(rows) == 2 and {row.status for row in rows} == {"delivered"}
    found = {statement["id"]: statement for statement in lrs.statements(verb=LAUNCHED)}
    assert set(found) == {row.statement_id for row in rows}
    for statement in found.values():
        assert statement["actor"]["mbox"] == "mailto:ada@acme.example"
        assert statement["object"]["id"].endswith(
            "/xapi/activities/courses/social-media-orientation/versions/1"
        )
        assert statement["context"]["platform"] == "Emulated Moodle"  # the LMS it came from
    assert len({statement["context"]["registration"] for statement in found.values()}) == 1  # one cycle


def test_a_launch_of_a_tenant_without_an_lrs_queues_nothing(app, client, acme):
    with Platform(flavour="moodle") as platform:
        with app.app_context():
            register_platform(db.session.get(Tenant, acme.id), platform)
            db.session.commit()
        assert LaunchDriver(platform, client).launch(learner_claims(platform)).status == 200
    assert launched_rows(app) == []


def test_each_dispatch_package_launch_is_a_launched_statement(app, client, acme, lrs):
    """A SCORM package's launch is signed and used once: each one is a launch."""
    from dispatch import archive, packages
    from tests.dispatch.conftest import BuiltPackage, unpack
    from tests.dispatch.steps import launch_body, post_launch

    connect_lrs(app, acme, lrs)
    with app.app_context(), app.test_request_context():
        choice = packages.PackageChoice("social-media-orientation", "scorm12", lms_name="Cornerstone")
        package = packages.create_package(db.session.get(Tenant, acme.id), choice, actor="test")
        files = unpack(archive.build_package(package))
        secret = BuiltPackage(package.id, package.dispatch_id, "", files, b"").config["secret"]
        dispatch_id = package.dispatch_id
        db.session.commit()
    for _ in range(2):
        response = post_launch(client, launch_body(dispatch_id, secret, "u-77", "Lovelace, Ada"))
        assert response.status_code == 201, response.json
    assert run_worker(app) >= 1
    rows = launched_rows(app)
    assert len(rows) == 2 and {row.status for row in rows} == {"delivered"}
    found = lrs.statements(verb=LAUNCHED)
    assert {statement["id"] for statement in found} == {row.statement_id for row in rows}
    assert {statement["actor"]["name"] for statement in found} == {"Ada Lovelace"}
