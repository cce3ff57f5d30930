"""Hand-offs from the training tick to the packages that stand on assignments (webhooks), without
importing them: when an assignment becomes overdue, or a passed result's certificate expires, the
registered callbacks run in the tick's transaction, once for each moment (see assignments.moments).
Callbacks only write rows and outbox messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class BecameOverdue:
    tenant_id: int
    enrolment_id: int
    user_id: int
    cycle: int
    due_at: datetime
    noticed_at: datetime  # the tick's moment, at which it is overdue


@dataclass(frozen=True)
class ResultExpired:
    tenant_id: int
    completion_id: int
    user_id: int
    expires_at: datetime
    noticed_at: datetime  # the tick's moment


OverdueCallback = Callable[[list[BecameOverdue]], None]
ExpiredCallback = Callable[[list[ResultExpired]], None]
_overdue: list[OverdueCallback] = []
_expired: list[ExpiredCallback] = []


def on_overdue(callback: OverdueCallback) -> None:
    if callback not in _overdue:
        _overdue.append(callback)


def on_result_expired(callback: ExpiredCallback) -> None:
    if callback not in _expired:
        _expired.append(callback)


def became_overdue(moments: list[BecameOverdue]) -> None:
    for callback in _overdue:
        callback(moments)


def results_expired(moments: list[ResultExpired]) -> None:
    for callback in _expired:
        callback(moments)
