"""/scim/v2: the SCIM endpoint identity providers call. Thin: routes, rate limit and error
handlers here; the protocol in people.scim.protocol, imported with the first SCIM request: the
SCIM libraries (scim2-server, scim2-models and their pydantic models, about 17 MB) then load only in
the workers that serve SCIM, not in every worker at start."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from training_app import api_tokens
from training_app.errors import DomainError
from training_app.extensions import csrf, limiter

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _rate_limit() -> str:
    return str(current_app.config["SCIM_RATE_LIMIT"])


@bp.route("", defaults={"path": ""}, methods=METHODS, strict_slashes=False)
@bp.route("/<path:path>", methods=METHODS)
@limiter.limit(_rate_limit, key_func=lambda: api_tokens.rate_limit_key(request))
def endpoint(path: str) -> Response:
    from people.scim import protocol

    return protocol.answer(path)


@bp.errorhandler(DomainError)
def _refused(error: DomainError) -> Response:
    from people.scim import protocol

    return protocol.refused(error)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    from people.scim import protocol

    return protocol.http_error(error)


def init_app(app: Flask) -> None:
    app.config.setdefault("SCIM_RATE_LIMIT", "600 per minute")
    app.config.setdefault("SCIM_MAX_BODY_BYTES", 64 * 1024)
    csrf.exempt(bp)
    app.register_blueprint(bp)
