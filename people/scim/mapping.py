"""A person as a SCIM User and back: the columns of an employee record (people.employees) and of
their SCIM account (people.models.ScimAccount).

- id: the person's id. userName: the identity provider's, else the person's email.
- displayName: their name; emails: their one email, as the work email.
- preferredLanguage: their locale. active: false once their end date has come (today included:
  a person deactivated today reads back inactive at once).
- enterprise employeeNumber: their employee id; department; manager: the User whose email is
  their manager's email.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from pydantic import ValidationError
from scim2_models import Meta

from people.models import ScimAccount
from people.scim.resources import EMPLOYEE, Email, EnterpriseUser, Manager
from training_app.models import User

LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2}([-_][A-Za-z]{2,4})?$")


def is_active(user: User, today: date) -> bool:
    return user.end_date is None or user.end_date > today


def user_name_of(user: User, account: ScimAccount | None) -> str | None:
    return (account and account.user_name) or user.email


def version_of(user: User) -> str:
    return f'W/"{user.updated_at.timestamp():.6f}"'


def to_resource(user: User, account: ScimAccount | None, manager_id: int | None, today: date) -> EMPLOYEE:
    resource = EMPLOYEE(
        id=str(user.id),
        external_id=account.external_id if account else None,
        user_name=user_name_of(user, account),
        display_name=user.name or None,
        preferred_language=user.locale,
        active=is_active(user, today),
        emails=_emails(user.email),
        meta=Meta(
            resource_type="User",
            created=user.created_at,
            last_modified=user.updated_at,
            version=version_of(user),
        ),
    )
    manager = Manager(value=str(manager_id), ref=f"Users/{manager_id}") if manager_id else None
    resource[EnterpriseUser] = EnterpriseUser(
        employee_number=user.employee_id, department=user.department, manager=manager
    )
    return resource


def _emails(email: str | None) -> list[Email] | None:
    if not email:
        return None
    try:
        return [Email(value=email, type="work")]
    except ValidationError:  # an LMS may have sent an address SCIM's email type refuses
        return None


def employee_values(
    resource: EMPLOYEE, user: User | None, manager_email: str | None, today: date
) -> dict[str, str]:
    """The person's values as the employee file's columns (people.importing.check_record)."""
    enterprise = resource[EnterpriseUser] or EnterpriseUser()
    return {
        "employee_id": (enterprise.employee_number or "").strip(),
        "email": chosen_email(resource),
        "full_name": resource.display_name or "",
        "department": enterprise.department or "",
        "manager_email": manager_email or "",
        "hire_date": _iso(user.hire_date if user else None),
        "locale": language_tag(resource.preferred_language),
        "end_date": _iso(end_date_for(resource.active, user, today)),
    }


def chosen_email(resource: EMPLOYEE) -> str:
    """The work email when several are sent, else the first."""
    emails = [email for email in resource.emails or [] if email.value]
    work = [email for email in emails if (email.type or "").lower() == "work"]
    return str((work or emails)[0].value) if emails else ""


def language_tag(preferred_language: str | None) -> str:
    """The first tag of an Accept-Language list ("es-MX, es;q=0.8" -> "es-MX"); a tag the employee
    record cannot keep (zh-Hant-TW) keeps its language (zh)."""
    tag = (preferred_language or "").split(",")[0].split(";")[0].strip()
    if not tag or LANGUAGE_TAG.match(tag):
        return tag
    return re.split(r"[-_]", tag)[0]


def end_date_for(active: bool | None, user: User | None, today: date) -> date | None:
    """active=false ends an active person's employment today (or on their hire date, for someone
    who leaves before starting); active=true re-activates a leaver; no value keeps what is known."""
    current = user.end_date if user else None
    if active is None or (active == (current is None or current > today)):
        return current
    if active:
        return None
    hire_date = user.hire_date if user else None
    return max(today, hire_date) if hire_date else today


def _iso(day: date | datetime | None) -> str:
    return day.isoformat() if day else ""
