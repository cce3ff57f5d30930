import json
import logging
import socket
import sqlite3

import psycopg
import pytest
from sqlalchemy import bindparam, literal, select, text
from sqlalchemy.exc import OperationalError

from tests.conftest import settings_for
from tests.helpers import text_of
from training_app import create_app
from training_app.errors import DomainError, is_database_unavailable
from training_app.extensions import db


@pytest.fixture
def error_app(tmp_path):
    app = create_app(settings_for("sqlite://", tmp_path, LOG_FORMAT="json", LOG_LEVEL="INFO"))

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    @app.get("/rule")
    def rule():
        raise DomainError("Type your full name to sign.", errors={"name": "required"}, status=422)

    @app.get("/numbers")
    def numbers():
        raise DomainError("Your LMS refused it.", errors={"lms_status": 404, "codes": [1, 2]}, status=502)

    return app


@pytest.mark.parametrize(
    ("path", "method", "status", "phrase"),
    [
        ("/does-not-exist", "get", 404, "We could not find that page"),
        ("/healthz", "post", 405, "This page cannot be used that way"),
        ("/boom", "get", 500, "Something went wrong on our side"),
        ("/rule", "get", 422, "Type your full name to sign."),
    ],
)
def test_error_pages_match_the_product_and_hide_internals(error_app, path, method, status, phrase):
    response = getattr(error_app.test_client(), method)(path, headers={"Accept": "text/html"})
    body = response.get_data(as_text=True)
    assert response.status_code == status
    assert phrase in body
    assert "Postwise" in body and 'class="site-header"' in body
    assert "Traceback" not in body and "secret internal detail" not in body
    assert response.headers["X-Request-ID"] in body


def test_errors_as_json_for_the_api(error_app):
    response = error_app.test_client().get("/rule", headers={"Accept": "application/json"})
    assert response.status_code == 422
    body = response.json
    assert body["code"] == "bad_request" or body["code"]
    assert body["status"] == 422 and body["message"] == "Type your full name to sign."
    assert body["errors"] == {"name": "required"}
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_405_keeps_the_allow_header(error_app):
    response = error_app.test_client().delete("/healthz")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_an_incoming_request_id_is_reused_and_logged_as_json(error_app, capfd):
    client = error_app.test_client()
    response = client.get("/boom", headers={"X-Request-ID": "lb-1234567890"})
    assert response.headers["X-Request-ID"] == "lb-1234567890"
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    error_line = next(line for line in lines if line["message"] == "unhandled error")
    assert error_line["request_id"] == "lb-1234567890"
    assert error_line["level"] == "ERROR"
    access = next(line for line in lines if line.get("path") == "/boom")
    assert access["status"] == 500 and access["request_id"] == "lb-1234567890"


def test_a_malformed_request_id_is_replaced(error_app):
    response = error_app.test_client().get("/healthz", headers={"X-Request-ID": "<script>"})
    assert response.headers["X-Request-ID"] != "<script>"
    assert len(response.headers["X-Request-ID"]) == 32


def test_pages_may_be_embedded_only_by_allowed_origins(error_app):
    response = error_app.test_client().get("/")
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]


def test_logging_is_restored_between_apps(error_app):
    handlers = [h for h in logging.getLogger().handlers if getattr(h, "_training_app", False)]
    assert len(handlers) == 1


def _json_log_lines(capfd) -> list[dict]:
    return [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]


def test_a_missing_table_on_sqlite_is_a_logged_500_not_an_outage(error_app, capfd):
    """SQLite's "no such table" is an OperationalError, but a programming error: no retry helps."""

    @error_app.get("/missing-table")
    def missing_table():
        db.session.execute(text("SELECT * FROM no_such_table")).all()
        return "unreachable"

    response = error_app.test_client().get("/missing-table", headers={"Accept": "text/html"})
    body = text_of(response)
    assert response.status_code == 500
    assert "Something went wrong on our side" in body
    assert "cannot reach its database" not in body and "no_such_table" not in body
    reference = response.headers["X-Request-ID"]
    assert reference in body
    lines = _json_log_lines(capfd)
    error_line = next(line for line in lines if line["message"] == "unhandled error")
    assert error_line["level"] == "ERROR" and error_line["request_id"] == reference
    assert "Traceback" in error_line["exc_info"] and "no such table: no_such_table" in error_line["exc_info"]
    assert not [line for line in lines if line["message"] == "database unavailable"]


@pytest.fixture
def database_error_app(database_url, tmp_path):
    """The app on the test database of the backend, logging JSON."""
    app = create_app(settings_for(database_url, tmp_path / "instance", LOG_FORMAT="json", LOG_LEVEL="INFO"))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.postgresql_only
def test_more_bind_parameters_than_postgresql_takes_is_a_logged_500(database_error_app, capfd):
    """psycopg refuses more than 65,535 parameters with an OperationalError: a bug in the query
    (an IN list that grows with the data), not the database being down."""

    @database_error_app.get("/many-parameters")
    def many_parameters():
        db.session.execute(
            select(literal(1)).where(literal(0).in_(bindparam("ids", expanding=True))),
            {"ids": list(range(70_000))},
        ).all()
        return "unreachable"

    response = database_error_app.test_client().get("/many-parameters", headers={"Accept": "text/html"})
    body = text_of(response)
    assert response.status_code == 500, body[:500]
    assert "Something went wrong on our side" in body and "cannot reach its database" not in body
    assert response.headers["X-Request-ID"] in body
    lines = _json_log_lines(capfd)
    error_line = next(line for line in lines if line["message"] == "unhandled error")
    assert "Traceback" in error_line["exc_info"]
    assert "65535" in error_line["exc_info"]  # psycopg's own words: the parameter limit
    assert not [line for line in lines if line["message"] == "database unavailable"]


def test_a_database_that_cannot_be_reached_is_a_503(tmp_path, capfd):
    closed_port = _closed_local_port()
    app = create_app(
        settings_for(
            f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/postgres",
            tmp_path / "instance",
            LOG_FORMAT="json",
            LOG_LEVEL="INFO",
        )
    )

    @app.get("/needs-the-database")
    def needs_the_database():
        db.session.execute(text("SELECT 1")).all()
        return "unreachable"

    try:
        client = app.test_client()
        page = client.get("/needs-the-database", headers={"Accept": "text/html"})
        api = client.get("/needs-the-database", headers={"Accept": "application/json"})
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    assert page.status_code == 503
    assert "The service cannot reach its database right now" in text_of(page)
    assert page.headers["X-Request-ID"] in text_of(page)
    assert api.status_code == 503 and api.json["code"] == "service_unavailable"
    lines = _json_log_lines(capfd)
    assert [line for line in lines if line["message"] == "database unavailable"]
    assert not [line for line in lines if line["message"] == "unhandled error"]


def _closed_local_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound then released: refused, not filtered)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _psycopg_error(sqlstate: str, message: str) -> psycopg.Error:
    """The exception psycopg raises for a server error with this SQLSTATE."""
    return psycopg.errors.lookup(sqlstate)(message)


@pytest.mark.parametrize(
    ("statement", "orig", "invalidated", "unavailable"),
    [
        pytest.param("SELECT 1", _psycopg_error("08006", "connection failure"), False, True, id="08006"),
        pytest.param(
            "SELECT 1",
            _psycopg_error("57P01", "terminating connection due to administrator command"),
            False,
            True,
            id="57P01",
        ),
        pytest.param(
            "SELECT 1", _psycopg_error("53300", "sorry, too many clients already"), False, True, id="53300"
        ),
        pytest.param(
            "SELECT 1",
            psycopg.OperationalError("server closed the connection unexpectedly"),
            True,
            True,
            id="invalidated",
        ),
        pytest.param(None, psycopg.OperationalError("connection refused"), False, True, id="never-connected"),
        pytest.param(
            "SELECT 1", sqlite3.OperationalError("database is locked"), False, True, id="sqlite-locked"
        ),
        pytest.param(
            "SELECT 1",
            sqlite3.OperationalError("unable to open database file"),
            False,
            True,
            id="sqlite-cannot-open",
        ),
        pytest.param(
            "SELEC 1",
            _psycopg_error("42601", 'syntax error at or near "SELEC"'),
            False,
            False,
            id="42601-syntax",
        ),
        pytest.param(
            "INSERT ...",
            _psycopg_error("54000", "index row size exceeds maximum"),
            False,
            False,
            id="54000-limit",
        ),
        pytest.param(
            "SELECT ... IN (...)",
            psycopg.OperationalError(
                "sending query and params failed: number of parameters must be between 0 and 65535"
            ),
            False,
            False,
            id="too-many-parameters",
        ),
        pytest.param(
            "SELECT * FROM no_such_table",
            sqlite3.OperationalError("no such table: no_such_table"),
            False,
            False,
            id="sqlite-no-such-table",
        ),
    ],
)
def test_only_connection_and_availability_problems_count_as_the_database_being_unavailable(
    statement, orig, invalidated, unavailable
):
    error = OperationalError(statement, {}, orig, connection_invalidated=invalidated)
    assert is_database_unavailable(error) is unavailable


def test_an_error_whose_details_are_numbers_renders_its_page(error_app):
    """The error page once crashed on an integer (`|join` of an int) and fell back to bare HTML."""
    response = error_app.test_client().get("/numbers")
    assert response.status_code == 502
    page = text_of(response)
    assert "lms_status</strong>: 404" in page and "codes</strong>: 1, 2" in page
    assert 'href="/static/app.css"' in page  # the site's page, not the bare fallback
