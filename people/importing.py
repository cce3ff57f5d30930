"""The HR file of employees: read, checked whole, then applied in one transaction.

Columns (a header row, any order, names as HR writes them: `employee id`, `Employee_ID`...):
employee_id, email, full_name, department, manager_email, hire_date, locale, and an optional
end_date. UTF-8 with or without a byte order mark; `,` or `;` between values, as spreadsheets
write them. Every problem is reported with its line, column and reason, and a file with any
problem changes nothing. Upsert by employee id within the tenant.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext

from people.employees import EmployeeRecord, add_employees, changed_fields, update_employee
from people.errors import ImportRefused
from training_app.edge import unsafe_character
from training_app.errors import ValidationFailed
from training_app.models import User

REQUIRED_COLUMNS = ("employee_id", "email", "full_name", "department", "manager_email", "hire_date", "locale")
OPTIONAL_COLUMNS = ("end_date",)
MAX_ROWS = 200_000
LIMITS = {"employee_id": 64, "email": 320, "full_name": 200, "department": 120, "locale": 16}
LOCALE = re.compile(r"^[A-Za-z]{2}([-_][A-Za-z]{2,4})?$")


@dataclass(frozen=True)
class Problem:
    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass
class ImportPlan:
    """What the file would do: new employees, changed ones (with their changes), leavers."""

    created: list[EmployeeRecord] = field(default_factory=list)
    changed: list[tuple[User, EmployeeRecord, dict]] = field(default_factory=list)
    ended: list[EmployeeRecord] = field(default_factory=list)
    unchanged: int = 0

    def summary(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "changed": len(self.changed),
            "ended": len(self.ended),
            "unchanged": self.unchanged,
        }


def read_file(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """(line number, row by column name) for each data row, or ImportRefused naming the problems
    of the file as a whole (encoding, columns)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRefused(
            [Problem(line, None, gettext("the file is not UTF-8 text; save it as CSV UTF-8 and try again"))]
        ) from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ImportRefused(
            [Problem(1, None, gettext("the file is empty; the first line names the columns"))]
        )
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [_column_name(name) for name in next(reader)]
    _check_columns(header)
    rows = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if len(rows) >= MAX_ROWS:
            raise ImportRefused(
                [Problem(reader.line_num, None, gettext("more than 200,000 rows; split the file"))]
            )
        rows.append((reader.line_num, dict(zip(header, [cell.strip() for cell in row], strict=False))))
    return rows


def _column_name(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _check_columns(header: list[str]) -> None:
    problems = []
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    for name, count in Counter(header).items():
        if count > 1:
            problems.append(Problem(1, name, gettext("this column appears more than once")))
    for name in header:
        if name not in known:
            problems.append(
                Problem(
                    1,
                    name or "(blank)",
                    gettext(
                        "unknown column; the columns are: %(columns)s",
                        columns=", ".join((*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)),
                    ),
                )
            )
    for name in REQUIRED_COLUMNS:
        if name not in header:
            problems.append(Problem(1, name, gettext("this column is missing")))
    if problems:
        raise ImportRefused(problems)


def parse_rows(
    rows: list[tuple[int, dict[str, str]]],
) -> tuple[list[tuple[int, EmployeeRecord]], list[Problem]]:
    records, problems = [], []
    for line, row in rows:
        record, row_problems = _record(line, row)
        problems += row_problems
        if record is not None:
            records.append((line, record))
    return records, problems


def check_record(values: dict[str, str]) -> EmployeeRecord:
    """One employee's values, named as the file's columns (text; "" for none), checked by the
    file's rules: the REST API and SCIM send one person at a time. ValidationFailed (422) names
    each column that is not right."""
    record, problems = _record(
        0, {name: values.get(name) or "" for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)}
    )
    if problems:
        errors = {problem.column or "record": problem.reason for problem in problems}
        raise ValidationFailed(
            gettext(
                "Some values are not right: %(problems)s.",
                problems="; ".join(f"{k}: {v}" for k, v in errors.items()),
            ),
            errors=errors,
        )
    return record  # type: ignore[return-value]


def _record(line: int, row: dict[str, str]) -> tuple[EmployeeRecord | None, list[Problem]]:
    problems: list[Problem] = []

    def problem(column: str, reason: str) -> None:
        problems.append(Problem(line, column, reason))

    for column, value in row.items():
        character = unsafe_character(value or "")
        if character:
            problem(
                column,
                gettext(
                    "contains a control or text-direction character (%(character)s)", character=character
                ),
            )
        elif column in LIMITS and len(value) > LIMITS[column]:
            problem(column, gettext("longer than %(num)d characters", num=LIMITS[column]))
    if problems:
        return None, problems
    employee_id = row.get("employee_id", "")
    if not employee_id:
        problem("employee_id", gettext("required"))
    email = _email(row.get("email", ""), "email", problem, required=True)
    name = " ".join(row.get("full_name", "").split())
    if not name:
        problem("full_name", gettext("required"))
    manager_email = _email(row.get("manager_email", ""), "manager_email", problem, required=False)
    hire_date = _date(row.get("hire_date", ""), "hire_date", problem)
    end_date = _date(row.get("end_date", ""), "end_date", problem)
    if hire_date and end_date and end_date < hire_date:
        problem("end_date", gettext("is before the hire date"))
    locale = row.get("locale", "")
    if locale and not LOCALE.match(locale):
        problem("locale", gettext("not a language code such as en, es or es-MX"))
    if email and manager_email and email == manager_email:
        problem("manager_email", gettext("an employee cannot be their own manager"))
    if problems:
        return None, problems
    return (
        EmployeeRecord(
            employee_id=employee_id,
            email=email or "",
            name=name,
            department=row.get("department") or None,
            manager_email=manager_email,
            hire_date=hire_date,
            locale=locale.replace("_", "-") or None,
            end_date=end_date,
        ),
        [],
    )


def _email(value: str, column: str, problem, *, required: bool) -> str | None:
    if not value:
        if required:
            problem(column, gettext("required"))
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        problem(column, gettext("%(value)s is not an email address", value=repr(value)))
        return None


def _date(value: str, column: str, problem) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problem(column, gettext("%(value)s is not a date as YYYY-MM-DD (a real day)", value=repr(value)))
        return None


def plan_import(
    records: list[tuple[int, EmployeeRecord]], existing: list[User]
) -> tuple[ImportPlan, list[Problem]]:
    """Check the file against itself and the tenant's employees, and say what it would do."""
    problems = []
    by_id = {user.employee_id: user for user in existing if user.employee_id}
    by_email = {(user.email or "").lower(): user for user in existing if user.email}
    first_line_of_id: dict[str, int] = {}
    first_line_of_email: dict[str, tuple[int, str]] = {}
    for line, record in records:
        if record.employee_id in first_line_of_id:
            problems.append(
                Problem(
                    line,
                    "employee_id",
                    gettext(
                        "%(id)s is already on line %(line)d",
                        id=record.employee_id,
                        line=first_line_of_id[record.employee_id],
                    ),
                )
            )
            continue
        first_line_of_id[record.employee_id] = line
        earlier = first_line_of_email.get(record.email)
        if earlier is not None:
            problems.append(
                Problem(
                    line,
                    "email",
                    gettext(
                        "%(email)s is already used on line %(line)d", email=record.email, line=earlier[0]
                    ),
                )
            )
        first_line_of_email[record.email] = (line, record.employee_id)
        owner = by_email.get(record.email)
        if owner is not None and owner.employee_id not in (None, record.employee_id):
            problems.append(
                Problem(
                    line,
                    "email",
                    gettext(
                        "%(email)s belongs to another employee (%(id)s)",
                        email=record.email,
                        id=owner.employee_id,
                    ),
                )
            )
    known_emails = {email for email, user in by_email.items() if user.employee_id} | set(first_line_of_email)
    for line, record in records:
        if record.manager_email and record.manager_email not in known_emails:
            problems.append(
                Problem(
                    line,
                    "manager_email",
                    gettext(
                        "%(email)s is not an employee (add the manager to the file)",
                        email=record.manager_email,
                    ),
                )
            )
    plan = ImportPlan()
    if problems:
        return plan, problems
    for _line, record in records:
        user = by_id.get(record.employee_id) or _unlinked_by_email(by_email.get(record.email))
        if user is None:
            plan.created.append(record)
            continue
        changes = changed_fields(user, record)
        if not changes:
            plan.unchanged += 1
        elif "end_date" in changes and record.end_date is not None:
            plan.ended.append(record)
            plan.changed.append((user, record, changes))
        else:
            plan.changed.append((user, record, changes))
    return plan, problems


def _unlinked_by_email(user: User | None) -> User | None:
    """An LMS learner with this email and no employee id yet becomes this employee."""
    return user if user is not None and not user.employee_id else None


def apply(tenant_id: int, plan: ImportPlan) -> list[int]:
    """The plan's changes (the import records one audit event for the whole file); the ids of the
    people created or changed."""
    created = add_employees(tenant_id, plan.created, actor=None)
    for user, record, _changes in plan.changed:
        update_employee(user, record, actor=None)
    return [user.id for user in created] + [user.id for user, _record, _changes in plan.changed]
