"""Moments that pass by themselves, announced once each by the tick to the packages that asked
(assignments.hooks): an assignment becoming overdue (by the one status rule) and a passed result's
expiry (its certificate expires).

The tick looks at the time since it last looked (a `tick_marks` row moved to `now` in the tick's
transaction), so a moment is announced once however often the tick runs, and none is lost when it
runs rarely. The first tick ever announces nothing from before it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from assignments import hooks
from assignments.models import TickMark
from assignments.rules import Rules
from assignments.status import status_column
from courses.models import Completion, Enrolment
from training_app.extensions import db
from training_app.models import Tenant

MARK = "moments"


def since_last_tick(now: datetime) -> datetime | None:
    """When the previous tick looked (None on the first tick); the mark moves to `now`, never back."""
    mark = db.session.get(TickMark, MARK)
    if mark is None:
        db.session.add(TickMark(name=MARK, until=now))
        return None
    since = mark.until
    if now > since:
        mark.until = now
    return since


def announce(tenant: Tenant, rules: Rules, since: datetime, now: datetime) -> int:
    """Hand the tenant's moments of [since, now) to the hooks; how many there were."""
    overdue = became_overdue(tenant.id, rules, since, now)
    expired = results_expired(tenant.id, since, now)
    if overdue:
        hooks.became_overdue(overdue)
    if expired:
        hooks.results_expired(expired)
    return len(overdue) + len(expired)


def became_overdue(tenant_id: int, rules: Rules, since: datetime, now: datetime) -> list[hooks.BecameOverdue]:
    """Assignments due in [since, now) that are overdue now (not done, waived, ended or covered by a
    certificate still valid): the status rule's "overdue" starts once the due date has passed."""
    rows = db.session.execute(
        select(Enrolment.id, Enrolment.user_id, Enrolment.cycle, Enrolment.due_at).where(
            Enrolment.tenant_id == tenant_id,
            Enrolment.source != "preview",
            Enrolment.due_at >= since,
            Enrolment.due_at < now,
            Enrolment.completed_at.is_(None),
            status_column(now, rules.expiring_soon_days) == "overdue",
        )
    )
    return [hooks.BecameOverdue(tenant_id, *row, noticed_at=now) for row in rows]


def results_expired(tenant_id: int, since: datetime, now: datetime) -> list[hooks.ResultExpired]:
    """Passed results whose expiry fell in (since, now]: their certificates expire ("expired" from
    the moment `expires_at` is reached, as the status rule says)."""
    rows = db.session.execute(
        select(Completion.id, Completion.user_id, Completion.expires_at)
        .join(Enrolment, Enrolment.id == Completion.enrolment_id)
        .where(
            Completion.tenant_id == tenant_id,
            Completion.status == "completed",
            Completion.expires_at > since,
            Completion.expires_at <= now,
            Enrolment.source != "preview",
        )
    )
    return [hooks.ResultExpired(tenant_id, *row, noticed_at=now) for row in rows]
