"""CPU accounting from /proc for the HTTP benchmarks: what gunicorn (master + workers), the bench
database's PostgreSQL backends, the load generator (finished child processes such as wrk) and the
whole machine spent during a phase. CPU seconds per operation do not depend on what else the
machine did as much as rates do."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(parents.get(pid, []))
    return found


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])
    idle = values[3] + values[4]
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


class CpuMeter:
    """CPU seconds used by gunicorn (master + workers) and the bench database's PostgreSQL backends."""

    def __init__(self, dsn: str, gunicorn_pid: int) -> None:
        self.dsn, self.gunicorn_pid = dsn, gunicorn_pid

    def _backends(self) -> list[int]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchall()
        return [row[0] for row in rows]

    def snapshot(self) -> dict[str, Any]:
        backends = self._backends()
        busy, total = machine_cpu()
        return {
            "gunicorn": sum(process_cpu(pid) for pid in process_tree(self.gunicorn_pid)),
            "backends": {pid: process_cpu(pid) for pid in backends},
            "machine_busy": busy,
            "machine_total": total,
            "children": _children_cpu(),
            "at": time.monotonic(),
        }

    @staticmethod
    def delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
        postgres = sum(cpu - before["backends"].get(pid, 0.0) for pid, cpu in after["backends"].items())
        return {
            "gunicorn_s": after["gunicorn"] - before["gunicorn"],
            "postgres_s": postgres,
            "machine_busy_s": after["machine_busy"] - before["machine_busy"],
            "machine_total_s": after["machine_total"] - before["machine_total"],
            "children_s": after["children"] - before["children"],  # wrk (finished subprocesses)
            "wall_s": after["at"] - before["at"],
        }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def metered(meter: CpuMeter, into: dict[str, dict[str, float]], label: str) -> Iterator[None]:
    """The CPU a run cost, up to the end of its settling (the server finishes what was cut off)."""
    before = meter.snapshot()
    yield
    into[label] = CpuMeter.delta(before, meter.snapshot())


def per_op(
    cpu: dict[str, float], done: int, client_s: float, unit: str, client: str = "client"
) -> dict[str, Any]:
    """CPU milliseconds per operation of gunicorn, PostgreSQL and the load generator."""

    def ms(value: float) -> float | None:
        return round(value * 1000 / done, 3) if done else None

    return {
        f"gunicorn_cpu_ms_per_{unit}": ms(cpu["gunicorn_s"]),
        f"postgres_cpu_ms_per_{unit}": ms(cpu["postgres_s"]),
        f"server_cpu_ms_per_{unit}": ms(cpu["gunicorn_s"] + cpu["postgres_s"]),
        f"{client}_cpu_ms_per_{unit}": ms(client_s),
    }


def machine_share(cpu: dict[str, float], client_s: float) -> dict[str, float]:
    """Each part's share of the machine's CPU time during the run."""
    total = cpu["machine_total_s"] or 1.0
    server = cpu["gunicorn_s"] + cpu["postgres_s"]
    return {
        "gunicorn": round(cpu["gunicorn_s"] / total, 3),
        "postgres": round(cpu["postgres_s"] / total, 3),
        "load_generator": round(client_s / total, 3),
        "everything_else": round(max(0.0, cpu["machine_busy_s"] - server - client_s) / total, 3),
        "idle": round(1 - cpu["machine_busy_s"] / total, 3),
    }
