"""The app the load test serves: bench/benchapp.py's (the real app + /bench/hello), and, with
`LOAD_COSTS=<folder>`, the CPU each request cost, by request type.

    gunicorn --pythonpath bench 'harness.loadapp:build_app()'

Per request, in the sync worker that serves it (one request at a time per process):
- the worker's own CPU from the WSGI call to the response's close (a streamed export included):
  `time.process_time_ns()`, exact, not in 10 ms ticks;
- the CPU of the PostgreSQL backend behind each connection the request checked out of the pool,
  from its checkout to its checkin: the backend's `/proc/<pid>/schedstat` (nanoseconds on the
  CPU; the backend's pid is psycopg's `info.backend_pid`).
The type is the load generator's `X-Bench-Step` header (its name for the step), else the method and
path. Each worker writes `<folder>/costs-<pid>.json` ({type: [requests, worker ns, backend ns,
wall ns]}) every few seconds and when it exits. What falls outside a request (gunicorn's own
parsing and accept loop, the master) is not in these figures: the load test compares their sum
with the processes' whole CPU time.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: benchapp

from benchapp import build_app as build_bench_app

from training_app.extensions import db

STEP_HEADER = "HTTP_X_BENCH_STEP"
FLUSH_SECONDS = 2.0
PATH_TYPES = [
    (re.compile(pattern), name)
    for pattern, name in (
        (r"POST /lti/login", "launch: login"),
        (r"POST /lti/launch", "launch: id_token"),
        (r"GET /courses/[^/]+/", "course overview"),
        (r"GET /courses/[^/]+/continue", "continue"),
        (r"GET /courses/[^/]+/lessons/[^/]+", "lesson page"),
        (r"POST /courses/[^/]+/lessons/[^/]+/complete", "lesson done"),
        (r"GET /courses/[^/]+/attestation", "attestation page"),
        (r"POST /courses/[^/]+/attestation", "attest"),
        (r"GET /quiz/[^/]+/", "quiz start page"),
        (r"POST /quiz/[^/]+/attempts", "quiz: start attempt"),
        (r"GET /quiz/attempts/\d+", "quiz: attempt or result page"),
        (r"POST /quiz/attempts/\d+", "quiz: submit"),
        (r"GET /login", "staff: sign-in page"),
        (r"POST /login", "staff: sign in"),
        (r"GET /console/", "console: dashboard"),
        (r"GET /console/learners", "console: learners"),
        (r"GET /console/learners/export\.csv", "console: CSV export"),
        (r"GET /lti/jwks", "tool JWKS (for the LMS)"),
        (r"GET /bench/hello", "hello (start-up check)"),
    )
]


def request_type(environ: dict[str, Any]) -> str:
    step = environ.get(STEP_HEADER)
    if step:
        return step[:80]
    line = f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"
    return next((name for pattern, name in PATH_TYPES if pattern.fullmatch(line)), "other")


def backend_ns(pid: int | None) -> int:
    """Nanoseconds the backend process has spent on a CPU (0 if unknown or gone)."""
    if not pid:
        return 0
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as stat:
            return int(stat.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


class CostMeter:
    """WSGI middleware and pool listeners: CPU per request type, written to a file per worker."""

    def __init__(self, app: Any, folder: Path) -> None:
        self.inner = app.wsgi_app
        self.folder = folder
        self.totals: dict[str, list[int]] = {}
        self.backend_ns = 0  # the current request's backends, added at each checkin
        self.flushed_at = time.monotonic()
        with app.app_context():
            engine = db.engine
        event.listen(engine, "connect", self._on_connect)
        event.listen(engine, "checkout", self._on_checkout)
        event.listen(engine, "checkin", self._on_checkin)
        atexit.register(self.flush)

    @staticmethod
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        record.info["bench_pid"] = getattr(getattr(dbapi_connection, "info", None), "backend_pid", None)

    @staticmethod
    def _on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        record.info["bench_ns"] = backend_ns(record.info.get("bench_pid"))

    def _on_checkin(self, dbapi_connection: Any, record: Any) -> None:
        if record is None or "bench_ns" not in record.info:
            return
        started = record.info.pop("bench_ns")
        now = backend_ns(record.info.get("bench_pid"))
        if now >= started:
            self.backend_ns += now - started

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        kind = request_type(environ)
        self.backend_ns = 0
        cpu, wall = time.process_time_ns(), time.perf_counter_ns()
        body = self.inner(environ, start_response)
        return _Closing(body, lambda: self._done(kind, cpu, wall))

    def _done(self, kind: str, cpu: int, wall: int) -> None:
        row = self.totals.setdefault(kind, [0, 0, 0, 0])
        row[0] += 1
        row[1] += time.process_time_ns() - cpu
        row[2] += self.backend_ns
        row[3] += time.perf_counter_ns() - wall
        self.backend_ns = 0
        if time.monotonic() - self.flushed_at >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self.flushed_at = time.monotonic()
        if not self.totals:
            return
        path = self.folder / f"costs-{os.getpid()}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.totals))
        temporary.replace(path)


class _Closing:
    """The response iterable, calling `done` once when the server closes it (after the last byte)."""

    def __init__(self, body: Any, done: Any) -> None:
        self.body, self.done = body, done

    def __iter__(self):
        return iter(self.body)

    def close(self) -> None:
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            self.done()


def build_app():
    app = build_bench_app()
    folder = os.environ.get("LOAD_COSTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        app.wsgi_app = CostMeter(app, Path(folder))
    return app
