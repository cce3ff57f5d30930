"""Redis unavailable: with REDIS_URL set, launch state and rate-limit counters fall back to the
database (where they live without Redis), so launches and sign-ins go on working and the limits
still hold; when Redis answers again it is used again. Never a 500.

The Redis that fails is the test's own (tests/faults/redis_server.py) or a port nothing listens on.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from lti import storage
from lti.models import LaunchState
from tests import factories
from tests.faults.redis_server import free_port
from tests.helpers import FormClient, text_of
from tests.launch.conftest import driver, learner, learner_claims, platform, registered  # noqa: F401
from training_app import rate_limits
from training_app.extensions import db
from training_app.models import RateLimitCounter


@pytest.fixture
def redis_url() -> str:
    """Where REDIS_URL points: by default a port nothing listens on (connections are refused)."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def app_settings(app_settings, redis_url):
    return {**app_settings, "REDIS_URL": redis_url}


@pytest.fixture
def retry_redis_at_once(monkeypatch):
    """After a failure the app leaves Redis alone for REDIS_RETRY_SECONDS; these tests bring it back
    at once."""
    monkeypatch.setattr(rate_limits, "REDIS_RETRY_SECONDS", 0.0)


def rows(app, model) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(model))
        db.session.rollback()
    return count


def state_of(login) -> str:
    return parse_qs(urlsplit(login.auth_url).query)["state"][0]


def sign_in_attempts_until_refused(app, limit: int = 20) -> list[int]:
    """Wrong passwords until a 429; the statuses answered."""
    client = FormClient(app)
    statuses = []
    while len(statuses) < limit:
        response = client.login("hr@acme.example", "not the password!")
        assert response.status_code in (401, 429), text_of(response)[:500]
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert "Retry-After" in response.headers
            assert "Too many failed sign-in attempts" in text_of(response)
            break
    return statuses


# --- Redis down from the start --------------------------------------------------------------------


def test_a_launch_works_with_its_state_kept_in_the_database(app, driver, registered):  # noqa: F811
    login = driver.login(learner_claims(registered))
    assert login.auth_url is not None, login.response.text[:500]
    assert rows(app, LaunchState) == 1  # the login record went to the database
    auth = driver.authorize(login)
    launched = driver.post_launch(auth)
    assert launched.status == 200, launched.text[:500]
    assert rows(app, LaunchState) == 0  # taken once
    replay = driver.post_launch(auth)
    assert replay.status == 401 and "already been used" in replay.text


def test_sign_in_limits_still_hold_with_their_counters_in_the_database(app, registered):  # noqa: F811
    assert sign_in_attempts_until_refused(app) == [401] * 5 + [429]
    assert rows(app, RateLimitCounter) >= 1


# --- Redis that stops answering, then answers again -------------------------------------------------


class TestARedisThatFailsAndComesBack:
    @pytest.fixture
    def redis_url(self, private_redis) -> str:
        return private_redis.url

    def test_launch_state_moves_to_the_database_and_back(
        self,
        app,
        driver,  # noqa: F811
        registered,  # noqa: F811
        private_redis,
        retry_redis_at_once,
    ):
        keys = private_redis.client()
        first = driver.login(learner_claims(registered, user=learner("u-ada")))
        assert keys.exists(f"postwise:lti:login-{state_of(first)}") and rows(app, LaunchState) == 0

        private_redis.stop()
        second = driver.login(learner_claims(registered, user=learner("u-grace", "Grace", "Hopper")))
        assert second.auth_url is not None, second.response.text[:500]
        assert rows(app, LaunchState) == 1  # written to the database while Redis was down

        private_redis.start()  # empty: it keeps nothing on disk
        launched = driver.post_launch(driver.authorize(second))
        assert launched.status == 200, launched.text[:500]  # found in the database: Redis has no such key
        assert rows(app, LaunchState) == 0

        lost = driver.post_launch(driver.authorize(first))  # begun before the restart, kept only in Redis
        assert lost.status == 401, lost.text[:500]  # the learner opens the activity again
        third = driver.login(learner_claims(registered, user=learner("u-alan", "Alan", "Turing")))
        assert keys.exists(f"postwise:lti:login-{state_of(third)}")  # Redis again
        assert driver.post_launch(driver.authorize(third)).status == 200

    def test_a_redis_that_does_not_answer_in_time_is_passed_by(
        self,
        app,
        driver,  # noqa: F811
        registered,  # noqa: F811
        private_redis,
    ):
        """A paused Redis (no answer, no refusal) costs one timeout, then the database serves."""
        private_redis.client().execute_command("CLIENT", "PAUSE", 5000, "ALL")
        login = driver.login(learner_claims(registered))
        assert login.auth_url is not None, login.response.text[:500]
        assert rows(app, LaunchState) == 1
        with app.app_context():
            store = storage.store()
            assert not store.circuit.closed()  # Redis is left alone for a while
        assert driver.post_launch(driver.authorize(login)).status == 200

    def test_sign_in_limits_carry_on_in_the_database_when_redis_goes(
        self,
        app,
        registered,  # noqa: F811
        private_redis,
        retry_redis_at_once,
    ):
        client = FormClient(app)
        for _ in range(3):
            assert client.login("hr@acme.example", "not the password!").status_code == 401
        assert private_redis.client().keys("*training-rl*")  # counted in Redis
        assert rows(app, RateLimitCounter) == 0

        private_redis.stop()
        # The window starts again in the database: at most the limit once more, then 429.
        assert sign_in_attempts_until_refused(app) == [401] * 5 + [429]
        assert rows(app, RateLimitCounter) >= 1

        private_redis.start()
        with app.app_context():
            factories.staff(factories_tenant(), "auditor@acme.example", "auditor")
            db.session.commit()
        other = FormClient(app)
        assert other.login("auditor@acme.example", "not the password!").status_code == 401
        assert private_redis.client().keys("*training-rl*")  # Redis counts again


def factories_tenant():
    from training_app.models import Tenant

    return db.session.scalar(select(Tenant).where(Tenant.slug == "acme"))
