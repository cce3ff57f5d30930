"""Append-only audit log, hash-chained per tenant.

Each event's hash covers its own fields and the previous event's hash, and the tenant row keeps
the head of the chain. Events recorded in a transaction are chained when it commits: the tenant
row is locked (FOR NO KEY UPDATE, which does not conflict with the key-share locks that inserts
referencing the tenant take) only for the last moment of the transaction, so concurrent requests
of one tenant chain in order without queueing behind each other's whole request.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert, ScalarResult, bindparam, insert, select, union_all, update
from sqlalchemy import event as sqlalchemy_events
from sqlalchemy.orm import Session

from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import AuditEvent, Tenant

GENESIS = "0" * 64


PENDING_KEY = "pending_audit_events"
_EVENT_COLUMNS = (
    "tenant_id",
    "seq",
    "occurred_at",
    "actor",
    "action",
    "subject_type",
    "subject_id",
    "data",
    "ip_address",
    "prev_hash",
    "hash",
)


@dataclass(slots=True)
class PendingEvent:
    """An event recorded in the open transaction; numbered, hashed and inserted when it commits.

    A plain object, not an `AuditEvent`: it is never added to the session (the chain inserts it with
    one Core statement), and an ORM instance costs instrumentation on every attribute.
    """

    tenant_id: int
    occurred_at: datetime
    actor: str
    action: str
    subject_type: str | None
    subject_id: str | None
    data: dict[str, Any]
    ip_address: str | None
    seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None


def record_event(
    tenant_id: int,
    actor: str,
    action: str,
    *,
    subject: tuple[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    ip_address: str | None = None,
) -> PendingEvent:
    """Record an event in the caller's transaction; it joins the tenant's chain at commit."""
    event = PendingEvent(
        tenant_id=tenant_id,
        occurred_at=utcnow(),
        actor=actor,
        action=action,
        subject_type=subject[0] if subject else None,
        subject_id=str(subject[1]) if subject else None,
        data=data or {},
        ip_address=ip_address,
    )
    db.session.info.setdefault(PENDING_KEY, []).append(event)
    return event


def chain_pending_events(session: Session) -> None:
    """Before commit: lock each tenant's chain head, number and hash the events, move the head."""
    pending: list[PendingEvent] = session.info.pop(PENDING_KEY, [])
    for tenant_id in dict.fromkeys(event.tenant_id for event in pending):
        connection = session.connection()  # Core statements: the ORM's execution path costs more here
        seq, head = connection.execute(_LOCK_CHAIN_HEAD, {"tenant_id": tenant_id}).one()
        rows = []
        for event in (e for e in pending if e.tenant_id == tenant_id):
            seq += 1
            event.seq, event.prev_hash = seq, head
            event.hash = head = event_hash(event)
            rows.append({column: getattr(event, column) for column in _EVENT_COLUMNS})
        _append_and_move_head(connection, tenant_id, rows, seq, head)


def _append_and_move_head(
    connection: Connection, tenant_id: int, rows: list[dict[str, Any]], seq: int, head: str
) -> None:
    moved = {"tenant_id": tenant_id, "new_seq": seq, "new_head": head}
    if connection.dialect.name == "postgresql" and len(rows) <= _EVENTS_WITH_THE_HEAD:
        # One round trip for a request's few events: the head moves in a CTE of the INSERT.
        numbered = {f"{column}_{i}": value for i, row in enumerate(rows) for column, value in row.items()}
        connection.execute(_append_events_moving_head(len(rows)), numbered | moved)
        return
    connection.execute(_INSERT_EVENTS, rows)
    connection.execute(_MOVE_CHAIN_HEAD, moved)


@functools.cache
def _append_events_moving_head(count: int) -> Insert:
    """`count` events and the head's move in one statement, built once per count.

    INSERT ... SELECT ... UNION ALL rather than a multi-row VALUES: SQLAlchemy never caches the
    compiled form of a multi-row VALUES, and compiling it cost a third of a passing quiz submit.
    """
    rows = [
        select(*(bindparam(f"{column}_{i}", type_=_events.c[column].type) for column in _EVENT_COLUMNS))
        for i in range(count)
    ]
    return (
        insert(_events)
        .from_select(_EVENT_COLUMNS, union_all(*rows) if count > 1 else rows[0])
        .add_cte(_MOVE_CHAIN_HEAD.cte())
    )


_LOCK_CHAIN_HEAD = (
    select(Tenant.audit_seq, Tenant.audit_head)
    .where(Tenant.id == bindparam("tenant_id"))
    .with_for_update(key_share=True)
)
_tenants = Tenant.__table__
_events = AuditEvent.__table__
# A bulk operation's hundreds of events take an executemany and one UPDATE instead (a statement
# per count is kept, and PostgreSQL takes at most 65535 parameters per statement).
_EVENTS_WITH_THE_HEAD = 8
_INSERT_EVENTS = insert(_events)
_MOVE_CHAIN_HEAD = (
    update(_tenants)
    .where(_tenants.c.id == bindparam("tenant_id"))
    .values(audit_seq=bindparam("new_seq"), audit_head=bindparam("new_head"))
)


def forget_pending_events(session: Session, *_args: Any) -> None:
    session.info.pop(PENDING_KEY, None)


sqlalchemy_events.listen(Session, "before_commit", chain_pending_events)
sqlalchemy_events.listen(Session, "after_rollback", forget_pending_events)


def event_hash(event: AuditEvent | PendingEvent) -> str:
    canonical = json.dumps(
        {
            "tenant_id": event.tenant_id,
            "seq": event.seq,
            "occurred_at": _iso(event.occurred_at),
            "actor": event.actor,
            "action": event.action,
            "subject_type": event.subject_type,
            "subject_id": event.subject_id,
            "data": event.data,
            "ip_address": event.ip_address,
            "prev_hash": event.prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _iso(moment: datetime) -> str:
    # Microseconds are kept on both databases; normalise the representation only.
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
    events: int
    problem: ChainProblem | None


def verify_chain(tenant: Tenant) -> ChainReport:
    """Walk the tenant's chain in order and name the first row that does not fit."""
    count = 0
    expected_seq, previous_hash = 1, GENESIS
    events = _events_in_order(tenant.id)
    try:
        for event in events:
            count += 1
            problem = _check_event(tenant, event, expected_seq, previous_hash)
            if problem:
                return ChainReport(tenant.slug, count, problem)
            expected_seq, previous_hash = event.seq + 1, event.hash
    finally:
        events.close()  # a server-side cursor on PostgreSQL
    if tenant.audit_seq != expected_seq - 1 or tenant.audit_head != previous_hash:
        detail = (
            f"the chain ends at seq {expected_seq - 1} but the tenant's head records seq {tenant.audit_seq}"
        )
        kind = "deleted" if tenant.audit_seq > expected_seq - 1 else "inserted"
        problem = ChainProblem(tenant.slug, expected_seq - 1, None, kind, detail)
        return ChainReport(tenant.slug, count, problem)
    return ChainReport(tenant.slug, count, None)


def _check_event(
    tenant: Tenant, event: AuditEvent, expected_seq: int, previous_hash: str
) -> ChainProblem | None:
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


def _events_in_order(tenant_id: int) -> ScalarResult[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.tenant_id == tenant_id)
        .order_by(AuditEvent.seq, AuditEvent.id)
        .execution_options(yield_per=1000)
    )
    return db.session.scalars(query)
