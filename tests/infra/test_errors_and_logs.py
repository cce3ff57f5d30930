import json
import logging

import pytest

from tests.conftest import settings_for
from training_app import create_app
from training_app.errors import DomainError


@pytest.fixture
def error_app(tmp_path):
    app = create_app(settings_for("sqlite://", tmp_path, LOG_FORMAT="json", LOG_LEVEL="INFO"))

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    @app.get("/rule")
    def rule():
        raise DomainError("Type your full name to sign.", errors={"name": "required"}, status=422)

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
