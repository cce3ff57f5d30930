"""Issue 22, the server side of a package's launch: verified (signature, freshness, single use,
the package still works), matched to the tenant's person as an LTI launch is, enrolled; bad input
is refused with a clear answer and nothing is recorded for anyone."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from courses.models import Enrolment
from dispatch import packages
from dispatch.models import DispatchLaunch, DispatchNonce, DispatchPackage
from people import services as people
from tests.conftest import count_rows
from tests.dispatch.conftest import ORIENTATION
from tests.dispatch.steps import LMS_ORIGIN, bearer, launch_body, post_launch
from training_app.auth.services import find_tenant
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import User

EMPLOYEES = """employee_id,email,full_name,department,manager_email,hire_date,locale
E100,boss@acme.example,Bea Boss,Sales,,2020-01-10,en
E101,ada@acme.example,Ada Lovelace,Engineering,boss@acme.example,2026-11-20,en
"""


def import_employees(app) -> None:
    with app.app_context():
        people.import_employees(find_tenant("acme"), EMPLOYEES.encode(), dry_run=False, actor="test")
        db.session.commit()


def nothing_recorded(app) -> None:
    with app.app_context():
        assert count_rows("dispatch_launches") == 0
        assert count_rows("dispatch_nonces") == 0
        assert db.session.scalar(select(User).where(User.issuer.like("dispatch:%"))) is None


def test_a_signed_launch_opens_the_course_for_a_new_learner(app, client, make_package):
    built = make_package("scorm12", lms_name="Cornerstone")
    response = post_launch(client, launch_body(built.dispatch_id, built.secret, "u-77", "Lovelace, Ada"))
    assert response.status_code == 201, response.json
    answer = response.json
    assert answer["result"] is None and answer["reported"] is False and answer["opens_in"] == "frame"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "no-store" in response.headers["Cache-Control"]
    with app.app_context():
        user = db.session.scalar(select(User).where(User.issuer == "dispatch:cornerstone"))
        assert (user.subject, user.name, user.employee_id) == ("u-77", "Ada Lovelace", "u-77")
        enrolment = db.session.scalar(select(Enrolment).where(Enrolment.user_id == user.id))
        assert enrolment.source == "dispatch" and enrolment.course.slug == ORIENTATION
        launch = db.session.scalar(select(DispatchLaunch))
        assert launch.frame_origins == LMS_ORIGIN and launch.lms_learner_id == "u-77"
        assert answer["token"] not in (launch.token_hash, launch.enter_hash), "tokens are stored hashed"

    status = client.get("/dispatch/api/launch", headers=bearer(answer["token"]))
    assert status.status_code == 200 and status.json["result"] is None

    enter = client.get(urlsplit(answer["enter_url"]).path)
    assert enter.status_code == 303 and enter.headers["Location"] == f"/courses/{ORIENTATION}/"
    overview = client.get(enter.headers["Location"])
    assert overview.status_code == 200 and "Social media policy orientation" in overview.get_data(
        as_text=True
    )
    assert LMS_ORIGIN in overview.headers["Content-Security-Policy"], "the LMS page may frame the training"
    again = client.get(urlsplit(answer["enter_url"]).path)
    assert again.status_code == 401, "the sign-in link works once"


def test_a_tampered_signature_is_refused_and_records_nothing(app, client, make_package):
    built = make_package("scorm2004")
    body = launch_body(built.dispatch_id, built.secret)
    body["learner_id"] = "E100"  # signed for E101
    response = post_launch(client, body)
    assert (response.status_code, response.json["code"]) == (401, "bad_signature")
    assert "could not be verified" in response.json["message"]
    wrong_secret = launch_body(built.dispatch_id, "not-the-package-secret")
    assert post_launch(client, wrong_secret).json["code"] == "bad_signature"
    nothing_recorded(app)


def test_a_replayed_launch_is_refused(app, client, make_package):
    built = make_package("scorm12")
    body = launch_body(built.dispatch_id, built.secret)
    assert post_launch(client, body).status_code == 201
    replay = post_launch(client, body)
    assert (replay.status_code, replay.json["code"]) == (409, "replayed_launch")
    with app.app_context():
        assert count_rows("dispatch_launches") == 1


def test_an_old_launch_is_refused_with_the_server_time(app, client, make_package):
    built = make_package("scorm12")
    response = post_launch(
        client, launch_body(built.dispatch_id, built.secret, timestamp=int(time.time()) - 600)
    )
    assert (response.status_code, response.json["code"]) == (400, "stale_launch")
    assert abs(response.json["errors"]["server_time"] - time.time()) < 5, (
        "the page retries on the server's clock"
    )
    nothing_recorded(app)


def test_an_empty_learner_id_is_refused(app, client, make_package):
    built = make_package("scorm12")
    response = post_launch(client, launch_body(built.dispatch_id, built.secret, learner_id="  "))
    assert (response.status_code, response.json["code"]) == (400, "no_learner_id")
    assert "learner id is empty" in response.json["message"]
    nothing_recorded(app)


def test_control_characters_in_the_name_are_refused(app, client, make_package):
    built = make_package("scorm12")
    response = post_launch(
        client, launch_body(built.dispatch_id, built.secret, learner_name="Ada\u202eecalovoL")
    )
    assert response.status_code == 400 and "learner name" in response.json["message"]
    nothing_recorded(app)


def test_a_revoked_package_is_refused_and_its_open_launches_end(app, client, make_package):
    built = make_package("scorm12")
    started = post_launch(client, launch_body(built.dispatch_id, built.secret)).json
    with app.app_context():
        packages.revoke(db.session.get(DispatchPackage, built.id), actor="test")
        db.session.commit()
    response = post_launch(client, launch_body(built.dispatch_id, built.secret, "E100"))
    assert (response.status_code, response.json["code"]) == (410, "package_revoked")
    assert "withdrawn by your HR team" in response.json["message"]
    assert client.get("/dispatch/api/launch", headers=bearer(started["token"])).status_code == 410
    enter = client.get(urlsplit(started["enter_url"]).path)
    assert enter.status_code == 410 and "withdrawn" in enter.get_data(as_text=True)
    with app.app_context():
        assert count_rows("dispatch_launches") == 1


def test_an_unknown_package_and_another_tenants_secret_are_refused(app, client, make_package):
    from tests import factories

    built = make_package("scorm12")
    with app.app_context():
        globex = factories.tenant("globex", "Globex")
        other = packages.create_package(globex, packages.PackageChoice(ORIENTATION, "scorm12"), actor="test")
        db.session.commit()
        other_secret = packages.secrets_accepted(other, utcnow())[0]
    assert (
        post_launch(client, launch_body("pwunknown0000000000", built.secret)).json["code"]
        == "unknown_package"
    )
    assert post_launch(client, launch_body(built.dispatch_id, other_secret)).json["code"] == "bad_signature"
    nothing_recorded(app)


def test_a_rotated_secret_keeps_the_old_package_working_for_its_grace_period(app, client, make_package):
    built = make_package("scorm12")
    with app.app_context():
        package = db.session.get(DispatchPackage, built.id)
        packages.rotate_secret(package, actor="test", grace=timedelta(days=3))
        new_secret = packages.secrets_accepted(package, utcnow())[0]
        db.session.commit()
    assert new_secret != built.secret
    assert post_launch(client, launch_body(built.dispatch_id, built.secret, "E100")).status_code == 201
    assert post_launch(client, launch_body(built.dispatch_id, new_secret, "E101")).status_code == 201
    with app.app_context():
        package = db.session.get(DispatchPackage, built.id)
        package.previous_secret_expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    late = post_launch(client, launch_body(built.dispatch_id, built.secret, "E100"))
    assert late.json["code"] == "bad_signature"
    assert post_launch(client, launch_body(built.dispatch_id, new_secret, "E100")).status_code == 201


def test_the_learner_id_finds_the_employee_hr_imported(app, client, make_package):
    import_employees(app)
    built = make_package("scorm12", lms_name="SuccessFactors")
    assert (
        post_launch(client, launch_body(built.dispatch_id, built.secret, "E101", "L., A.")).status_code == 201
    )
    with app.app_context():
        ada = db.session.scalar(select(User).where(User.employee_id == "E101"))
        assert (ada.issuer, ada.subject) == ("dispatch:successfactors", "E101")
        assert ada.name == "Ada Lovelace", "HR's details stand"
        assert count_rows("users") == 2
        assert db.session.scalar(select(Enrolment.source).where(Enrolment.user_id == ada.id)) in (
            "hire_rule",
            "dispatch",
        )


def test_an_email_learner_id_finds_the_employee_by_email(app, client, make_package):
    import_employees(app)
    built = make_package("cmi5", learner_id_is="email")
    body = launch_body(built.dispatch_id, built.secret, "Ada@Acme.example", "Ada L.", registration="reg-1")
    assert post_launch(client, body).status_code == 201
    with app.app_context():
        ada = db.session.scalar(select(User).where(User.employee_id == "E101"))
        assert ada.subject == "Ada@Acme.example" and count_rows("users") == 2


def test_an_lms_user_name_is_never_taken_for_an_employee_id(app, client, make_package):
    import_employees(app)
    built = make_package("scorm12", learner_id_is="lms_user")
    assert (
        post_launch(client, launch_body(built.dispatch_id, built.secret, "E101", "Someone Else")).status_code
        == 201
    )
    with app.app_context():
        stranger = db.session.scalar(select(User).where(User.issuer == "dispatch:lms"))
        assert stranger.employee_id is None and stranger.name == "Someone Else"
        assert count_rows("users") == 3


def test_the_api_answers_cross_origin_preflights(client):
    response = client.options(
        "/dispatch/api/launches",
        headers={
            "Origin": LMS_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response.headers, "no cookies cross origins"


def test_a_launch_token_is_needed_to_follow_a_launch(client):
    response = client.get("/dispatch/api/launch", headers={"Accept": "application/json"})
    assert (response.status_code, response.json["code"]) == (401, "launch_expired")
    response = client.get("/dispatch/api/launch", headers=bearer("made-up"))
    assert response.status_code == 401


@pytest.mark.parametrize("body", [[], "text", {"dispatch_id": 5}])
def test_malformed_launch_requests_are_refused(client, make_package, body):
    make_package("scorm12")
    response = client.post("/dispatch/api/launches", json=body, headers={"Accept": "application/json"})
    assert 400 <= response.status_code < 500 and response.json["message"]


def test_nonces_expire_and_are_purged(app, client, make_package):
    from dispatch import signatures

    built = make_package("scorm12")
    now = utcnow()
    with app.app_context():
        assert signatures.use_nonce(built.id, "n" * 22, now) is True
        assert signatures.use_nonce(built.id, "n" * 22, now) is False
        db.session.commit()
        row = db.session.scalar(select(DispatchNonce))
        assert row.expires_at - now == 2 * signatures.MAX_SKEW
        row.expires_at = now - timedelta(seconds=1)
        db.session.commit()
        assert signatures.purge_expired_nonces() == 1
        db.session.commit()
        assert count_rows("dispatch_nonces") == 0
