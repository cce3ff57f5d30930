"""The outbox: reliable delivery of everything that leaves the process.

A state change and the message announcing it are written in one transaction (`enqueue`).
Workers claim due messages with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite takes
its single write lock at BEGIN), deliver them outside any transaction, then record the outcome.
A worker that dies mid-delivery leaves a lease that expires, and the message is claimed again:
delivery is at-least-once, and every message carries an idempotency key for the receiver.

Most kinds deliver one message per job: the handler, then its outcome, one commit each. A kind
whose delivery is one quick request and whose outcomes can be written together (webhooks) registers
a batch handler instead: it gets every message of its kind claimed in a round, and the outcomes
commit together, one commit per round instead of one per message.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from training_app import metrics
from training_app.db import insert_rows_unless_conflict, insert_unless_conflict, utcnow
from training_app.errors import Conflict, NotFound, is_database_unavailable
from training_app.extensions import db
from training_app.models import OutboxMessage

log = logging.getLogger(__name__)

# A message whose worker died this many times beyond max_attempts is given up on.
CRASH_ALLOWANCE = 2


class DeliveryError(Exception):
    """Delivery failed. `retry=False` sends the message to dead letter at once."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class Delivery:
    """What a handler receives: the payload and the key the receiver can deduplicate on."""

    id: int
    kind: str
    payload: dict[str, Any]
    idempotency_key: str
    attempt: int
    tenant_id: int | None


Handler = Callable[[Delivery], None]
_handlers: dict[str, Handler] = {}
# Each delivery's outcome in the order given: None (delivered) or the DeliveryError.
BatchHandler = Callable[[list[Delivery]], list["DeliveryError | None"]]
_batch_handlers: dict[str, BatchHandler] = {}


def register_handler(kind: str, handler: Handler) -> None:
    _handlers[kind] = handler


def register_batch_handler(kind: str, handler: BatchHandler) -> None:
    """A kind delivered a round at a time (see the module's docstring). The handler ends its read
    transaction before it waits on another server; what it writes commits with the outcomes."""
    _batch_handlers[kind] = handler


def registered_kinds() -> list[str]:
    return sorted({*_handlers, *_batch_handlers})


def enqueue(
    kind: str,
    payload: dict[str, Any],
    *,
    idempotency_key: str,
    tenant_id: int | None = None,
    max_attempts: int | None = None,
) -> None:
    """Add a message in the caller's transaction; a second message with the same key is ignored."""
    if kind not in registered_kinds():
        raise ValueError(f"no outbox handler for kind {kind!r}; registered: {registered_kinds()}")
    values = {
        "kind": kind,
        "payload": payload,
        "idempotency_key": idempotency_key,
        "tenant_id": tenant_id,
        "status": "pending",
        "attempts": 0,
        "max_attempts": max_attempts or current_app.config["OUTBOX_MAX_ATTEMPTS"],
        "next_try_at": utcnow(),
        "created_at": utcnow(),
    }
    db.session.execute(_ENQUEUE_ONCE, values)


def enqueue_many(kind: str, messages: list[tuple[dict[str, Any], str, int | None]]) -> None:
    """`enqueue` for many (payload, idempotency key, tenant id), in batches of one statement."""
    if kind not in registered_kinds():
        raise ValueError(f"no outbox handler for kind {kind!r}; registered: {registered_kinds()}")
    now, attempts = utcnow(), current_app.config["OUTBOX_MAX_ATTEMPTS"]
    rows = [
        {
            "kind": kind,
            "payload": payload,
            "idempotency_key": key,
            "tenant_id": tenant_id,
            "status": "pending",
            "attempts": 0,
            "max_attempts": attempts,
            "next_try_at": now,
            "created_at": now,
        }
        for payload, key, tenant_id in messages
    ]
    insert_rows_unless_conflict(db.session.connection(), OutboxMessage.__table__, ("idempotency_key",), rows)


# values: the message's columns; nothing when its idempotency key is already queued
_ENQUEUE_ONCE = insert_unless_conflict(OutboxMessage.__table__, "idempotency_key")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_due(worker: str, limit: int) -> list[Delivery]:
    """Lease up to `limit` due messages to `worker` and commit the lease."""
    now = utcnow()
    lease = timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
    due = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.next_try_at <= now,
            or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now),
        )
        .order_by(OutboxMessage.next_try_at, OutboxMessage.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = []
    for message in db.session.scalars(due).all():
        if message.locked_by and message.attempts >= message.max_attempts + CRASH_ALLOWANCE:
            _mark_dead(
                message,
                f"worker stopped during delivery {message.attempts} times; "
                f"last error: {message.last_error or 'none'}",
            )
            continue
        message.attempts += 1
        message.locked_until = now + lease
        message.locked_by = worker
        claimed.append(
            Delivery(
                message.id,
                message.kind,
                message.payload,
                message.idempotency_key,
                message.attempts,
                message.tenant_id,
            )
        )
    db.session.commit()
    return claimed


def deliver(delivery: Delivery, worker: str) -> bool:
    """One job: run the handler, then record the outcome, which commits the job's transaction (a
    handler that waits on another server ends it before, with commit_before_waiting). A failed
    handler's writes are rolled back. True when delivered."""
    handler = _handlers.get(delivery.kind)
    error: DeliveryError | None = None
    try:
        if handler is None:
            raise DeliveryError(f"no handler registered for kind {delivery.kind!r}", retry=False)
        handler(delivery)
    except DeliveryError as exc:
        error = exc
    except Exception as exc:  # a handler bug must not lose the message: keep it for a retry
        log.exception("outbox handler raised", extra={"message_id": delivery.id})
        error = DeliveryError(f"{type(exc).__name__}: {exc}")
    if error is not None:
        db.session.rollback()
    _record_outcome(delivery, worker, error)
    return error is None


def deliver_round(claimed: list[Delivery], worker: str) -> int:
    """A round's claimed messages: one job each, or one job per batch kind; how many delivered."""
    delivered = 0
    for delivery in claimed:
        if delivery.kind not in _batch_handlers:
            delivered += deliver(delivery, worker)
    for kind in dict.fromkeys(d.kind for d in claimed if d.kind in _batch_handlers):
        delivered += deliver_batch([d for d in claimed if d.kind == kind], worker)
    return delivered


def deliver_batch(deliveries: list[Delivery], worker: str) -> int:
    """One job for messages of a batch kind: the handler, then every outcome, one commit. A handler
    that raises is a bug: its writes are rolled back and each message kept for a retry."""
    try:
        outcomes = _batch_handlers[deliveries[0].kind](deliveries)
    except Exception as exc:
        log.exception("outbox batch handler raised", extra={"kind": deliveries[0].kind})
        db.session.rollback()
        outcomes = [DeliveryError(f"{type(exc).__name__}: {exc}")] * len(deliveries)
    try:
        db.session.flush()
    except SQLAlchemyError:  # e.g. a row the handler updates was deleted meanwhile: keep the outcomes
        log.exception("outbox batch handler's writes were not saved", extra={"kind": deliveries[0].kind})
        db.session.rollback()
    messages = {
        message.id: message
        for message in db.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.id.in_([d.id for d in deliveries]),
                OutboxMessage.locked_by == worker,
                OutboxMessage.status == "pending",
            )
        )
    }
    for delivery, error in zip(deliveries, outcomes, strict=True):
        if delivery.id in messages:  # else the lease was lost to another worker; its outcome wins
            _set_outcome(messages[delivery.id], error)
    db.session.commit()
    for delivery, error in zip(deliveries, outcomes, strict=True):
        if error is not None:
            _log_failure(delivery, error)
    return sum(error is None for error in outcomes)


def _record_outcome(delivery: Delivery, worker: str, error: DeliveryError | None) -> None:
    message = db.session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.id == delivery.id,
            OutboxMessage.locked_by == worker,
            OutboxMessage.status == "pending",
        )
    )
    if message is None:  # lease lost to another worker; its outcome wins
        db.session.rollback()
        return
    _set_outcome(message, error)
    db.session.commit()
    if error is not None:
        _log_failure(delivery, error, message.status)


def _set_outcome(message: OutboxMessage, error: DeliveryError | None) -> None:
    message.locked_until = None
    if error is None:
        message.status = "delivered"
        message.delivered_at = utcnow()
        message.last_error = None
    elif not error.retry or message.attempts >= message.max_attempts:
        _mark_dead(message, str(error))
    else:
        message.last_error = str(error)[:4000]
        message.next_try_at = utcnow() + timedelta(seconds=backoff_seconds(message.attempts))
    metrics.note_delivery_outcome(message.kind, delivered=error is None, final=message.status == "dead")


def _log_failure(delivery: Delivery, error: DeliveryError, status: str | None = None) -> None:
    log.warning(
        "outbox delivery failed",
        extra={
            "message_id": delivery.id,
            "kind": delivery.kind,
            "attempt": delivery.attempt,
            "retried": error.retry,
            "status": status,
            "error": str(error)[:500],
        },
    )


def _mark_dead(message: OutboxMessage, error: str) -> None:
    message.status = "dead"
    message.locked_until = None
    message.last_error = error[:4000]


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with jitter: base * 2^(attempt-1), capped, times 0.5-1.0."""
    config = current_app.config
    ceiling = min(config["OUTBOX_BACKOFF_MAX_SECONDS"], config["OUTBOX_BACKOFF_SECONDS"] * 2 ** (attempt - 1))
    return ceiling * random.uniform(0.5, 1.0)


Housekeeping = Callable[[], int]
_housekeeping: list[Housekeeping] = []
HOUSEKEEPING_SECONDS = 300


def register_housekeeping(task: Housekeeping) -> None:
    """Periodic clean-up (expired launch state...) that packages hand to the worker; returns rows."""
    if task not in _housekeeping:
        _housekeeping.append(task)


def run_housekeeping() -> int:
    removed = sum(task() for task in _housekeeping)
    db.session.commit()
    return removed


def run_worker(
    *,
    once: bool = False,
    poll_interval: float = 1.0,
    batch: int | None = None,
    stop: Callable[[], bool] = lambda: False,
    periodic: tuple[float, Callable[[], Any]] | None = None,
) -> int:
    """Deliver due messages until stopped; returns how many were delivered. `periodic`: (seconds,
    job) also runs the job that often (the scheduler's tick), each run its own transaction.

    A database that stops answering (a restart, a failover) does not stop the worker: it waits and
    tries again, longer each time up to DATABASE_RETRY_MAX_SECONDS, and goes on when the database is
    back. A message it was delivering meanwhile keeps its lease and is delivered again after it
    (at-least-once, with its idempotency key). With `once`, the error is raised.
    """
    worker = worker_id()
    batch = batch or current_app.config["OUTBOX_BATCH_SIZE"]
    delivered = 0
    next_housekeeping = next_periodic = 0.0
    outage = 0  # consecutive rounds the database did not answer
    while not stop():
        try:
            if time.monotonic() >= next_housekeeping:
                run_housekeeping()
                next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
            if periodic and time.monotonic() >= next_periodic:
                _run_periodic(periodic[1])
                next_periodic = time.monotonic() + periodic[0]
            claimed = claim_due(worker, batch)
            delivered += deliver_round(claimed, worker)
        except OperationalError as exc:
            if once or not is_database_unavailable(exc):
                raise
            outage += 1
            _wait_for_the_database(exc, outage)
            continue
        if outage:
            log.warning("outbox worker: the database answers again", extra={"failed_rounds": outage})
            outage = 0
        if once and not claimed:
            break
        if not claimed:
            db.session.remove()
            time.sleep(poll_interval)
    db.session.remove()
    return delivered


DATABASE_RETRY_MAX_SECONDS = 15.0


def _wait_for_the_database(error: OperationalError, outage: int) -> None:
    with contextlib.suppress(SQLAlchemyError):
        db.session.remove()  # its connection is gone; the pool replaces it at the next checkout
    delay = min(DATABASE_RETRY_MAX_SECONDS, 0.5 * 2 ** (outage - 1))
    log.warning(
        "outbox worker: the database does not answer; trying again",
        extra={"failed_rounds": outage, "retry_in_seconds": delay, "error": str(error.orig or error)[:300]},
    )
    time.sleep(delay)


def _run_periodic(job: Callable[[], Any]) -> None:
    try:
        job()
        db.session.commit()
    except Exception:  # the worker keeps delivering; the job runs again at its next time
        db.session.rollback()
        log.exception("scheduled job failed")


def retry_dead(message_id: int) -> OutboxMessage:
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(f"There is no outbox message #{message_id}.")
    if message.status != "dead":
        raise Conflict(f"Message #{message_id} is {message.status}; only dead messages can be retried.")
    message.status = "pending"
    message.attempts = 0
    message.next_try_at = utcnow()
    message.locked_by = None
    message.locked_until = None
    return message


def counts_by_status() -> dict[str, int]:
    rows = db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
    return {status: count for status, count in rows}
