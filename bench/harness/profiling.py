"""What --profile reads and prints: the SQL of each request and cProfile inside the gunicorn workers.

The workers write it: bench/benchapp.py with BENCH_PROFILE=<folder> (one JSON line per request:
its SQL statements with their times, and the worker's CPU time; BENCH_CPROFILE=1 adds cProfile of
quiz submits), or `cprofiled_app()` below for other paths, both while `<folder>/recording` exists
(so that warm-up requests are left out).
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import re
import statistics
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CPROFILED_APP = "harness.profiling:cprofiled_app()"
SELECT_COLUMNS = re.compile(r"^SELECT .*? FROM ", re.IGNORECASE)


def statement_label(statement: str) -> str:
    short = SELECT_COLUMNS.sub("SELECT … FROM ", statement)
    short = re.sub(r"\(%\(\w+\)s(?:::\w+)?(?:, %\(\w+\)s(?:::\w+)?)*\)", "(…)", short)
    short = re.sub(r"%\((\w+?)(?:_\d+)?\)s(::\w+)?", "?", short)
    return short if len(short) <= 150 else short[:147] + "..."


def read_requests(folder: Path, offsets: dict[str, int] | None = None) -> tuple[list[dict], dict[str, int]]:
    """benchapp's request records from `offsets` on (by file), and where each file ends now."""
    records, ends = [], {}
    for path in sorted(folder.glob("requests-*.jsonl")):
        with open(path) as handle:
            handle.seek((offsets or {}).get(path.name, 0))
            records += [json.loads(line) for line in handle if line.strip()]
            ends[path.name] = handle.tell()
    return without_savepoint_commits(records), ends


def without_savepoint_commits(records: list[dict]) -> list[dict]:
    """benchapp times COMMIT with session events, which also fire when a savepoint is released:
    drop the "COMMIT" that follows a RELEASE SAVEPOINT (no COMMIT reached the database there)."""
    for record in records:
        sql = record["sql"]
        record["sql"] = [
            step
            for i, step in enumerate(sql)
            if not (step[0] == "COMMIT" and i and sql[i - 1][0].startswith("RELEASE SAVEPOINT"))
        ]
    return records


def sql_group(group: list[dict]) -> dict[str, Any]:
    """Requests of one kind: their means, and the statements of the most common shape in order."""
    shapes = Counter(tuple(statement_label(s) for s, _ in r["sql"]) for r in group)
    shape, _ = shapes.most_common(1)[0]
    same = [r for r in group if tuple(statement_label(s) for s, _ in r["sql"]) == shape]
    return {
        "requests": len(group),
        "statements": sum(s != "COMMIT" for s in shape),
        "shapes": len(shapes),
        "request_ms": round(statistics.mean(r["ms"] for r in group), 2),
        "request_ms_p50": round(statistics.median(r["ms"] for r in group), 2),
        "cpu_ms": round(statistics.mean(r["cpu_ms"] for r in group), 2),
        "sql_ms": round(statistics.mean(sum(ms for _, ms in r["sql"]) for r in group), 2),
        "steps": [
            {"statement": label, "ms": round(statistics.mean(r["sql"][i][1] for r in same), 3)}
            for i, label in enumerate(shape)
        ],
    }


def load_profile(folder: Path, view_file: str, view_name: str) -> tuple[dict, int]:
    """The merged cProfile entries of every worker, and how many times the view ran."""
    files = sorted(folder.glob("cprofile-*.prof"))
    if not files:
        return {}, 0
    entries = pstats.Stats(*map(str, files)).stats  # type: ignore[attr-defined]
    runs = sum(
        nc for (file, _, name), (_, nc, *_r) in entries.items() if name == view_name and view_file in file
    )
    return entries, runs or 1


def profile_rows(entries: dict, runs: int, unit: str, limit: int = 30) -> dict[str, list[dict[str, Any]]]:
    """The top functions per run of the view, by cumulative and by own time."""

    def where(key: tuple[str, int, str]) -> str:
        file, line, name = key
        file = re.sub(r".*/site-packages/", "", file.replace(str(ROOT) + "/", ""))
        return f"{file}:{line} {name}" if line else name

    def rows(index: int) -> list[dict[str, Any]]:
        ranked = sorted(entries.items(), key=lambda item: item[1][index], reverse=True)[:limit]
        return [
            {
                "function": where(key),
                f"calls_per_{unit}": round(nc / runs, 1),
                "own_ms": round(tt / runs * 1000, 3),
                "cumulative_ms": round(ct / runs * 1000, 3),
            }
            for key, (_cc, nc, tt, ct, _callers) in ranked
        ]

    return {"by_cumulative": rows(3), "by_own_time": rows(2)}


def cumulative_ms(entries: dict, runs: int, file_part: str, name: str) -> float:
    """A function's cumulative milliseconds per run of the view (the largest entry of that name)."""
    found = [
        ct for (file, _, fn), (_cc, _nc, _tt, ct, _c) in entries.items() if fn == name and file_part in file
    ]
    return round(max(found, default=0.0) / runs * 1000, 3)


def cprofiled_app():
    """`gunicorn 'harness.profiling:cprofiled_app()'`: benchapp, with the requests whose path starts
    with one of $BENCH_CPU_PROFILE_PATHS (comma-separated) under cProfile while
    `$BENCH_CPU_PROFILE/recording` exists; each worker writes cprofile-<pid>.prof there.

    The clock is the process's CPU time: waiting for PostgreSQL or for a CPU is left out (the SQL
    pass shows the waits), so the figures say where the workers' CPU goes.
    """
    import atexit

    import benchapp

    app = benchapp.build_app()
    folder = Path(os.environ["BENCH_CPU_PROFILE"])
    prefixes = tuple(os.environ["BENCH_CPU_PROFILE_PATHS"].split(","))
    switch = folder / "recording"
    profiler = cProfile.Profile(time.process_time)
    lock = threading.Lock()
    state = {"profiled": 0}
    inner = app.wsgi_app

    def dump() -> None:
        if state["profiled"]:
            profiler.dump_stats(folder / f"cprofile-{os.getpid()}.prof")

    atexit.register(dump)

    def wsgi(environ, start_response):
        if not environ.get("PATH_INFO", "").startswith(prefixes) or not switch.exists():
            return inner(environ, start_response)
        with lock:
            profiler.enable()
            try:
                body = b"".join(inner(environ, start_response))
            finally:
                profiler.disable()
            state["profiled"] += 1
            if state["profiled"] % 150 == 0:
                dump()
        return [body]

    app.wsgi_app = wsgi
    return app


def print_sql(label: str, p: dict[str, Any], indent: str = "  ") -> None:
    print(
        f"{indent}{label}: {p['statements']:g} SQL statements + COMMIT ({p['shapes']} shapes); "
        f"{p['request_ms']:.2f} ms in the worker (p50 {p['request_ms_p50']:.2f}), {p['sql_ms']:.2f} ms "
        f"of it in SQL, {p['cpu_ms']:.2f} ms worker CPU; {p['requests']} requests"
    )
    for number, step in enumerate(p["steps"], 1):
        print(f"{indent}  {number:2d}. {step['ms']:7.3f} ms  {step['statement']}")


def print_python(python: dict[str, Any], unit: str, own_rows: int) -> None:
    print(f"    {'cumulative':>10} {'own':>8} {'calls':>7}  function")
    for title, rows in (("", python["by_cumulative"]), ("  by own time:", python["by_own_time"][:own_rows])):
        if title:
            print(title)
        for row in rows:
            print(
                f"    {row['cumulative_ms']:10.3f} {row['own_ms']:8.3f} {row[f'calls_per_{unit}']:7.1f}  "
                f"{row['function']}"
            )
