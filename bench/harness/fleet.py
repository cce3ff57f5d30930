"""CPU seconds of named groups of processes (the app instances, the outbox workers, their PostgreSQL
backends, the load generator...) sampled from /proc every second in a thread, so that a process
that ends during a phase (a backend closed by its pool) still counts up to its last sample; and
the machine's load average meanwhile. `mark(label)` closes a phase; `phases()` gives each phase's
CPU seconds per group, the machine's busy and total CPU seconds, and the load average."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.cpu import machine_cpu, process_cpu

Finder = Callable[[], list[int]]


class Fleet:
    def __init__(self, groups: dict[str, Finder], interval: float = 1.0) -> None:
        self.groups, self.interval = groups, interval
        self.seen: dict[str, dict[int, tuple[float, float]]] = {
            name: {} for name in groups
        }  # pid: first, last
        self.marks: list[tuple[str, dict[str, float], tuple[float, float], float]] = []
        self.load: list[tuple[float, float]] = []  # (monotonic, 1-minute load average)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="fleet-sampler", daemon=True)
        self.errors: list[str] = []

    def start(self) -> Fleet:
        self._sample(first=True)
        self.marks.append(("start", self._totals(), machine_cpu(), time.monotonic()))
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(10)

    def _run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self._sample()
            except Exception as exc:  # a failed sample must not end the measurement; reported
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def _sample(self, first: bool = False) -> None:
        found = {name: finder() for name, finder in self.groups.items()}
        with self.lock:
            for name, pids in found.items():
                seen = self.seen[name]
                for pid in pids:
                    cpu = process_cpu(pid)
                    if pid in seen:
                        start, last = seen[pid]
                        seen[pid] = (start, max(last, cpu))
                    else:  # there at the start: counted from now; new since: its whole life
                        seen[pid] = (cpu if first else 0.0, cpu)
            self.load.append((time.monotonic(), os.getloadavg()[0]))

    def _totals(self) -> dict[str, float]:
        with self.lock:
            return {
                name: sum(last - start for start, last in seen.values()) for name, seen in self.seen.items()
            }

    def mark(self, label: str) -> None:
        """End the current phase (sampling everything once more first)."""
        self._sample()
        self.marks.append((label, self._totals(), machine_cpu(), time.monotonic()))

    def phases(self) -> dict[str, dict[str, Any]]:
        out = {}
        for (_, before, machine_before, t0), (label, after, machine_after, t1) in zip(
            self.marks, self.marks[1:], strict=False
        ):
            loads = [value for at, value in self.load if t0 <= at <= t1] or [os.getloadavg()[0]]
            out[label] = {
                "wall_s": round(t1 - t0, 2),
                "cpu_s": {name: round(after[name] - before[name], 2) for name in self.groups},
                "machine_busy_s": round(machine_after[0] - machine_before[0], 2),
                "machine_total_s": round(machine_after[1] - machine_before[1], 2),
                "load_average_1m": {
                    "min": round(min(loads), 2),
                    "mean": round(sum(loads) / len(loads), 2),
                    "max": round(max(loads), 2),
                },
            }
        return out


def named(command: str) -> list[int]:
    """Processes whose executable name (/proc/<pid>/comm) is `command`, e.g. redis-server."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == command:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
