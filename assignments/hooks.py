"""Hand-offs from assignments to the packages that stand on them (webhooks, feeds), without
importing them: when an assignment becomes overdue, or a passed result's certificate expires, the
registered callbacks run in the tick's transaction, once for each moment (see assignments.moments);
when HR waives an assignment, the waiver callbacks run in its transaction; each tick also runs the
tick callbacks (feeds: scheduled files), in its transaction, with its moment.
Callbacks only write rows and outbox messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from courses.models import Enrolment


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


WaivedCallback = Callable[["Enrolment"], None]
TickCallback = Callable[[datetime], dict[str, int]]  # the tick's moment -> what it did, counted
_waived: list[WaivedCallback] = []
_ticks: list[TickCallback] = []


def on_waived(callback: WaivedCallback) -> None:
    if callback not in _waived:
        _waived.append(callback)


def waived(enrolment: Enrolment) -> None:
    for callback in _waived:
        callback(enrolment)


def on_tick(callback: TickCallback) -> None:
    if callback not in _ticks:
        _ticks.append(callback)


def ticked(now: datetime) -> dict[str, int]:
    done: dict[str, int] = {}
    for callback in _ticks:
        for what, count in callback(now).items():
            done[what] = done.get(what, 0) + count
    return done
