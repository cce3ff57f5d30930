"""The API against its own OpenAPI 3.1 document: schemathesis generates requests for every
operation from the document, valid ones and invalid ones, and checks each answer: never a 5xx,
a documented status, the documented content type, a body matching its schema. Examples are
bounded so the run takes well under a minute. Also: the document and its documentation page,
served from this site only (no CDN)."""

from __future__ import annotations

import os
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import settings_for

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = {schemathesis.GenerationMode.POSITIVE: 12, schemathesis.GenerationMode.NEGATIVE: 6}
# API_FUZZ_SCALE=10 runs ten times the examples, with a new random seed each run (a longer hunt).
SCALE = int(os.environ.get("API_FUZZ_SCALE", "1"))


@pytest.fixture
def app_settings(database_url, tmp_path):
    # Hundreds of requests in a few seconds: the rate limit is tested on its own (test_rate_limit).
    return settings_for(database_url, tmp_path / "instance", API_RATE_LIMIT="100000 per minute")


def test_the_document_is_openapi_3_1_with_bearer_tokens_and_documented_errors(app):
    spec = app.test_client().get("/api/openapi.json").json
    assert spec["openapi"] == "3.1.0"
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (pw_...), scope read or write; write tokens read too.",
    }
    assert spec["security"] == [{"bearerAuth": []}]
    operations = [
        (path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "patch")
    ]
    assert len(operations) == 18
    for path, method, operation in operations:
        assert path.startswith("/api/v1/")
        assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)
        error = operation["responses"]["401"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/Error"}
        if method != "get":
            assert {"413", "422"} <= set(operation["responses"]), (method, path)
    assert set(spec["components"]["schemas"]["Error"]["required"]) == {"code", "status", "message", "errors"}


def test_the_documentation_page_is_served_from_this_site(app):
    client = app.test_client()
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert not re.search(r"""(src|href)=["']https?://""", html), "nothing may come from another site"
    assert "<script>" not in html  # the CSP allows no inline script
    sources = re.findall(r"""(?:src|href)=["'](/[^"']+)["']""", html)
    assert len(sources) >= 5
    for source in sources:
        with client.get(source) as answer:  # files are streamed: close them
            assert answer.status_code == 200, source
    with client.get("/api/docs/swagger-ui/swagger-ui-bundle.js") as bundle:
        assert bundle.mimetype in ("text/javascript", "application/javascript") and len(bundle.data) > 500_000
    with client.get("/api/docs/swagger-ui/LICENSE") as licence:
        assert "Apache License" in licence.get_data(as_text=True)
    assert client.get("/api/docs/swagger-ui/../../../../etc/passwd").status_code == 404
    assert client.get("/api/docs/swagger-ui/index.html").status_code == 404
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_every_operation_answers_as_its_document_says(app, tokens, world):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    headers = {"Authorization": f"Bearer {tokens.write}"}
    tried = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in EXAMPLES_PER_OPERATION.items():

            @settings(
                max_examples=examples * SCALE,
                deadline=None,
                database=None,
                derandomize=SCALE == 1,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                case.call_and_validate(headers=headers, checks=CHECKS)

            run()
        tried.append(operation.label)
    assert len(tried) == 18, tried
