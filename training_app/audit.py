"""Append-only audit log, hash-chained per tenant.

Each event's hash covers its own fields and the previous event's hash, and the tenant row keeps
the head of the chain. Events recorded in a transaction are chained when it commits: the tenant
row is locked (FOR NO KEY UPDATE, which does not conflict with the key-share locks that inserts
referencing the tenant take) only for the last moment of the transaction, so concurrent requests
of one tenant chain in order without queueing behind each other's whole request. On PostgreSQL a
request's few events are chained by one statement that locks the head, hashes, inserts and moves
the head: the lock is held for that statement and the COMMIT only.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Connection,
    Select,
    Text,
    bindparam,
    cast,
    func,
    insert,
    select,
    union_all,
    update,
)
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
        events = [event for event in pending if event.tenant_id == tenant_id]
        if connection.dialect.name == "postgresql" and len(events) <= _EVENTS_CHAINED_IN_SQL:
            _chain_in_one_statement(connection, tenant_id, events)
        else:
            _chain_in_python(connection, tenant_id, events)


def _chain_in_one_statement(connection: Connection, tenant_id: int, events: list[PendingEvent]) -> None:
    """A request's few events: PostgreSQL locks the head, hashes, inserts and moves the head.

    One round trip, and the head stays locked only from this statement to the COMMIT right after
    it. The hash is event_hash's, computed from the canonical JSON around the prev_hash and seq
    that only the locked head gives.
    """
    params: dict[str, Any] = {"tenant_id": tenant_id, "between": _BETWEEN_PREV_HASH_AND_SEQ}
    for i, event in enumerate(events):
        params[f"before_prev_{i}"], params[f"after_seq_{i}"] = canonical_around_link(event)
        params |= {f"{column}_{i}": getattr(event, column) for column in _CONTENT_COLUMNS}
    chained = connection.execute(_append_events_in_sql(len(events)), params)
    for event, (seq, prev_hash, digest) in zip(events, chained, strict=True):
        event.seq, event.prev_hash, event.hash = seq, prev_hash, digest


def _chain_in_python(connection: Connection, tenant_id: int, events: list[PendingEvent]) -> None:
    """SQLite, and a bulk operation's many events (an executemany, then the head's move)."""
    seq, head = connection.execute(_LOCK_CHAIN_HEAD, {"tenant_id": tenant_id}).one()
    rows = []
    for event in events:
        seq += 1
        event.seq, event.prev_hash = seq, head
        event.hash = head = event_hash(event)
        rows.append({column: getattr(event, column) for column in _EVENT_COLUMNS})
    connection.execute(_INSERT_EVENTS, rows)
    connection.execute(_MOVE_CHAIN_HEAD, {"tenant_id": tenant_id, "new_seq": seq, "new_head": head})


@functools.cache
def _append_events_in_sql(count: int) -> CompoundSelect | Select:
    """`count` events chained by PostgreSQL in one statement, built once per count.

    head (locked) -> link_0 -> ... -> link_{count-1}: each link is the event's seq, prev_hash and
    sha256 of its canonical JSON; the events are inserted and the head moved in CTEs, and the
    statement returns each link in order. Bind parameters are typed (no multi-row VALUES, which
    SQLAlchemy never caches).
    """
    previous = _LOCK_CHAIN_HEAD.cte("head")
    links = []
    for i in range(count):
        seq = previous.c.seq + 1
        canonical = (
            bindparam(f"before_prev_{i}", type_=Text)
            + previous.c.hash
            + bindparam("between", type_=Text)
            + cast(seq, Text)
            + bindparam(f"after_seq_{i}", type_=Text)
        )
        digest = func.encode(func.sha256(func.convert_to(canonical, "UTF8")), "hex")
        previous = select(seq.label("seq"), previous.c.hash.label("prev_hash"), digest.label("hash")).cte(
            f"link_{i}"
        )
        links.append(previous)
    rows = [
        select(
            *(bindparam(f"{column}_{i}", type_=_events.c[column].type) for column in _CONTENT_COLUMNS),
            link.c.seq,
            link.c.prev_hash,
            link.c.hash,
        )
        for i, link in enumerate(links)
    ]
    appended = insert(_events).from_select(
        [*_CONTENT_COLUMNS, "seq", "prev_hash", "hash"], union_all(*rows) if count > 1 else rows[0]
    )
    last = links[-1]
    moved = (
        update(_tenants)
        .where(_tenants.c.id == bindparam("tenant_id"))
        .values(
            audit_seq=select(last.c.seq).scalar_subquery(), audit_head=select(last.c.hash).scalar_subquery()
        )
    )
    chained = [select(link.c.seq, link.c.prev_hash, link.c.hash) for link in links]
    statement = union_all(*chained).order_by("seq") if count > 1 else chained[0]
    return statement.add_cte(appended.cte("appended"), moved.cte("moved"))


_LOCK_CHAIN_HEAD = (
    select(Tenant.audit_seq.label("seq"), Tenant.audit_head.label("hash"))
    .where(Tenant.id == bindparam("tenant_id"))
    .with_for_update(key_share=True)
)
_tenants = Tenant.__table__
_events = AuditEvent.__table__
_CONTENT_COLUMNS = [column for column in _EVENT_COLUMNS if column not in ("seq", "prev_hash", "hash")]
# More events than this (a bulk operation's hundreds) are chained in Python: one statement per
# count is kept, and PostgreSQL takes at most 65535 parameters per statement.
_EVENTS_CHAINED_IN_SQL = 8
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
    canonical = _canonical({**_content_of(event), "seq": event.seq, "prev_hash": event.prev_hash})
    return hashlib.sha256(canonical.encode()).hexdigest()


def canonical_around_link(event: PendingEvent) -> tuple[str, str]:
    """event_hash's canonical JSON without the prev_hash's value and the seq's, which only the
    locked chain head gives: before + prev_hash + '","seq":' + seq + after is the whole of it.

    Keys are sorted and "prev_hash" < "seq" are neighbours, so the two halves are the content
    before and after them.
    """
    content = _content_of(event)
    before = _canonical({key: value for key, value in content.items() if key < "prev_hash"})
    after = _canonical({key: value for key, value in content.items() if key > "seq"})
    return before[:-1] + ',"prev_hash":"', "," + after[1:]


_BETWEEN_PREV_HASH_AND_SEQ = '","seq":'


def _content_of(event: AuditEvent | PendingEvent) -> dict[str, Any]:
    return {
        "tenant_id": event.tenant_id,
        "occurred_at": _iso(event.occurred_at),
        "actor": event.actor,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "data": event.data,
        "ip_address": event.ip_address,
    }


def _canonical(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _iso(moment: datetime) -> str:
    # Microseconds are kept on both databases; normalise the representation only.
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
