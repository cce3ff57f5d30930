"""One person, one history, whatever the door: a learner who arrives by LTI launch (or later by a
dispatch package) for the first time is matched to the employee HR imported, by the launch's
`employee_id` custom parameter, then by email.

- An imported employee who never launched (issuer "hr") takes the launch's identity on their row.
- A person already known under another LMS identity gets this one as a second identity
  (`person_identities`), which later launches find.
Services flush and never commit; the launch writes these with the request's other writes.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, select, update

from training_app.db import insert_unless_conflict
from training_app.extensions import run_core, run_write
from training_app.models import HR_ISSUER, PersonIdentity, User

_users, _identities = User.__table__, PersonIdentity.__table__


def person_for_launch(
    tenant_id: int, issuer: str, subject: str, *, employee_id: str | None, email: str | None
) -> int | None:
    """The person this unknown LMS identity belongs to, linked to it now; None for a new person."""
    known = run_core(_IDENTITY, {"tenant_id": tenant_id, "issuer": issuer, "subject": subject}).scalar()
    if known is not None:
        return known
    person = _matching_person(tenant_id, employee_id, email)
    if person is None:
        return None
    person_id, person_issuer = person
    identity = {"issuer": issuer, "subject": subject}
    if person_issuer == HR_ISSUER and run_write(_TAKE_IDENTITY, {"user_id": person_id, **identity}).rowcount:
        return person_id
    run_write(_ADD_IDENTITY, {"tenant_id": tenant_id, "user_id": person_id, **identity})
    return person_id


def _matching_person(tenant_id: int, employee_id: str | None, email: str | None) -> tuple[int, str] | None:
    if employee_id:
        row = run_core(_BY_EMPLOYEE_ID, {"tenant_id": tenant_id, "employee_id": employee_id}).first()
        if row is not None:
            return row.id, row.issuer
    if email:
        rows = run_core(_BY_EMAIL, {"tenant_id": tenant_id, "email": email.strip().lower()}).all()
        if len(rows) == 1:
            return rows[0].id, rows[0].issuer
        with_id = [row for row in rows if row.employee_id]
        if len(with_id) == 1:  # an LMS learner and the employee record: the employee is the person
            return with_id[0].id, with_id[0].issuer
    return None


def employee_id_taken(tenant_id: int, employee_id: str, user_id: int) -> bool:
    """Whether another person already has this employee id (a launch then does not take it)."""
    row = run_core(_BY_EMPLOYEE_ID, {"tenant_id": tenant_id, "employee_id": employee_id}).first()
    return row is not None and row.id != user_id


_IDENTITY = select(_identities.c.user_id).where(
    _identities.c.tenant_id == bindparam("tenant_id"),
    _identities.c.issuer == bindparam("issuer"),
    _identities.c.subject == bindparam("subject"),
)
_BY_EMPLOYEE_ID = select(_users.c.id, _users.c.issuer).where(
    _users.c.tenant_id == bindparam("tenant_id"), _users.c.employee_id == bindparam("employee_id")
)
_BY_EMAIL = (
    select(_users.c.id, _users.c.issuer, _users.c.employee_id)
    .where(_users.c.tenant_id == bindparam("tenant_id"), func.lower(_users.c.email) == bindparam("email"))
    .limit(5)
)
# An imported employee's first launch: their row takes the launch's identity (unless a concurrent
# launch of theirs already did).
_TAKE_IDENTITY = (
    update(_users)
    .where(_users.c.id == bindparam("user_id"), _users.c.issuer == HR_ISSUER)
    .values(issuer=bindparam("issuer"), subject=bindparam("subject"))
)
_ADD_IDENTITY = insert_unless_conflict(_identities, "tenant_id", "issuer", "subject")
