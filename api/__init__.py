"""5 SERVE: the REST API under /api/v1 for HR systems (flask-smorest on marshmallow schemas), its
OpenAPI 3.1 document at /api/openapi.json and documentation page at /api/docs, and the console
page where HR administrators manage API tokens (training_app.api_tokens)."""

from flask import Flask

from api.core import BEARER, TrainingApi


def init_app(app: Flask) -> None:
    from api import console, core, docs
    from api.resources import assignments, audit, certificates, completions, courses, employees

    core.configure(app)
    rest_api = TrainingApi(app)  # one per app: its OpenAPI document is built from this app's views
    rest_api.spec.components.security_scheme(
        BEARER,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (pw_...), scope read or write; write tokens read too.",
        },
    )
    for resource in (completions, employees, assignments, certificates, courses, audit):
        rest_api.register_blueprint(resource.blp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(console.bp)
