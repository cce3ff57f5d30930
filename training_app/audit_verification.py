"""Verifying a tenant's audit chain, in full or from its last full verification.

A full walk reads every event (seconds at a few hundred thousand), so it is an explicit action:
`flask --app wsgi audit verify`, the console's "Verify the whole chain" button, or the scheduled
tick. Each full walk that finds the chain intact records a checkpoint (the last event's seq and
hash). The audit log page then checks only the events after the checkpoint, which proves they
extend the verified chain, and says when the whole chain was last verified.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from training_app.audit import GENESIS, event_hash
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import AuditCheckpoint, AuditEvent, Tenant

BATCH = 2000


@dataclass(frozen=True)
class ChainProblem:
    tenant_slug: str
    seq: int
    event_id: int | None
    kind: str  # edited | deleted | inserted
    detail: str

    def __str__(self) -> str:
        where = f"event #{self.event_id} (seq {self.seq})" if self.event_id else f"seq {self.seq}"
        return f"tenant {self.tenant_slug}: {where} was {self.kind}: {self.detail}"


@dataclass(frozen=True)
class ChainReport:
    tenant_slug: str
    events: int  # events checked by this verification
    problem: ChainProblem | None
    # for a verification from a checkpoint: the events verified in full before, and when
    verified_before: int = 0
    full_verification_at: datetime | None = None
    # what the latest full verification found wrong (it stays until one finds the chain intact)
    problem_found_at: datetime | None = None

    @property
    def total(self) -> int:
        return self.verified_before + self.events


def verify_chain(tenant: Tenant) -> ChainReport:
    """Walk the whole chain in order and name the first row that does not fit. The outcome is
    recorded: an intact chain moves the checkpoint, a broken one is remembered until a later full
    verification finds the chain intact again."""
    report = _walk(tenant, after_seq=0, previous_hash=GENESIS)
    _record(tenant, report)
    return report


def verify_since_checkpoint(tenant: Tenant) -> ChainReport:
    """The events after the last full verification: they must extend the chain verified then.
    A problem the latest full verification found is reported until it is resolved."""
    checkpoint = db.session.get(AuditCheckpoint, tenant.id)
    if checkpoint is None:
        return _walk(tenant, after_seq=0, previous_hash=GENESIS)
    report = _walk(tenant, after_seq=checkpoint.seq, previous_hash=checkpoint.hash)
    problem = report.problem
    if problem is None and checkpoint.problem:
        problem = ChainProblem(tenant.slug, 0, None, "found", checkpoint.problem)
    return ChainReport(
        tenant.slug,
        report.events,
        problem,
        checkpoint.seq,
        checkpoint.verified_at,
        checkpoint.problem_found_at if checkpoint.problem else None,
    )


def _walk(tenant: Tenant, *, after_seq: int, previous_hash: str) -> ChainReport:
    count = 0
    expected_seq = after_seq + 1
    head_seq, head_hash = tenant.audit_seq, tenant.audit_head
    for event in _events_after(tenant.id, after_seq, head_seq):
        count += 1
        problem = _check_event(tenant, event, expected_seq, previous_hash)
        if problem:
            return ChainReport(tenant.slug, count, problem)
        expected_seq, previous_hash = event.seq + 1, event.hash
    if head_seq != expected_seq - 1 or head_hash != previous_hash:
        detail = f"the chain ends at seq {expected_seq - 1} but the tenant's head records seq {head_seq}"
        kind = "deleted" if head_seq > expected_seq - 1 else "inserted"
        problem = ChainProblem(tenant.slug, expected_seq - 1, None, kind, detail)
        return ChainReport(tenant.slug, count, problem)
    beyond = db.session.execute(_BEYOND_THE_HEAD, {"tenant_id": tenant.id}).first()
    if beyond is not None:
        detail = "it comes after the chain's head (an event added without moving the head)"
        return ChainReport(
            tenant.slug, count, ChainProblem(tenant.slug, beyond.seq, beyond.id, "inserted", detail)
        )
    return ChainReport(tenant.slug, count, None)


def _check_event(tenant: Tenant, event, expected_seq: int, previous_hash: str) -> ChainProblem | None:
    if event.seq > expected_seq:
        missing = (
            f"seq {expected_seq}"
            if event.seq == expected_seq + 1
            else (f"seq {expected_seq}-{event.seq - 1}")
        )
        return ChainProblem(
            tenant.slug, expected_seq, None, "deleted", f"{missing} is missing before event #{event.id}"
        )
    if event_hash(event) != event.hash:
        return ChainProblem(
            tenant.slug, event.seq, event.id, "edited", "its content no longer matches its hash"
        )
    if event.seq < expected_seq or event.prev_hash != previous_hash:
        return ChainProblem(
            tenant.slug, event.seq, event.id, "inserted", "it does not link to the event before it"
        )
    return None


_events = AuditEvent.__table__
_EVENTS_AFTER = (
    select(_events)
    .where(
        _events.c.tenant_id == bindparam("tenant_id"),
        _events.c.seq > bindparam("after_seq"),
        _events.c.seq <= bindparam("head_seq"),
    )
    .order_by(_events.c.seq)
    .limit(BATCH)
)


# One statement, one snapshot: a concurrent event commits with the head it moves, so an event
# beyond the head seen in the same snapshot was added behind the chain's back.
_tenants = Tenant.__table__
_BEYOND_THE_HEAD = (
    select(_events.c.id, _events.c.seq)
    .where(
        _events.c.tenant_id == bindparam("tenant_id"),
        _events.c.seq
        > select(_tenants.c.audit_seq).where(_tenants.c.id == bindparam("tenant_id")).scalar_subquery(),
    )
    .order_by(_events.c.seq)
    .limit(1)
)


def _events_after(tenant_id: int, after_seq: int, head_seq: int) -> Iterator[Row]:
    """Events in chain order up to the head read before (later ones belong to a later
    verification), in batches by seq, which is unique per tenant; Core rows, no ORM objects."""
    while True:
        params = {"tenant_id": tenant_id, "after_seq": after_seq, "head_seq": head_seq}
        rows = db.session.execute(_EVENTS_AFTER, params).all()
        yield from rows
        if len(rows) < BATCH:
            return
        after_seq = rows[-1].seq


def _record(tenant: Tenant, report: ChainReport) -> None:
    now = utcnow()
    if report.problem is None:  # the checkpoint moves to the head walked, and no problem stands
        values = {"seq": tenant.audit_seq, "hash": tenant.audit_head, "events": report.events}
        values |= {"verified_at": now, "problem": None, "problem_found_at": None}
    else:  # the checkpoint stays at the last intact verification; the problem is remembered
        values = {"problem": str(report.problem), "problem_found_at": now}
    first = {"seq": 0, "hash": GENESIS, "events": 0, "verified_at": None, **values}
    dialect = db.session.connection().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(AuditCheckpoint.__table__).values(tenant_id=tenant.id, **first)
    db.session.execute(statement.on_conflict_do_update(index_elements=["tenant_id"], set_=values))
