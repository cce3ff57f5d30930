"""/api/v1/employees: people as HR's records hold them; created, changed and ended by the rules
of the CSV import (people.importing.check_record, people.employees.save_employee)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask.views import MethodView

from api import paging, queries, schemas
from api.core import PREFIX, READ_ERRORS, WRITE_ERRORS, ApiBlueprint, current_token, documented_errors, secure
from people.employees import save_employee
from people.importing import check_record
from training_app.db import utcnow
from training_app.errors import ValidationFailed
from training_app.models import User

blp = secure(
    ApiBlueprint(
        "Employees",
        __name__,
        url_prefix=f"{PREFIX}/employees",
        description="Employees: HR's records of the people who must train (the CSV import's rules).",
    )
)

# The API's names of the import's columns (people.importing), where they differ.
COLUMN_OF = {"name": "full_name"}
FIELD_OF = {column: field for field, column in COLUMN_OF.items()}
HR_FIELDS = ("employee_id", "email", "name", "department", "manager_email", "hire_date", "locale", "end_date")


def employee_json(user: User) -> dict[str, Any]:
    return {
        **{name: getattr(user, name) for name in HR_FIELDS},
        "id": user.id,
        "status": queries.employee_status(user),
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


@blp.route("")
@blp.arguments(schemas.EmployeeQuery, location="query")
@blp.response(200, schemas.EmployeePage)
@documented_errors(blp, *READ_ERRORS)
def list_employees(args: dict[str, Any]):
    """List people, in the order of `id`"""
    after = paging.position(args.get("cursor"), "employees")
    users = queries.employee_rows(current_token().tenant_id, args, after=after, limit=args["limit"])
    found = paging.page(users, args["limit"], "employees", key=lambda user: user.id)
    return {**found, "data": [employee_json(user) for user in found["data"]]}


@blp.route("", methods=["POST"])
@blp.arguments(schemas.EmployeeCreate)
@blp.response(201, schemas.Employee, description="Created")
@blp.alt_response(200, schema=schemas.Employee, description="Updated: the employee id existed", success=True)
@documented_errors(blp, *WRITE_ERRORS)
def create_employee(body: dict[str, Any]):
    """Create an employee, or update the one with this employee id

    As a row of the CSV import: upsert by employee id; a learner already known through an LMS
    with this email becomes this employee; an email names one person (409); a manager must be
    an employee already (422). Audited with the token as actor.
    """
    token = current_token()
    saved = save_employee(token.tenant_id, _record(body), actor=token.actor)
    return employee_json(saved.user), 201 if saved.created else 200


@blp.route("/<int:person_id>")
class Person(MethodView):
    """One rule for both methods: with a rule per method, Werkzeug answers 405 instead of 404 to
    a PATCH whose id is out of range."""

    @blp.response(200, schemas.Employee)
    @documented_errors(blp, 401, 403, 404, 429)
    def get(self, person_id: int):
        """Get a person"""
        return employee_json(queries.employee(current_token().tenant_id, person_id))

    @blp.arguments(schemas.EmployeeChange)
    @blp.response(200, schemas.Employee)
    @documented_errors(blp, *WRITE_ERRORS)
    def patch(self, body: dict[str, Any], person_id: int):
        """Change a person's HR record

        Only the fields sent change. `end_date: null` brings back a leaver (their assignments
        open again). A learner known only through an LMS gets no employee id here: create the
        employee with POST and their email instead.
        """
        token = current_token()
        user = queries.employee(token.tenant_id, person_id)
        if not user.employee_id:
            raise ValidationFailed(
                "This person has no employee id (an LMS learner): create the employee with POST "
                "/api/v1/employees and their email, which links them.",
                errors={"employee_id": "missing"},
            )
        values = _record({**employee_json(user), **body})
        return employee_json(save_employee(token.tenant_id, values, actor=token.actor, person=user).user)


@blp.route("/<int:person_id>/end", methods=["POST"])
@blp.arguments(schemas.EmployeeEnd)
@blp.response(200, schemas.Employee)
@documented_errors(blp, *WRITE_ERRORS)
def end_employee(body: dict[str, Any], person_id: int):
    """End a person's employment (a leaver)

    Their assignments end on their last day and stay in the records (reports keep them).
    """
    token = current_token()
    user = queries.employee(token.tenant_id, person_id)
    if not user.employee_id:
        raise ValidationFailed(
            "This person has no employee id (an LMS learner): only an employee can leave.",
            errors={"employee_id": "missing"},
        )
    last_day = body.get("end_date") or utcnow().date()
    record = _record({**employee_json(user), "end_date": last_day})
    return employee_json(save_employee(token.tenant_id, record, actor=token.actor, person=user).user)


def _record(values: dict[str, Any]):
    """The values as the import's columns (text), checked by the import's rules; a 422 names the
    API's fields."""
    columns = {COLUMN_OF.get(name, name): _text(values.get(name)) for name in HR_FIELDS}
    try:
        return check_record(columns)
    except ValidationFailed as refused:
        errors = {FIELD_OF.get(column, column): reason for column, reason in refused.errors.items()}
        problems = "; ".join(f"{field}: {reason}" for field, reason in errors.items())
        raise ValidationFailed(f"Some values are not right: {problems}.", errors=errors) from None


def _text(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)
