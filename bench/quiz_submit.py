"""Benchmark: graded quiz submissions per second under gunicorn on PostgreSQL, against a raw INSERT.

    .venv/bin/python bench/quiz_submit.py [--learners 30000] [--workers 4] [--connections 32]
                                          [--duration 10] [--json] [--profile]

What it does, in one run:
  1. drops and recreates the database of --database-url (default postwise_bench on the local
     PostgreSQL), migrates it, publishes the courses and creates --learners learners of one tenant,
     each enrolled in the orientation, lessons done, policy attested and ONE open quiz attempt:
     the first learner through the real services, the others copied from its rows with their own
     ids, names, question draws and audit chain links (--setup services makes all of them
     through the services: slow);
  2. prepares one POST per learner answering its drawn questions (about --pass-share of them
     passing), with the learner's signed session cookie, a valid CSRF token and the signed
     snapshot of the drawn questions that the attempt page's form carries;
  3. serves bench/benchapp.py (the real app + /bench/hello and /bench/insert) with gunicorn
     (TRAINING_CONFIG=production) and drives it with wrk: hello, then the baseline (one INSERT +
     COMMIT per request), then the graded submits, same threads, connections and duration. Every
     submit grades a different open attempt;
  4. checks in the database that each submit answered with 303 graded one attempt once, and prints
     req/s, p50 and p99 of each, and the ratio submit / baseline (target: >= 0.5x).

--profile adds two short passes on fresh attempts with fresh workers: every SQL statement of a
submit with its time and the worker's CPU time (and the same for the baseline insert), then
cProfile inside the gunicorn workers (bench/benchapp.py, BENCH_PROFILE). A benchmark, not a test:
the machine is noisy, compare figures from one run. The exit status is 1 only when the figures are
not valid (unexpected statuses, an attempt graded twice or not at all...).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import benchapp
from harness import learners
from harness.cpu import CpuMeter, metered, per_op
from harness.database import DEFAULT_URL, migrated_app, raw_dsn, vacuum_analyze, wait_until_idle
from harness.gunicorn import serve, server_env
from harness.profiling import load_profile, print_python, print_sql, profile_rows, read_requests, sql_group
from harness.report import finish, options, ratio, say, temp_folder
from harness.wrk import Wrk, WrkResult, require_wrk
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from quizzes.models import QuizAttempt
from training_app.db import utcnow
from training_app.extensions import db

TARGET_RATIO = 0.5
INSERT = ("POST", "/bench/insert")


def run(args: argparse.Namespace, wrk_binary: str, folder: Path) -> dict[str, Any]:
    url, dsn, secret = args.database_url, raw_dsn(args.database_url), secrets.token_urlsafe(48)
    say(f"Recreating {make_url(url).database} and migrating...")
    app = migrated_app(url, SECRET_KEY=secret, INSTANCE_PATH=str(folder / "instance"))
    benchapp.create_bench_table(app)
    started = time.perf_counter()
    say(f"Creating {args.learners} learners ready for the quiz ({args.setup})...")
    learners.set_up_learners(app, args.learners, args.setup, args.seed)
    vacuum_analyze(url)
    setup_seconds = time.perf_counter() - started
    say(f"  done in {setup_seconds:.1f} s; preparing one signed submit per learner...")
    check_deadlines(app, args)
    wrk = Wrk(
        wrk_binary,
        folder,
        args.wrk_threads,
        lambda: wait_until_idle(dsn),
        learners.USER_AGENT,
        markers={"already": "notice=already-submitted"},
    )
    submits = learners.Submits(learners.prepare_submits(app, args.pass_share, args.seed), wrk)
    env = server_env(url, folder, secret)
    conns, problems, cpu, results = args.connections, [], {}, {}
    with serve(args.workers, env, folder, threads=args.threads) as server:
        wrk.base_url = server.url + "/"
        say(f"Serving with gunicorn ({args.workers} workers) at {server.url}; warming up...")
        wrk.fixed("warm-up hello", "GET", "/bench/hello", conns, args.warmup)
        wrk.fixed("warm-up insert", *INSERT, conns, args.warmup, "note=bench")
        warm, _ = submits.walk("warm-up submit", args.warmup, conns)
        if warm.not_ok or warm.exhausted:
            problems.append(f"warm-up submits: unexpected statuses {warm.not_ok}, exhausted {warm.exhausted}")
        say(f"Measuring: {args.duration:g} s each, {wrk.threads_for(conns)} wrk threads, {conns} connections")
        meter = CpuMeter(dsn, server.pid)
        with metered(meter, cpu, "hello"):
            results["hello"] = wrk.fixed("hello", "GET", "/bench/hello", conns, args.duration)
        with metered(meter, cpu, "baseline"):
            results["baseline"] = wrk.fixed("baseline", *INSERT, conns, args.duration, "note=bench")
        before = learners.attempt_counts(app)
        with metered(meter, cpu, "submit"):
            results["submit"], sent = submits.walk("submit", args.duration, conns)
        after = learners.attempt_counts(app)
    verification = learners.verify_submits(app, results["submit"], before, after, submits.planned, sent)
    problems += verification["problems"]
    if results["baseline"].not_ok:
        problems.append(f"baseline unexpected statuses: {results['baseline'].not_ok}")
    profile = run_profile(args, env, folder, wrk, submits) if args.profile else {}
    problems += learners.verify_end_state(app, submits.sent)
    with app.app_context():
        db.engine.dispose()

    def figures(key: str) -> dict[str, Any]:
        r: WrkResult = results[key]
        busy = round(cpu[key]["machine_busy_s"] / (cpu[key]["machine_total_s"] or 1), 3)
        return (
            r.figures()
            | per_op(cpu[key], r.served, cpu[key]["children_s"], "request", "wrk")
            | {"machine_busy_share": busy}
        )

    fig = {key: figures(key) for key in results}
    return {
        "config": {
            "database": make_url(url).database,
            "learners": args.learners,
            "setup": args.setup,
            "setup_seconds": round(setup_seconds, 1),
            "gunicorn_workers": args.workers,
            "gunicorn_threads": args.threads,
            "wrk_threads": wrk.threads_for(conns),
            "connections": conns,
            "duration_s": args.duration,
            "pass_share": args.pass_share,
            "cpus": os.cpu_count(),
        },
        **fig,
        "ratio": ratio(results["submit"].rate, results["baseline"].rate),
        # the throughput ratio if the server alone decided it (wrk and the rest of the machine left out)
        "server_cpu_ratio": ratio(
            fig["baseline"]["server_cpu_ms_per_request"], fig["submit"]["server_cpu_ms_per_request"]
        ),
        "target_ratio": TARGET_RATIO,
        "verification": verification,
        "server_errors": server.errors(),
        "profile": profile,
        "problems": problems,
    }


def check_deadlines(app, args: argparse.Namespace) -> None:
    """Attempts started at setup must not pass their time limit before the last request."""
    needed = 3 * args.warmup + 3 * args.duration + (2 * args.profile_seconds if args.profile else 0) + 120
    with app.app_context():
        first = db.session.scalar(
            select(func.min(QuizAttempt.deadline_at)).where(QuizAttempt.status == "open")
        )
        db.session.rollback()
    if first is not None and (first - utcnow()).total_seconds() < needed:
        sys.exit(
            f"the first attempts' time limit ends at {first:%H:%M:%S} UTC, before the runs would end: "
            "use --setup bulk or fewer --learners"
        )


def run_profile(
    args, env: dict[str, str], folder: Path, wrk: Wrk, submits: learners.Submits
) -> dict[str, Any]:
    """Two short passes on fresh attempts and fresh workers, warmed up for a while before recording
    (each worker parses the banks and compiles its statements): SQL statements and times, then
    cProfile of the workers."""
    conns = args.profile_connections or args.connections
    rate = 0.0
    for name, extra in (("sql", {}), ("python", {"BENCH_CPROFILE": "1"})):
        target = folder / f"profile-{name}"
        target.mkdir(parents=True, exist_ok=True)
        say(f"Profiling: {name} pass ({args.profile_seconds:g} s, {conns} connections)...")
        with serve(
            args.workers, {**env, "BENCH_PROFILE": str(target), **extra}, folder, threads=args.threads
        ) as server:
            wrk.base_url = server.url + "/"
            submits.walk(f"warm-up-{name}", args.warmup, args.connections)
            (target / "recording").touch()
            result, _ = submits.walk(f"profile-{name}", args.profile_seconds, conns)
            if name == "sql":  # the baseline's own cost, measured the same way
                rate = result.rate
                wrk.fixed("profile-insert", *INSERT, conns, args.profile_seconds, "note=bench")
    records, _ = read_requests(folder / "profile-sql")
    graded = [  # a graded submit answers 303 (post/redirect/get)
        r for r in records if r["method"] == "POST" and r["path"].startswith("/quiz/") and r["status"] == 303
    ]
    passed = [any("INSERT INTO completions" in s for s, _ in r["sql"]) for r in graded]
    groups = {
        "baseline": [r for r in records if r["path"] == "/bench/insert" and r["status"] == 200],
        "passed": [r for r, p in zip(graded, passed, strict=True) if p],
        "failed": [r for r, p in zip(graded, passed, strict=True) if not p],
    }
    entries, runs = load_profile(folder / "profile-python", "views", "submit")
    python = {"submits": runs, **profile_rows(entries, runs, "submit")} if entries else {}
    sql = {name: sql_group(group) for name, group in groups.items() if group}
    return {"connections": conns, "sql_pass_req_per_s": round(rate, 1), "sql": sql, "python": python}


def print_report(report: dict[str, Any]) -> None:
    c = report["config"]
    print(
        f"Graded quiz submits on PostgreSQL ({c['database']}): gunicorn {c['gunicorn_workers']} workers, "
        f"wrk {c['wrk_threads']} threads / {c['connections']} connections, {c['duration_s']:g} s each, "
        f"{c['cpus']} CPUs"
    )
    rows = {"hello": "hello (GET /bench/hello)", "baseline": "baseline: one INSERT + COMMIT"}
    rows["submit"] = "graded quiz submit"
    print(f"  {'':<34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ok':>8}  not ok")
    for key, label in rows.items():
        r = report[key]
        print(
            f"  {label:<34} {r['req_per_s']:9.1f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} "
            f"{r['ok_responses']:8d}  {r['not_ok'] or 0}"
        )
    ratio, target = report["ratio"] or 0.0, report["target_ratio"]
    verdict = "meets" if ratio >= target else "BELOW"
    print(f"  {'ratio submit / baseline':<34} {ratio:9.2f}x  ({verdict} the target of {target:.1f}x)")
    print(f"  CPU ms per request: {'gunicorn':>9} {'postgres':>9} {'wrk':>6}  machine busy")
    for key in rows:
        r = report[key]
        print(
            f"    {key:<16} {r['gunicorn_cpu_ms_per_request']:11.3f} {r['postgres_cpu_ms_per_request']:9.3f} "
            f"{r['wrk_cpu_ms_per_request']:6.3f}  {r['machine_busy_share']:.0%}"
        )
    print(f"  server CPU per baseline insert / per submit: {report['server_cpu_ratio'] or 0:.2f}x")
    v = report["verification"]
    print(
        f"Graded attempts verified in the database: {v['graded_in_db']} for {v['ok_responses']} 303 "
        f"responses (+{v['cut_off_at_end']} cut off by the end of the run): {v['passed']} passed, "
        f"{v['failed']} failed; outcomes as planned: {v['outcomes_as_planned']}"
    )
    print(f"Setup: {c['learners']} learners ({c['setup']}) in {c['setup_seconds']:.1f} s")
    if report["server_errors"]:
        print("Errors the app logged during the warm-up and the measured runs:")
        for error, count in list(report["server_errors"].items())[:5]:
            print(f"  {count:6d} x {error}")
    if profile := report["profile"]:
        rate = profile["sql_pass_req_per_s"]
        print(f"\nProfile ({profile['connections']} connections; SQL timing pass: {rate:.1f} submits/s)")
        for outcome, p in profile["sql"].items():
            print_sql("baseline insert" if outcome == "baseline" else f"{outcome} submit", p)
        if python := profile["python"]:
            print(f"  cProfile, ms per submit ({python['submits']} submits; cProfile inflates Python time):")
            print_python(python, "submit", own_rows=15)


def main() -> None:
    parser = options(
        __doc__, DEFAULT_URL.format(name="postwise_bench"), profile_seconds=4, profile_connections=0
    )
    add = parser.add_argument
    add(
        "--learners", type=int, default=30000, help="learners with one open attempt each; one submit uses one"
    )
    add(
        "--setup",
        choices=("bulk", "services"),
        default="bulk",
        help="bulk: copy one service-made learner (fast); services: all through the services (slow)",
    )
    add("--pass-share", type=float, default=0.5, help="share of passing submits")
    add("--threads", type=int, default=1, help="gunicorn threads per worker (>1: gthread)")
    add("--seed", type=int, default=2026)
    args = parser.parse_args()
    wrk_binary = require_wrk()
    with temp_folder("postwise-bench-", args.keep_temp) as folder:
        report = run(args, wrk_binary, folder)
    finish(report, args.json, print_report)


if __name__ == "__main__":
    main()
