"""The options every HTTP benchmark takes, ratios, and the end of a run: the JSON or the table."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def say(message: str) -> None:
    """Progress, on stderr: stdout is the report (or its JSON)."""
    print(message, file=sys.stderr, flush=True)


def options(
    doc: str | None, database_url: str, *, profile_seconds: float, profile_connections: int
) -> argparse.ArgumentParser:
    """A parser with the options the HTTP benchmarks share; each adds its own."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--database-url", default=database_url, help="database to DROP and recreate (default: %(default)s)")
    add("--workers", type=int, default=4, help="gunicorn sync workers (default: %(default)s)")
    add("--connections", type=int, default=32, help="concurrent connections (default: %(default)s)")
    add("--wrk-threads", type=int, default=2, help="wrk threads (default: %(default)s)")
    add("--duration", type=float, default=10, help="seconds per measured run")
    add("--warmup", type=float, default=3, help="seconds of warm-up")
    add("--profile", action="store_true", help="then profile: SQL per request, cProfile")
    add("--profile-seconds", type=float, default=profile_seconds, help="seconds of each profiling pass")
    add(
        "--profile-connections",
        type=int,
        default=profile_connections,
        help="connections while profiling (0: --connections)",
    )
    add("--json", action="store_true", help="print the figures as JSON")
    add("--keep-temp", action="store_true", help="keep the temp folder (wrk and gunicorn logs)")
    return parser


@contextmanager
def temp_folder(prefix: str, keep: bool) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        if keep:
            say(f"Logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def ratio(measured: float | None, baseline: float | None, digits: int = 3) -> float | None:
    return round(measured / baseline, digits) if measured and baseline else None


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def finish(report: dict[str, Any], as_json: bool, table: Callable[[dict[str, Any]], None]) -> None:
    """Print the report; exit 1 when its figures are not valid (never because of a ratio)."""
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        table(report)
        for problem in report["problems"]:
            print(f"PROBLEM: {problem}")
    if report["problems"]:
        sys.exit(1)
