"""/api/v1/assignments: who must complete which course by when, with the one status rule;
assigned and waived by assignments.services, as on the console."""

from __future__ import annotations

from typing import Any

from api import paging, queries, schemas
from api.core import PREFIX, READ_ERRORS, WRITE_ERRORS, ApiBlueprint, current_token, documented_errors, secure
from assignments import services
from training_app.extensions import db
from training_app.models import Tenant

blp = secure(
    ApiBlueprint(
        "Assignments",
        __name__,
        url_prefix=f"{PREFIX}/assignments",
        description="Assignments: a person's current cycle of a course, its due date and status.",
    )
)


@blp.route("")
@blp.arguments(schemas.AssignmentQuery, location="query")
@blp.response(200, schemas.AssignmentPage)
@documented_errors(blp, *READ_ERRORS)
def list_assignments(args: dict[str, Any]):
    """List assignments, in the order of `id`"""
    after = paging.position(args.get("cursor"), "assignments")
    rows = queries.assignment_rows(current_token().tenant_id, args, after=after, limit=args["limit"])
    return paging.page(rows, args["limit"], "assignments", key=lambda row: row["id"])


@blp.route("", methods=["POST"])
@blp.arguments(schemas.AssignmentCreate)
@blp.response(200, schemas.Assigned)
@documented_errors(blp, *WRITE_ERRORS)
def create_assignments(body: dict[str, Any]):
    """Assign a course by a date

    To a list of employee ids, a department, or everyone (exactly one of them), as the console's
    Assign training page. Assigning again for the same date assigns nobody (`assigned: 0`).
    """
    token = current_token()
    request = services.HrAssignment(
        course_slug=body["course"],
        due_on=body["due_on"],
        department=body.get("department"),
        employee_ids=tuple(dict.fromkeys(body.get("employee_ids") or ())),
        everyone=bool(body.get("everyone")),
    )
    tenant = db.session.get(Tenant, token.tenant_id)
    return {"assigned": services.assign_by_hr(tenant, request, actor=token.actor)}


@blp.route("/<int:assignment_id>")
@blp.response(200, schemas.Assignment)
@documented_errors(blp, 401, 403, 404, 429)
def get_assignment(assignment_id: int):
    """Get an assignment"""
    return queries.assignment(current_token().tenant_id, assignment_id)


@blp.route("/<int:assignment_id>/waive", methods=["POST"])
@blp.arguments(schemas.Reason)
@blp.response(200, schemas.Assignment)
@documented_errors(blp, *WRITE_ERRORS)
def waive_assignment(body: dict[str, Any], assignment_id: int):
    """Waive an assignment's current cycle, with a reason (kept in the audit log)"""
    token = current_token()
    services.waive(token.tenant_id, assignment_id, reason=body["reason"], actor=token.actor)
    return queries.assignment(token.tenant_id, assignment_id)
