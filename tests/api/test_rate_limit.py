"""Each API token has its own rate limit: one client's burst does not stop another's."""

from __future__ import annotations

import pytest

from tests.api.conftest import ApiClient
from tests.conftest import settings_for


@pytest.fixture
def app_settings(database_url, tmp_path):
    return settings_for(database_url, tmp_path / "instance", API_RATE_LIMIT="3 per minute")


def test_a_token_over_its_limit_gets_429_and_the_others_do_not(app, tokens, world):
    workday, warehouse = ApiClient(app, tokens.write), ApiClient(app, tokens.read)
    for _ in range(3):
        assert workday.get("/api/v1/courses").status_code == 200
    refused = workday.get("/api/v1/courses")
    assert refused.status_code == 429
    assert refused.json["code"] == "too_many_requests"
    assert int(refused.headers["Retry-After"]) > 0
    assert warehouse.get("/api/v1/courses").status_code == 200
    assert ApiClient(app, tokens.globex).get("/api/v1/courses").status_code == 200
