"""The WSGI app the HTTP benchmarks serve: the real Postwise app plus two bench-only routes.

    gunicorn --pythonpath bench 'benchapp:build_app()'   (configured like wsgi.py, from the environment)

- `GET /bench/hello`: the framework floor (the app's hooks, no database).
- `POST /bench/insert`: one INSERT and COMMIT into `bench_rows` through the app's own session and
  connection pool: the floor for any endpoint that writes. `create_bench_table()` creates it.

With `BENCH_PROFILE=<folder>`, while the file `<folder>/recording` exists (so that warm-up
requests are left out), each worker appends one JSON line per request to
`<folder>/requests-<pid>.jsonl`: path, status, total milliseconds and every SQL statement with
its milliseconds (SQLAlchemy cursor events; COMMIT timed by session events), and the worker's
CPU milliseconds (less sensitive than wall time to whatever else runs on the machine). With
`BENCH_CPROFILE=1` as well, quiz submissions run under cProfile and each worker writes
`<folder>/cprofile-<pid>.prof`. None of this is loaded unless the variable is set.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Blueprint, Flask
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from training_app import create_app
from training_app.config import ConfigError
from training_app.extensions import csrf, db

BENCH_TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS bench_rows ("
    "id bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), note text NOT NULL)"
)
SUBMIT_PREFIX = "/quiz/attempts/"

bp = Blueprint("bench", __name__, url_prefix="/bench")


@bp.get("/hello")
def hello():
    return "hello"


@bp.post("/insert")
def insert():
    db.session.execute(text("INSERT INTO bench_rows (note) VALUES (:note)"), {"note": "bench"})
    db.session.commit()
    return "ok"


def create_bench_table(app: Flask) -> None:
    with app.app_context():
        db.session.execute(text(BENCH_TABLE_DDL))
        db.session.commit()


def build_app() -> Flask:
    """The app gunicorn serves (`'benchapp:build_app()'`); nothing is built at import time."""
    try:
        app = create_app()
    except ConfigError as exc:
        sys.exit(f"Configuration error: {exc}")
    csrf.exempt(bp)
    app.register_blueprint(bp)
    folder = os.environ.get("BENCH_PROFILE")
    if folder:
        _install_profiler(app, Path(folder), cprofile=os.environ.get("BENCH_CPROFILE") == "1")
    return app


# --- profiling (only with BENCH_PROFILE) ----------------------------------------------------------


class _Trace(threading.local):
    def __init__(self) -> None:
        self.active = False
        self.statements: list[tuple[str, float]] = []
        self.commit_started = 0.0
        self.commit_sql_ms = 0.0


def _install_profiler(app: Flask, folder: Path, *, cprofile: bool) -> None:
    import atexit
    import cProfile

    folder.mkdir(parents=True, exist_ok=True)
    trace = _Trace()
    profiler = cProfile.Profile() if cprofile else None
    lock = threading.Lock()
    out: dict[str, Any] = {"file": None, "pid": None, "profiled": 0}

    def sink():
        if out["pid"] != os.getpid():  # opened after the fork, once per worker
            out["pid"] = os.getpid()
            out["file"] = open(folder / f"requests-{os.getpid()}.jsonl", "a", buffering=1)  # noqa: SIM115
        return out["file"]

    def dump_profile() -> None:
        if profiler is not None and out["profiled"]:
            profiler.dump_stats(folder / f"cprofile-{os.getpid()}.prof")

    atexit.register(dump_profile)

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_t0"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        if trace.active:
            ms = (time.perf_counter() - conn.info.pop("bench_t0")) * 1000
            trace.statements.append((" ".join(statement.split()), ms))

    @event.listens_for(Session, "before_commit")
    def _before_commit(session):
        trace.commit_started = time.perf_counter()
        trace.commit_sql_ms = sum(ms for _, ms in trace.statements)

    @event.listens_for(Session, "after_commit")
    def _after_commit(session):
        if trace.active and trace.commit_started:
            flushed = sum(ms for _, ms in trace.statements) - trace.commit_sql_ms
            ms = (time.perf_counter() - trace.commit_started) * 1000 - flushed
            trace.statements.append(("COMMIT", ms))
            trace.commit_started = 0.0

    inner = app.wsgi_app

    switch = folder / "recording"

    def traced(environ, start_response):
        if not switch.exists():
            return inner(environ, start_response)
        path = environ.get("PATH_INFO", "")
        status: list[str] = []

        def capture(code, headers, exc_info=None):
            status.append(code)
            return start_response(code, headers, exc_info)

        profile = (
            profiler is not None and environ["REQUEST_METHOD"] == "POST" and path.startswith(SUBMIT_PREFIX)
        )
        trace.active, trace.statements = True, []
        started, cpu_started = time.perf_counter(), time.process_time()
        if profile:
            lock.acquire()
            profiler.enable()
        try:
            body = b"".join(inner(environ, capture))
        finally:
            if profile:
                profiler.disable()
                lock.release()
            trace.active = False
        total_ms = (time.perf_counter() - started) * 1000
        cpu_ms = (time.process_time() - cpu_started) * 1000
        record = {
            "method": environ["REQUEST_METHOD"],
            "path": path,
            "status": int(status[0].split()[0]) if status else 0,
            "ms": round(total_ms, 3),
            "cpu_ms": round(cpu_ms, 3),
            "sql": [[statement, round(ms, 3)] for statement, ms in trace.statements],
        }
        sink().write(json.dumps(record) + "\n")
        if profile:
            out["profiled"] += 1
            if out["profiled"] % 200 == 0:
                dump_profile()
        return [body]

    app.wsgi_app = traced
