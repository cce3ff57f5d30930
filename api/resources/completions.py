"""GET /api/v1/completions: the export's rows (one per assignment) with the console's filters."""

from __future__ import annotations

from datetime import date
from typing import Any

from api import paging, queries, schemas
from api.core import PREFIX, READ_ERRORS, ApiBlueprint, current_token, documented_errors, secure
from reports.filters import FILTER_NAMES, parse_filter

blp = secure(
    ApiBlueprint(
        "Completions",
        __name__,
        url_prefix=f"{PREFIX}/completions",
        description="Completions: one row per assignment, with the columns of the completions export.",
    )
)


@blp.route("")
@blp.arguments(schemas.CompletionQuery, location="query")
@blp.response(200, schemas.CompletionPage)
@documented_errors(blp, *READ_ERRORS)
def list_completions(args: dict[str, Any]):
    """List completions

    The rows and columns of the completions export (CSV/XLSX/JSON Lines; the README's Exports
    section describes each column), filtered as the console's people and completions table, in
    the order of `assignment_id`. `updated_since` picks the rows whose record changed since a
    moment: pass the time of your last sync (then page with `cursor`).
    """
    chosen = parse_filter({name: _text(args.get(name)) for name in FILTER_NAMES if name != "sort"})
    after = paging.position(args.get("cursor"), "completions")
    rows = queries.completion_rows(
        current_token().tenant_id,
        chosen,
        after=after,
        updated_since=args.get("updated_since"),
        limit=args["limit"],
    )
    return paging.page(rows, args["limit"], "completions", key=lambda row: row["assignment_id"])


def _text(value: Any) -> str | None:
    """As the console's query string holds it (its parser reads text)."""
    return value.isoformat() if isinstance(value, date) else value
