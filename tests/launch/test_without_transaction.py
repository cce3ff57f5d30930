"""Views marked `without_transaction` (the OIDC login: one INSERT; the course overview: reads) run
their statements in autocommit on PostgreSQL, without BEGIN and COMMIT round trips; the launch,
which writes several rows, keeps its one transaction, and so does the connection afterwards."""

import pytest

from tests.launch.conftest import learner_claims
from tests.lti_platform import LaunchDriver

pytestmark = pytest.mark.postgresql_only


def verbs(executed_sql) -> list[tuple[str, str, bool]]:
    """(method and path, SQL verb, autocommit) for every statement the app ran."""
    return [(where, sql.split()[0].upper(), autocommit) for where, sql, autocommit in executed_sql]


def autocommit_by_request(statements) -> dict[str, set[bool]]:
    by_request: dict[str, set[bool]] = {}
    for where, _verb, autocommit in statements:
        by_request.setdefault(where, set()).add(autocommit)
    return by_request


def test_login_and_overview_commit_each_statement_and_the_launch_keeps_its_transaction(
    client, registered, executed_sql
):
    driver = LaunchDriver(registered, client)
    first = driver.launch(learner_claims(registered))
    assert first.status == 303, first.text[:500]
    overview = client.get(first.response.location)
    assert overview.status_code == 200
    second = driver.launch(learner_claims(registered))  # the same connection, given back reset
    assert second.status == 303, second.text[:500]

    statements = verbs(executed_sql)
    by_request = autocommit_by_request(statements)
    assert by_request["POST /lti/login"] == {True}
    assert by_request["POST /lti/launch"] == {False}
    assert by_request[f"GET {first.response.location.removeprefix('http://localhost')}"] == {True}
    assert ("POST /lti/login", "INSERT", True) in statements
    assert [verb for where, verb, _ in statements if where == "POST /lti/launch"].count("DELETE") == 2
