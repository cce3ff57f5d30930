"""HR console: the people and completions table's exports, /console/learners/export.csv|xlsx|jsonl
with the table's filters. Auditors may export: it only reads (and is recorded in the audit log)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

from flask import Response, request
from flask_login import current_user
from werkzeug.wsgi import wrap_file

from reports import completions, exports
from reports.filters import CompletionFilter, parse_filter
from reports.views import bp
from training_app.auth.access import staff_required
from training_app.downloads import download_headers
from training_app.extensions import commit_before_waiting, db


@bp.get("/learners/export.<any(csv, xlsx, jsonl):fmt>")
@staff_required()
def export_completions(fmt: str):
    chosen = parse_filter(request.args)
    scope = completions.scope_for(current_user.tenant_id)
    rows = completions.count_rows(scope, chosen)
    exports.record_export(
        scope.tenant_id, chosen, fmt, rows, actor=f"staff:{current_user.id}", ip_address=request.remote_addr
    )
    filename = exports.export_filename(scope.tenant_slug, fmt, scope.now)
    if fmt == "xlsx":
        return _xlsx_response(scope, chosen, filename)
    # Streamed after the view returns: the request's transaction (the audit event) has
    # committed by then, and the rows are read on a connection of their own.
    body = _csv(scope, chosen) if fmt == "csv" else _jsonl(scope, chosen)
    return Response(body, content_type=exports.FORMATS[fmt], headers=download_headers(filename))


def _csv(scope: completions.Scope, chosen: CompletionFilter) -> Iterator[bytes]:
    engine = db.engine
    query = exports.export_query(scope, chosen, for_spreadsheet=True)
    if engine.dialect.name == "postgresql":
        return exports.postgresql_csv(engine, query)
    return exports.csv_chunks(exports.rows_of(engine, query))


def _jsonl(scope: completions.Scope, chosen: CompletionFilter) -> Iterator[bytes]:
    query = exports.export_query(scope, chosen, for_spreadsheet=False)
    return exports.jsonl_chunks(exports.rows_of(db.engine, query))


def _xlsx_response(scope: completions.Scope, chosen: CompletionFilter, filename: str) -> Response:
    """The workbook is written to a temporary file (a ZIP is written whole before it is sent),
    after the audit event commits: SQLite's write lock is not held while it is written."""
    query = exports.export_query(scope, chosen, for_spreadsheet=True)
    engine = db.engine
    commit_before_waiting()
    workbook = tempfile.TemporaryFile()  # noqa: SIM115  (the response closes it, and so deletes it)
    try:
        exports.write_xlsx(exports.rows_of(engine, query), workbook)
        size = workbook.tell()
        workbook.seek(0)
    except BaseException:
        workbook.close()
        raise
    response = Response(
        wrap_file(request.environ, workbook),
        content_type=exports.FORMATS["xlsx"],
        headers=download_headers(filename),
        direct_passthrough=True,
    )
    response.content_length = size
    return response
