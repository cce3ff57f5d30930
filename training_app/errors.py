"""One error path: domain errors and HTTP errors render as a page for people, JSON for the API."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def N_(message: str) -> str:
    """Mark a constant for message extraction; it is translated where it is shown (`_(title)`)."""
    return message


class DomainError(Exception):
    """A rule was broken by the input; `message` tells the user what to do."""

    status = 400
    code = "bad_request"
    title = N_("This request cannot be completed")

    def __init__(
        self,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        if title is not None:
            self.title = title


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = N_("Not found")


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = N_("Not allowed")


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = N_("Already done")


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"
    title = N_("Please check what you entered")


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}

FRIENDLY_MESSAGES = {
    400: N_("The request could not be understood. Go back, reload the page and try again."),
    401: N_("Please sign in to continue."),
    403: N_("You do not have access to this page. If you think you should, ask your HR administrator."),
    404: N_("We could not find that page. Check the address, or go back to where you came from."),
    405: N_("This page cannot be used that way. Go back and use the links and buttons on the page."),
    413: N_("What you sent is too large. Send less at a time."),
    429: N_("Too many requests in a short time. Wait a minute and try again."),
    500: N_("Something went wrong on our side. It has been logged; please try again in a moment."),
    503: N_("The service is temporarily unavailable. Please try again in a few minutes."),
}


def wants_json() -> bool:
    """JSON for the API, JSON requests, documents named `*.json` (a verifier's /verify/<code>.json
    answers its 429 or 404 in JSON too) and clients that prefer it; a page for people."""
    if request.path.startswith("/api/") or request.path.endswith(".json") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    title: str | None = None,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
):
    code = code or HTTP_CODES.get(status, "error")
    request_id = getattr(g, "request_id", None)
    if wants_json():
        body = {
            "code": code,
            "status": status,
            "message": message,
            "errors": errors or {},
            "request_id": request_id,
        }
        response = jsonify(body)
    else:
        html = _render_error_page(
            status, title or _("Something needs your attention"), message, errors or {}, request_id
        )
        response = Flask.response_class(html, mimetype="text/html")
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _render_error_page(
    status: int, title: str, message: str, errors: dict[str, Any], request_id: str | None
) -> str:
    try:
        return render_template(
            "errors/error.html",
            status=status,
            title=title,
            message=message,
            errors=errors,
            request_id=request_id,
        )
    except Exception:  # the error page itself must never fail: fall back to plain HTML
        log.exception("error page failed to render")
        return (
            f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(title)}</title>"
            f"<main><h1>{escape(title)}</h1><p>{escape(message)}</p>"
            f"<p>Reference: <code>{escape(request_id or '')}</code></p></main></html>"
        )


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, _handle_domain_error)
    app.register_error_handler(CSRFError, _handle_csrf_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(OperationalError, _handle_database_unavailable)
    app.register_error_handler(Exception, _handle_unexpected)


def _handle_domain_error(exc: DomainError):
    log.info("domain error", extra={"code": exc.code, "status": exc.status, "error": exc.message})
    return error_response(
        exc.status,
        exc.message,
        code=exc.code,
        title=_(exc.title),
        errors=exc.errors,
        headers=getattr(exc, "headers", None),  # e.g. WWW-Authenticate on an API token's 401
    )


def _handle_csrf_error(exc: CSRFError):
    message = _("This form expired or was sent from another site. Reload the page and submit it again.")
    return error_response(400, message, code="csrf_failed", title=_("Please try again"))


def _handle_http_exception(exc: HTTPException):
    status = exc.code or 500
    message = FRIENDLY_MESSAGES.get(status, exc.description or "")
    if (
        status in (400, 413, 429)
        and exc.description
        and not exc.description.startswith(("The browser (or proxy)", "The data value transmitted"))
        and not _is_bare_limit(exc)
    ):
        message = exc.description
    headers = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    if status == 429:
        headers.update(_retry_after_headers(exc))
    return error_response(status, _(message), headers=headers)


def _is_bare_limit(exc: HTTPException) -> bool:
    """A limit hit without a message of its own describes itself as "30 per 1 minute": not for people."""
    limit = getattr(exc, "limit", None)
    return limit is not None and not limit.error_message


def _retry_after_headers(exc: HTTPException) -> dict[str, str]:
    response = exc.get_response()
    return {k: v for k, v in response.headers.items() if k.lower().startswith(("retry-after", "x-ratelimit"))}


# SQLSTATE classes and codes that mean "the database cannot serve us now", not "this statement is
# wrong": connection exceptions, shutdown or restart, too many connections, out of disk or memory.
UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P0", "53")
# SQLite's equivalents (its errors carry no SQLSTATE).
UNAVAILABLE_SQLITE_MESSAGES = (
    "database is locked",
    "unable to open database file",
    "disk i/o error",
    "database or disk is full",
)


def is_database_unavailable(exc: OperationalError) -> bool:
    """A connection or availability problem (503, the service recovers by itself), as opposed to a
    programming error that happens to be an OperationalError (500, logged with its trace): psycopg
    refusing more than 65,535 parameters, SQLite's "no such table"."""
    if exc.connection_invalidated or exc.statement is None:  # lost the connection, or never got one
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith(UNAVAILABLE_SQLSTATE_PREFIXES)
    message = str(exc.orig).lower()
    if message.startswith(UNAVAILABLE_SQLITE_MESSAGES):
        return True
    return "connection" in message or "server closed" in message


# What a 503 for an unreachable database tells clients (Retry-After): a restart or a failover takes
# seconds, and the service reconnects by itself.
DATABASE_RETRY_AFTER_SECONDS = 5


def _handle_database_unavailable(exc: OperationalError):
    if not is_database_unavailable(exc):
        return _handle_unexpected(exc)
    return database_unavailable_response(exc)


def database_unavailable_response(exc: OperationalError):
    """The 503 (page or JSON) for a database that does not answer, with Retry-After.

    The page is rendered for an anonymous visitor: the signed-in user comes from the database (the
    page's language, the staff navigation; a staff account is an ORM row that reloads itself after
    the rollback), and reading it would fail again and turn this answer into a bare 500, or on
    SQLite begin a transaction that holds the write lock."""
    g._login_user = current_app.login_manager.anonymous_user()  # Flask-Login's user, for this page
    log.error("database unavailable", extra={"error": str(exc.orig)[:500]})
    message = _("The service cannot reach its database right now. Please try again in a few minutes.")
    return error_response(
        503,
        message,
        title=_("Temporarily unavailable"),
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


def _handle_unexpected(exc: Exception):
    if isinstance(exc, HTTPException):
        return _handle_http_exception(exc)
    log.exception("unhandled error")
    return error_response(500, _(FRIENDLY_MESSAGES[500]), title=_("Something went wrong"))
