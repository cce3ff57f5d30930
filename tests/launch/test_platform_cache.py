"""Registrations are reused by a process for a few seconds (lti.platform_cache.find_platform): what that
may and may not change. A change made with plain SQL stands for one made by another process."""

from urllib.parse import urlsplit

from sqlalchemy import select, text

from lti import platform_cache
from lti.models import Platform
from tests.helpers import sign_in_learner
from tests.launch.conftest import learner_claims
from training_app.extensions import db


def platform_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(Platform.id))


def sql(app, statement: str, **params) -> None:
    with app.app_context():
        db.session.execute(text(statement), params)
        db.session.commit()


def test_a_deployment_added_by_another_process_is_accepted_at_once(app, driver, registered):
    assert driver.launch(learner_claims(registered)).response.status == 200  # the registration is cached
    sql(
        app,
        "INSERT INTO lti_deployments (platform_id, deployment_id, created_at) VALUES (:id, '9', :now)",
        id=platform_id(app),
        now="2026-11-27 00:00:00",
    )
    registered.deployment_id = "9"
    assert driver.launch(learner_claims(registered)).response.status == 200


def test_a_deployment_nobody_registered_is_still_refused(driver, registered):
    assert driver.launch(learner_claims(registered)).response.status == 200
    registered.deployment_id = "nobody-registered-this"
    refused = driver.launch(learner_claims(registered)).response
    assert refused.status == 403 and "deployment" in refused.text


def test_an_edit_made_in_this_process_is_seen_at_once(app, driver, registered):
    assert driver.launch(learner_claims(registered)).response.status == 200
    with app.app_context():
        platform = db.session.scalar(select(Platform))
        platform.auth_login_url = "https://lms.example/moved/auth"
        db.session.commit()
    login = driver.login(learner_claims(registered))
    assert login.auth_url and login.auth_url.startswith("https://lms.example/moved/auth?")


def test_an_edit_made_by_another_process_is_seen_within_the_cache_time(app, driver, registered, monkeypatch):
    assert driver.launch(learner_claims(registered)).response.status == 200
    sql(app, "UPDATE lti_platforms SET auth_login_url = 'https://lms.example/moved/auth'")
    cached = driver.login(learner_claims(registered))
    assert urlsplit(cached.auth_url).path == urlsplit(registered.auth_url).path  # at most that long
    monkeypatch.setattr(platform_cache, "PLATFORM_CACHE_SECONDS", 0.0)  # ... the cache time has passed
    login = driver.login(learner_claims(registered))
    assert login.auth_url and login.auth_url.startswith("https://lms.example/moved/auth?")


def test_an_unknown_registration_is_not_remembered(app, client, registered):
    params = {"iss": registered.issuer, "login_hint": "x", "target_link_uri": "http://localhost/lti/launch"}
    unknown = client.post("/lti/login", data={**params, "client_id": "registered-later"})
    assert unknown.status_code == 401 and "meant for another tool" in unknown.get_data(as_text=True)
    sql(app, "UPDATE lti_platforms SET client_id = 'registered-later'")
    assert client.post("/lti/login", data={**params, "client_id": "registered-later"}).status_code == 302


def test_an_error_response_elsewhere_keeps_the_cached_registration(app, driver, registered):
    assert driver.launch(learner_claims(registered)).response.status == 200
    sql(app, "UPDATE lti_platforms SET auth_login_url = 'https://lms.example/moved/auth'")
    visitor = app.test_client()
    sign_in_learner(visitor, 1)  # reads the learner's row: the 404's rollback ends a real transaction
    assert visitor.get("/quiz/attempts/999999").status_code == 404
    cached = driver.login(learner_claims(registered))
    assert urlsplit(cached.auth_url).path == urlsplit(registered.auth_url).path


def test_an_edit_rolled_back_in_this_process_is_forgotten(app, driver, registered):
    assert driver.launch(learner_claims(registered)).response.status == 200
    with app.app_context():
        platform = db.session.scalar(select(Platform))
        platform.auth_login_url = "https://lms.example/never/committed"
        db.session.flush()
        platform_cache.find_platform(platform.issuer, platform.client_id)  # reads the uncommitted edit
        db.session.rollback()
    login = driver.login(learner_claims(registered))
    assert urlsplit(login.auth_url).path == urlsplit(registered.auth_url).path
