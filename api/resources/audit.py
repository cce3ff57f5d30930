"""GET /api/v1/audit-events: the tenant's audit log, in chain order, with actors' names."""

from __future__ import annotations

from typing import Any

from api import paging, queries, schemas
from api.core import PREFIX, READ_ERRORS, ApiBlueprint, current_token, documented_errors, secure
from reports import audit_log

blp = secure(
    ApiBlueprint(
        "AuditLog",
        __name__,
        url_prefix=f"{PREFIX}/audit-events",
        description="The tamper-evident audit log: each event's hash covers it and the previous hash.",
    )
)

FILTERS = ("actor", "action", "since", "until", "subject_type", "subject_id")


@blp.route("")
@blp.arguments(schemas.AuditQuery, location="query")
@blp.response(200, schemas.AuditEventPage)
@documented_errors(blp, *READ_ERRORS)
def list_audit_events(args: dict[str, Any]):
    """List audit events, oldest first

    Filtered as the console's audit log page (actor, action, days, subject). Writes made with an
    API token have the actor `token:<id>`, named by the token's name.
    """
    chosen = audit_log.parse_filter({name: _text(args.get(name)) for name in FILTERS})
    after = paging.position(args.get("cursor"), "audit-events")
    rows = queries.audit_rows(current_token().tenant_id, chosen, after=after, limit=args["limit"])
    return paging.page(rows, args["limit"], "audit-events", key=lambda row: row["seq"])


def _text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else (value or "")
