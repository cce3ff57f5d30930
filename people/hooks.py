"""Hand-offs from people to the packages that stand on it (assignments), without importing them:
when employees are created or changed, the registered callbacks run in the same transaction."""

from __future__ import annotations

from collections.abc import Callable

PeopleChanged = Callable[[int, list[int]], None]  # (tenant id, user ids)
_people_changed: list[PeopleChanged] = []


def on_people_changed(callback: PeopleChanged) -> None:
    if callback not in _people_changed:
        _people_changed.append(callback)


def people_changed(tenant_id: int, user_ids: list[int]) -> None:
    for callback in _people_changed:
        callback(tenant_id, user_ids)
