"""What every API view shares: the flask-smorest Api and Blueprint, the bearer token, the rate
limit, the body size limit, and bad input turned into the app's one JSON error
(`{code, status, message, errors, request_id}`, training_app.errors).

flask-smorest would register its own handler for every HTTPException, app-wide (the console's
HTML error pages too): this Api does not, and its parser raises the app's DomainErrors instead of
aborting, so a 422 names each field wrong and says why, in the same shape as every other error.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Flask, current_app, g, request
from flask_smorest import Api, Blueprint
from webargs.flaskparser import FlaskParser

from training_app import api_tokens
from training_app.api_tokens import AuthenticatedToken
from training_app.edge import UnsafeText, check_text
from training_app.errors import DomainError, ValidationFailed
from training_app.extensions import csrf, limiter

PREFIX = "/api/v1"
READ_METHODS = ("GET", "HEAD", "OPTIONS")
BEARER = "bearerAuth"


class ErrorSchema(ma.Schema):
    """Every error: 4xx with what to fix, 5xx with a reference to quote."""

    code = ma.fields.String(
        required=True, metadata={"description": "What went wrong, for programs: e.g. validation_failed"}
    )
    status = ma.fields.Integer(required=True, metadata={"description": "The HTTP status"})
    message = ma.fields.String(required=True, metadata={"description": "What went wrong, for people"})
    errors = ma.fields.Dict(
        required=True, metadata={"description": "Each field or parameter that is not right, and why"}
    )
    request_id = ma.fields.String(allow_none=True, metadata={"description": "Quote it to support"})


class TrainingApi(Api):
    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None  # each view documents the errors it gives (documented_errors)

    def _register_error_handlers(self) -> None:
        """None: training_app.errors renders every error (JSON under /api/)."""


class ApiParser(FlaskParser):
    """Unknown query parameters are refused like unknown body fields (a misspelt filter must not
    silently select everything); every problem becomes a ValidationFailed naming its field."""

    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": ma.RAISE,
        "querystring": ma.RAISE,
    }

    def parse(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        data = super().parse(*args, **kwargs)
        refuse_unstorable_text(data)
        return data

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):  # type: ignore[override]
        raise invalid_input(error.messages, schema)

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):  # type: ignore[override]
        raise DomainError(
            "The body is not valid JSON. Send a JSON object with Content-Type: application/json.",
            status=400,
            code="invalid_json",
            errors={"body": "not valid JSON"},
        )


def refuse_unstorable_text(value: Any, where: str = "body") -> None:
    """Text no database column may hold, anywhere in the parsed input: control characters (NUL),
    bidirectional overrides (training_app.edge: 400 naming the field), and lone surrogates, which
    JSON's \\u escapes can spell but UTF-8 cannot."""
    if isinstance(value, dict):
        for key, item in value.items():
            refuse_unstorable_text(item, str(key))
    elif isinstance(value, list | tuple):
        for item in value:
            refuse_unstorable_text(item, where)
    elif isinstance(value, str):
        check_text({where: value})
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise UnsafeText(
                f"{where} contains a lone surrogate (an invalid \\u escape); send UTF-8 text.",
                errors={where: "not UTF-8 text"},
            ) from None


def invalid_input(messages: Any, schema: ma.Schema | None) -> ValidationFailed:
    """webargs' {location: {field: [messages]}} as {field: "message; message"}, unknown fields
    named with the fields that exist."""
    errors: dict[str, Any] = {}
    known = sorted(field.data_key or name for name, field in (schema.fields.items() if schema else ()))
    for location_messages in (messages or {}).values():
        if not isinstance(location_messages, dict):
            location_messages = {"body": location_messages}
        for field, problems in location_messages.items():
            errors["body" if field == "_schema" else field] = _described(problems, known)
    unknown = [field for field, problem in errors.items() if problem == "unknown field"]
    others = "; ".join(f"{field}: {problem}" for field, problem in errors.items() if field not in unknown)
    parts = (
        [f"Unknown field(s): {', '.join(unknown)}. The fields are: {', '.join(known)}."] if unknown else []
    )
    if others:
        parts.append(f"Some fields are not right: {others}.")
    return ValidationFailed(" ".join(parts), errors=errors)


def _described(problems: Any, known: list[str]) -> str:
    if isinstance(problems, dict):  # a nested field or a list's items
        return "; ".join(f"{key}: {_described(value, known)}" for key, value in problems.items())
    if isinstance(problems, list):
        texts = [_described(problem, known) for problem in problems]
        return "; ".join(texts)
    text = str(problems)
    if text == "Unknown field.":
        return "unknown field"
    return text.rstrip(".")


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = ApiParser()


def current_token() -> AuthenticatedToken:
    """The token the request was authorised by; its tenant is the request's tenant."""
    return g.api_token


def _authorise() -> None:
    """Before every view: English (machine clients read codes; the README says so), the body size
    limit, then the bearer token for the method's scope."""
    g.ui_locale = "en"
    limit = int(current_app.config["API_MAX_BODY_BYTES"])
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise DomainError(
            f"The body is {request.content_length} bytes; the API takes at most {limit} bytes a "
            "request. Send fewer records at a time.",
            status=413,
            code="payload_too_large",
        )
    needed = "read" if request.method in READ_METHODS else "write"
    g.api_token = api_tokens.authenticate_bearer(request, needed)


def _rate_limit() -> str:
    return str(current_app.config["API_RATE_LIMIT"])


def secure(blueprint: ApiBlueprint) -> ApiBlueprint:
    """Bearer token, rate limit per token, body size limit; no CSRF token (no cookies)."""
    blueprint.before_request(_authorise)
    limiter.limit(_rate_limit, key_func=lambda: api_tokens.rate_limit_key(request))(blueprint)
    csrf.exempt(blueprint)
    return blueprint


def configure(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "Postwise HR API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("API_RATE_LIMIT", "600 per minute")
    app.config.setdefault("API_MAX_BODY_BYTES", 64 * 1024)
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "info": {
                "description": (
                    "Completions, employees, assignments, certificates, courses and the audit log of "
                    "one organisation (the token's). Send `Authorization: Bearer <token>`: an HR "
                    "administrator creates tokens on the console's API tokens page or with `flask "
                    "api-tokens create`. Lists are paged with `cursor` and `limit`: pass the "
                    "`next_cursor` of a page to get the next; it is null on the last page. Errors "
                    "are `{code, status, message, errors}`; messages are in English."
                )
            },
            "security": [{BEARER: []}],
            "servers": [{"url": "/"}],
        },
    )


ERROR_DESCRIPTIONS = {
    400: "A parameter is impossible (a filter, a cursor, a code)",
    401: "No API token, or one that is unknown, expired or revoked",
    403: "The token's scope does not allow this",
    404: "Not found in the token's organisation",
    409: "Conflicts with what is stored (e.g. an email that names another person)",
    410: "Gone",
    413: "The body is too large",
    422: "A field is unknown, missing or of the wrong type, or breaks a rule",
    429: "Too many requests with this token; wait (Retry-After)",
}
READ_ERRORS = (400, 401, 403, 422, 429)
WRITE_ERRORS = (*READ_ERRORS, 404, 409, 413)


def documented_errors(blueprint: ApiBlueprint, *statuses: int):
    """Document the error answers a view may give, each a JSON error (ErrorSchema)."""

    def decorator(view):
        for status in statuses:
            view = blueprint.alt_response(status, schema=ErrorSchema, description=ERROR_DESCRIPTIONS[status])(
                view
            )
        return view

    return decorator
