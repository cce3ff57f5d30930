"""With REDIS_URL set, launch state lives in Redis (shared by every worker and instance)."""

from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from sqlalchemy import func, select

from lti.models import LaunchState
from tests.launch.conftest import learner_claims
from training_app.extensions import db

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def app_settings(app_settings):
    return {**app_settings, "REDIS_URL": REDIS_URL}


def test_login_state_goes_to_redis_and_the_launch_uses_it_once(app, driver, registered):
    login = driver.login(learner_claims(registered))
    state = parse_qs(urlsplit(login.auth_url).query)["state"][0]
    store = redis.Redis.from_url(REDIS_URL)
    assert store.exists(f"postwise:lti:login-{state}")
    auth = driver.authorize(login)
    response = driver.post_launch(auth)
    assert response.status == 200, response.text
    assert not store.exists(f"postwise:lti:login-{state}"), "the login record is used once"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LaunchState)) == 0
    replay = driver.post_launch(auth)
    assert replay.status == 401 and "already been used" in replay.text
