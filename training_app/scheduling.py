"""The scheduled tick, registered by the package that owns it (assignments), so the worker and the
CLI can run it without importing that package."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

Tick = Callable[[datetime | None], Any]
_tick: list[Tick] = []
DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def register_tick(tick: Tick) -> None:
    _tick[:] = [tick]


def run_tick(now: datetime | None = None) -> Any:
    """Run the registered tick in the caller's transaction (the caller commits)."""
    if not _tick:
        raise RuntimeError("no tick registered (the assignments package registers it)")
    return _tick[0](now)


def parse_interval(text: str) -> float:
    """'15m', '1h', '900' (seconds) -> seconds; ValueError with what to write otherwise."""
    match = DURATION.match(text or "")
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not an interval; write for example 15m, 1h or 900")
    return int(match.group(1)) * SECONDS[match.group(2)]
