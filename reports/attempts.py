"""Who is out of quiz attempts: the one rule behind the dashboard's "Out of quiz attempts" count and
the learners list's `attempts=used_up` filter, so the number and its list agree.

An assignment is out of attempts when its current cycle is open (assignments.status.is_open) and
failed more often than HR granted another attempt. A failed result is recorded only when no attempt
is left, each grant allows one more attempt, and using that one up without passing fails the cycle
again. Joins to two aggregates, not subqueries run per enrolment.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, select

from assignments.status import is_open
from courses.models import Completion, Enrolment
from quizzes.models import AttemptGrant


def _per_cycle(model, tenant_id: int, *conditions: ColumnElement[bool]):
    return (
        select(model.enrolment_id, model.cycle, func.count().label("count"))
        .where(model.tenant_id == tenant_id, *conditions)
        .group_by(model.enrolment_id, model.cycle)
        .subquery()
    )


def with_attempts_used_up(query: Select, tenant_id: int, now: datetime) -> tuple[Select, ColumnElement[bool]]:
    """The query's enrolments joined to whether their learner is out of quiz attempts."""
    failures = _per_cycle(Completion, tenant_id, Completion.status == "failed")
    grants = _per_cycle(AttemptGrant, tenant_id)
    joined = query.outerjoin(
        failures, and_(failures.c.enrolment_id == Enrolment.id, failures.c.cycle == Enrolment.cycle)
    ).outerjoin(grants, and_(grants.c.enrolment_id == Enrolment.id, grants.c.cycle == Enrolment.cycle))
    used_up = func.coalesce(failures.c.count, 0) > func.coalesce(grants.c.count, 0)
    return joined, and_(is_open(now), used_up)


def used_up_enrolment_ids(tenant_id: int, now: datetime) -> Select:
    """The ids of the tenant's enrolments out of quiz attempts (for an IN clause)."""
    query, used_up = with_attempts_used_up(select(Enrolment.id), tenant_id, now)
    return query.where(Enrolment.tenant_id == tenant_id, used_up)
