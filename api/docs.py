"""The API's documentation page, /api/docs: Swagger UI 5 reading /api/openapi.json.

Swagger UI's files come from the pinned `flask-swagger-ui` package (Apache 2.0; its licence is
served beside them): nothing is fetched from a CDN and no third-party code is copied into this
repository. The page's own script is a file (the Content-Security-Policy allows no inline script).
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, abort, render_template, send_from_directory, url_for

bp = Blueprint("api_docs", __name__, url_prefix="/api", template_folder="templates", static_folder="static")

SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
SERVED = {"swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "VERSION"}
ONE_DAY = 24 * 3600


@bp.get("/docs")
def docs_page():
    return render_template(
        "api/docs.html",
        spec_url=url_for("api-docs.openapi_json"),
        swagger_ui_version=(SWAGGER_UI_DIST / "VERSION").read_text().strip(),
    )


@bp.get("/docs/swagger-ui/<string:name>")
def swagger_ui_file(name: str):
    if name not in SERVED:
        abort(404)
    mimetype = "text/plain" if name in ("LICENSE", "VERSION") else None
    return send_from_directory(SWAGGER_UI_DIST, name, mimetype=mimetype, max_age=ONE_DAY)
