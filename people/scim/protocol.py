"""The SCIM side of /scim/v2 (people.scim.views routes to it): the request as scim2-server's
ScimRequest, the token's tenant as the storage, scim2-server's handler, its answer and every error
as a SCIM response (RFC 7644 §3.12), English for machine clients."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

from flask import Response, current_app, request, url_for
from scim2_models import Error, PayloadTooLargeException, SCIMException
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import SCIM_MEDIA_TYPE, ScimResponse
from scim2_server.routing import Operation
from werkzeug.exceptions import HTTPException

from people.scim.service import SERVICE
from people.scim.storage import EmployeeStorage
from training_app import api_tokens, urls
from training_app.errors import DomainError

log = logging.getLogger(__name__)


def answer(path: str) -> Response:
    try:
        return _handled(path)
    except SCIMException as error:
        log.info("scim error", extra={"status": error.status, "error": str(error)})
        return _flask_response(SERVICE.error_response(error))


def _handled(path: str) -> Response:
    scim_request = ScimRequest(
        method=request.method,
        base_url=urls.base_url() + url_for("scim.endpoint", path=""),
        path=f"/{path}",
        query=request.args.to_dict(),
        headers=list(request.headers.items()),
        body=_body(),
    )
    if SERVICE.match(scim_request).operation is Operation.service_provider_config:
        tenant_id, actor = 0, "anonymous"  # what the service offers is public (RFC 7643 §5)
    else:
        token = api_tokens.authenticate_bearer(request, "scim")
        tenant_id, actor = token.tenant_id, token.actor
    handler = ScimHandler(SERVICE, EmployeeStorage(tenant_id, actor))
    return _flask_response(handler.handle(scim_request))


def _body() -> bytes:
    limit = int(current_app.config["SCIM_MAX_BODY_BYTES"])
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise _too_large(limit)
    return body


def _too_large(limit: int) -> PayloadTooLargeException:
    return PayloadTooLargeException(detail=f"The body is larger than {limit} bytes; send one User at a time")


def _flask_response(answer: ScimResponse) -> Response:
    body = "" if answer.body is None else json.dumps(answer.body)
    response = Response(body, status=int(answer.status), headers=answer.headers)
    response.headers.setdefault("Content-Type", SCIM_MEDIA_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response


def refused(error: DomainError) -> Response:
    """An API token refused (401, 403) or a rule of the app's edge (text with control characters)."""
    status = 400 if error.status == 422 else error.status
    scim_type = "invalidValue" if status == 400 else None
    response = _error_response(status, error.message, scim_type)
    response.headers.update(getattr(error, "headers", None) or {})
    return response


def http_error(error: HTTPException) -> Response:
    """Too many requests (429, with Retry-After), a body larger than the app takes (413)..."""
    status = error.code or 500
    response = _error_response(status, error.description or HTTPStatus(status).phrase, None)
    for name, value in error.get_response().headers.items():
        if name.lower().startswith(("retry-after", "x-ratelimit", "allow")):
            response.headers[name] = value
    return response


def _error_response(status: int, detail: str, scim_type: str | None) -> Response:
    error = Error(status=status, scim_type=scim_type, detail=detail)
    return _flask_response(ScimResponse(HTTPStatus(status), error.model_dump()))
