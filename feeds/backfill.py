"""Earlier records to the tenant's learning record store: what learners did before HR connected
the LRS (or while it was turned off), queued as the statements the hooks would have queued then.

It runs in the outbox worker, a page of records per job: each page queues its statements and
the job for the next page in one transaction, so a crash resumes at the page it stopped on.
Statement ids come from the event (feeds.statements), so a record already queued is skipped: a
backfill may run any number of times and never sends a statement twice.

What can be sent again: each result (passed/failed, completed, satisfied), attestation, waiver
and start of a current cycle (initialized), each package launch, and each LMS link's latest LTI
launch (earlier LTI launches are not recorded one by one). A staff preview is never sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, select

from courses import hooks
from courses.models import Attestation, Completion, Enrolment
from courses.services import recorded_result_of
from feeds import xapi_events
from training_app import outbox
from training_app.db import utcnow
from training_app.extensions import db
from training_app.outbox import Delivery

KIND = "xapi_backfill"
PAGE = 200
_LEARNERS = Enrolment.source != "preview"


def start(tenant_id: int) -> str:
    """Queue the first page of a new pass over the tenant's records; the pass's name. Two passes
    at once send nothing twice (the statements' ids), they only read twice."""
    started = utcnow().strftime("%Y%m%dT%H%M%S.%f")
    _queue_page(tenant_id, 0, 0, started)
    return started


def deliver(delivery: Delivery) -> None:
    """One page of one kind of record; then the job for the next page (or the next kind)."""
    payload = delivery.payload
    tenant_id, step, after, started = (payload[k] for k in ("tenant_id", "step", "after", "started"))
    if xapi_events.connection_for(tenant_id) is None:
        return  # the LRS was turned off or removed meanwhile: nothing to send
    steps = _steps()
    last_id = steps[step](tenant_id, after)
    if last_id is not None:
        _queue_page(tenant_id, step, last_id, started)
    elif step + 1 < len(steps):
        _queue_page(tenant_id, step + 1, 0, started)


Step = Callable[[int, int], "int | None"]  # (tenant, after id) -> the page's last id if it was full


def _steps() -> list[Step]:
    """In the order the learner did them: launches (each package that records them), starts
    and waivers, attestations, results."""
    launches = [_launches_of(history) for history in hooks.launch_histories()]
    return [
        *launches,
        _records(_enrolments, _started),
        _records(_attestations, _attested),
        _records(_results, _result),
    ]


def _launches_of(history: hooks.LaunchHistory) -> Step:
    def step(tenant_id: int, after: int) -> int | None:
        page = history(tenant_id, after, PAGE)
        for _, launched in page:
            xapi_events.on_launched(launched)
        return page[-1][0] if len(page) == PAGE else None

    return step


def _records(query: Callable[[int, int], Select], send: Callable[[Any], None]) -> Step:
    def step(tenant_id: int, after: int) -> int | None:
        rows = db.session.execute(query(tenant_id, after).limit(PAGE)).all()
        for row in rows:
            send(row[1])
        return rows[-1][0] if len(rows) == PAGE else None

    return step


def _queue_page(tenant_id: int, step: int, after: int, started: str) -> None:
    outbox.enqueue(
        KIND,
        {"tenant_id": tenant_id, "step": step, "after": after, "started": started},
        idempotency_key=f"{KIND}:{tenant_id}:{started}:{step}:{after}",
        tenant_id=tenant_id,
    )


def _enrolments(tenant_id: int, after: int) -> Select:
    return (
        select(Enrolment.id, Enrolment)
        .where(Enrolment.tenant_id == tenant_id, Enrolment.id > after, _LEARNERS)
        .order_by(Enrolment.id)
    )


def _started(enrolment: Enrolment) -> None:
    if enrolment.started_at is not None:
        xapi_events.on_cycle_started(enrolment)
    if enrolment.waived_at is not None:
        xapi_events.on_waived(enrolment)


def _attestations(tenant_id: int, after: int) -> Select:
    return (
        select(Attestation.id, Attestation)
        .join(Enrolment, Enrolment.id == Attestation.enrolment_id)
        .where(Attestation.tenant_id == tenant_id, Attestation.id > after, _LEARNERS)
        .order_by(Attestation.id)
    )


def _results(tenant_id: int, after: int) -> Select:
    return (
        select(Completion.id, Completion)
        .join(Enrolment, Enrolment.id == Completion.enrolment_id)
        .where(Completion.tenant_id == tenant_id, Completion.id > after, _LEARNERS)
        .order_by(Completion.id)
    )


def _attested(attestation: Attestation) -> None:
    xapi_events.on_attestation(attestation)


def _result(completion: Completion) -> None:
    xapi_events.on_result(recorded_result_of(completion))
