"""Wall-clock timing of a step, and a ratio against a baseline measured in the same run."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def seconds(step: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = step()
    return time.perf_counter() - started, result


def ratio(measured: float, baseline: float) -> str:
    return f"{measured / baseline:.1f}x" if baseline > 0 else "n/a"
