"""Benchmark: complete LTI 1.3 launches per second under gunicorn on PostgreSQL, against hello world.

    .venv/bin/python bench/launch.py [--workers 4] [--connections 32] [--duration 10] [--pool 2000]
                                     [--client-processes 1] [--redis-url URL] [--json] [--profile]

One launch is what a learner's browser does when they click the training in the LMS:
  1. POST /lti/login (the LMS's login initiation)  -> 302 to the LMS's /auth with state + nonce,
     and the lti1p3 state cookie;
  2. the LMS answers /auth with an id_token for that nonce: here the load generator signs it
     itself (RS256, a key object loaded once), so no emulated LMS is in the loop;
  3. POST /lti/launch (id_token + state + the state cookie)  -> 200: the course overview, the
     page the learner sees (the launch answers with it rather than redirecting to it), with the
     signed session cookie.
The tool fetches the platform's JWKS over HTTP from a tiny static server in this process (once
per gunicorn worker: the tool caches it).

What one run does:
  - drops and recreates `postwise_bench_launch` (--database-url), migrates, publishes the
    courses, creates the tenant, registers the platform (issuer, client id, deployment, JWKS
    URL) and has --pool learners launch once through `lti.services.process_launch` (what the
    launch view calls after validating the id_token); the database is dropped at the end;
  - serves bench/benchapp.py (the real app + GET /bench/hello) with gunicorn, --workers sync
    workers, TRAINING_CONFIG=production (REDIS_URL too with --redis-url);
  - measures, --duration seconds each, after a warm-up: hello with wrk (the server's
    hello-world rate), hello with this script's own uvloop client (its ceiling),
    first launches (a new learner each time: user, enrolment and grade target are created)
    and repeat launches (round robin over the --pool learners: the steady state);
  - reads the CPU time of the gunicorn processes, of the PostgreSQL backends of the bench
    database and of the load generators (/proc), so each figure can also be read per unit of
    server work, whatever else the machine was doing;
  - checks in the database that every launch made or updated exactly its learner and consumed
    its login state;
  - prints the table and the ratio launches/s / hello req/s (target in DESIGN.md: >= 0.10x).
--profile adds two short passes: SQL statements per request (bench/benchapp.py's BENCH_PROFILE)
and cProfile (CPU clock) inside the workers. A benchmark, not a test: the machine is noisy.
"""

from __future__ import annotations

import argparse
import os
from functools import partial
from pathlib import Path
from typing import Any

from harness import launch_data, lms, profiling
from harness.client import Clients, Phase
from harness.cpu import CpuMeter
from harness.database import DEFAULT_URL, drop_database, raw_dsn, wait_until_idle
from harness.gunicorn import serve, server_env
from harness.profiling import CPROFILED_APP
from harness.report import finish, fmt, options, ratio, say, temp_folder
from harness.wrk import Wrk, require_wrk
from sqlalchemy.engine import make_url

TARGET_RATIO = 0.10
LABELS = {
    "hello_wrk": "hello, wrk (server rate)",
    "hello_client": "hello, Python client (its ceiling)",
    "first_launch": "first launch (new learner)",
    "repeat_launch": "repeat launch (known learner)",
}
# Functions whose cumulative CPU per launch the profile reports by name (file part, function).
PROFILE_HIGHLIGHTS = {
    "whole request (2 requests)": ("flask/app.py", "wsgi_app"),
    "GET/POST /lti/login view": ("lti/views.py", "login"),
    "POST /lti/launch view": ("lti/views.py", "launch"),
    "  id_token signature check (validate_jwt_signature)": ("lti/launch.py", "validate_jwt_signature"),
    "  of it PyJWT decode + verify": ("jwt/api_jwt.py", "decode"),
    "  unverified nonce read": ("lti/views.py", "unverified_nonce"),
    "  platform lookups (find_platform)": ("lti/platform_cache.py", "find_platform"),
    "  process_launch (user, link, enrolment, grade target)": ("lti/services/launches.py", "process_launch"),
    "  the course overview it answers with": ("courses/views.py", "render_overview"),
    "  render_template": ("flask/templating.py", "render_template"),
    "Flask-Login user load": ("flask_login/login_manager.py", "_load_user"),
    "session cookie save": ("flask/sessions.py", "save_session"),
    "SQL statements, Core and ORM (Connection.execute)": ("sqlalchemy/engine/base.py", "execute"),
    "  of them through the ORM (Session.execute)": ("sqlalchemy/orm/session.py", "_execute_internal"),
    "COMMIT (Session.commit)": ("sqlalchemy/orm/session.py", "commit"),
}


def run(args: argparse.Namespace, wrk_binary: str, folder: Path) -> dict[str, Any]:
    key, dsn = lms.PlatformKey(), raw_dsn(args.database_url)
    pool = [f"pool-{n:06d}" for n in range(args.pool)]
    redis = {"REDIS_URL": args.redis_url} if args.redis_url else {}
    env = server_env(args.database_url, folder, **lms.TOOL_ENV, **redis)
    clients = Clients(args.client_processes, key, lambda: wait_until_idle(dsn))
    conns, problems, phases = args.connections, [], {}
    database = make_url(args.database_url).database
    try:
        with lms.JwksServer(key.jwks()) as jwks:
            say(f"Recreating {database}, registering the platform, {args.pool} learners launching once...")
            app, pool_seconds = launch_data.set_up_database(args.database_url, jwks.url, pool)
            with serve(args.workers, env, folder) as server:
                meter = CpuMeter(dsn, server.pid)
                wrk = Wrk(wrk_binary, folder, args.wrk_threads, clients.settle, "postwise-bench-launch")
                wrk.base_url = server.url + "/"
                say(f"gunicorn ({args.workers} workers) at {server.url}; warming up...")
                wrk.fixed("warm-up hello", "GET", "/bench/hello", conns, args.warmup)
                warm = clients.phase("first", server, meter, conns, args.warmup, prefix="warm")
                if warm.errors:
                    problems.append(f"warm-up launches failed: {warm.errors}")
                say(f"Measuring {args.duration:g} s each, {conns} connections...")
                before = meter.snapshot()
                hello = wrk.fixed("hello", "GET", "/bench/hello", conns, args.duration)
                phases["hello_wrk"] = Phase.of_wrk(hello, CpuMeter.delta(before, meter.snapshot()))
                measure = partial(clients.phase, server=server, meter=meter, connections=conns)
                phases["hello_client"] = measure("hello", seconds=args.duration)
                phases["first_launch"] = measure("first", seconds=args.duration, prefix="first")
                phases["repeat_launch"] = measure("repeat", seconds=args.duration, pool=pool)
                jwks_fetches = jwks.fetches
            verification = launch_data.verify_database(app, set(pool + clients.launched), not args.redis_url)
            problems += verification["problems"]
            problems += [
                f"{k}: {sum(p.errors.values())} failed: {p.errors}" for k, p in phases.items() if p.errors
            ]
            if server.errors():
                problems.append(f"the app logged errors: {list(server.errors())[:3]}")
            profile = run_profile(args, env, folder, clients, key, pool) if args.profile else {}
    finally:
        clients.close()
    hello_wrk = phases["hello_wrk"]
    ratios = {
        name: {
            "launches_per_hello_wrk": ratio(phases[name].rate, hello_wrk.rate),
            "launches_per_hello_same_client": ratio(phases[name].rate, phases["hello_client"].rate),
            "server_cpu_hello_per_launch": ratio(hello_wrk.server_cpu_ms, phases[name].server_cpu_ms),
        }
        for name in ("first_launch", "repeat_launch")
    }
    config = {
        "database": database,
        "gunicorn_workers": args.workers,
        "connections": conns,
        "client_processes": clients.processes,
        "wrk_threads": args.wrk_threads,
        "duration_s": args.duration,
        "pool": args.pool,
        "pool_setup_seconds": round(pool_seconds, 1),
        "launch_state": "redis" if args.redis_url else "database",
        "cpus": os.cpu_count(),
        "jwks_fetches": jwks_fetches,
    }
    return {
        "config": config,
        "phases": {name: phase.figures() for name, phase in phases.items()},
        "ratios": ratios,
        "target_ratio": TARGET_RATIO,
        "verification": verification,
        "server_errors": server.errors(),
        "profile": profile,
        "problems": problems,
    }


def run_profile(args, env: dict[str, str], folder: Path, clients: Clients, key, pool) -> dict[str, Any]:
    """Two passes on a fresh gunicorn each: SQL per request (first, then repeat launches), cProfile."""
    conns, warmup, seconds = args.profile_connections or args.connections, args.warmup, args.profile_seconds
    out: dict[str, Any] = {"connections": conns}
    sql = folder / "profile-sql"
    sql.mkdir()
    with serve(args.workers, {**env, "BENCH_PROFILE": str(sql)}, folder) as server:
        meter = CpuMeter(raw_dsn(args.database_url), server.pid)
        say(f"Profiling SQL ({seconds:g} s of first, then repeat launches)...")
        clients.phase("first", server, meter, args.connections, warmup, prefix="pwarm")
        (sql / "recording").touch()
        clients.phase("first", server, meter, conns, seconds, prefix="pfirst")
        first, offsets = profiling.read_requests(sql)
        clients.phase("repeat", server, meter, conns, seconds, pool=pool)
        (sql / "recording").unlink()
    repeat, _ = profiling.read_requests(sql, offsets)
    for kind, records in (("sql_first", first), ("sql_repeat", repeat)):
        routes = {"login": "/lti/login", "launch": "/lti/launch"}
        groups = {r: [x for x in records if x["path"] == p and x["status"] < 400] for r, p in routes.items()}
        out[kind] = {route: profiling.sql_group(group) for route, group in groups.items() if group}

    py = folder / "profile-python"
    py.mkdir()
    profiled = {**env, "BENCH_CPU_PROFILE": str(py), "BENCH_CPU_PROFILE_PATHS": "/lti/login,/lti/launch"}
    with serve(args.workers, profiled, folder, CPROFILED_APP) as server:
        meter = CpuMeter(raw_dsn(args.database_url), server.pid)
        say(f"Profiling Python ({seconds:g} s of repeat launches under cProfile)...")
        clients.phase("repeat", server, meter, args.connections, warmup, pool=pool)
        (py / "recording").touch()
        clients.phase("repeat", server, meter, conns, seconds, pool=pool)
        (py / "recording").unlink()
    entries, launches = profiling.load_profile(py, "lti/views", "launch")
    if entries:
        highlights = {
            label: profiling.cumulative_ms(entries, launches, *at) for label, at in PROFILE_HIGHLIGHTS.items()
        }
        out["python"] = {
            "launches": launches,
            "highlights": highlights,
            **profiling.profile_rows(entries, launches, "launch"),
        }
    out["jwt_verify"] = lms.jwt_costs(key)
    return out


def print_report(report: dict[str, Any]) -> None:
    c, phases = report["config"], report["phases"]
    print(
        f"Complete LTI launches on PostgreSQL ({c['database']}): gunicorn {c['gunicorn_workers']} sync "
        f"workers, {c['connections']} connections, {c['client_processes']} load generator process(es), "
        f"{c['duration_s']:g} s each, {c['cpus']} CPUs, launch state in the {c['launch_state']}"
    )
    cpu_columns = f"{'server CPU ms/op':>16} {'client CPU ms/op':>16}"
    print(f"  {'':<36} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ok':>7} {'failed':>6}  {cpu_columns}")
    for key, label in LABELS.items():
        p = phases[key]
        print(
            f"  {label:<36} {p['per_s']:8.1f} {p['p50_ms']:8.1f} {p['p99_ms']:8.1f} {p['ok']:7d} "
            f"{p['failed']:6d}  {fmt(p['server_cpu_ms_per_op']):>16} {fmt(p['client_cpu_ms_per_op']):>16}"
        )
    launches = ("first_launch", "repeat_launch")
    for key in launches:
        steps = ", ".join(f"{k} {v:.1f} ms" for k, v in phases[key]["steps_p50_ms"].items())
        print(f"  {LABELS[key]} p50 per step: {steps}")
    for key in launches:
        p = phases[key]
        client_ms = p["client_cpu_ms_per_op"]
        print(
            f"  {LABELS[key]}: server CPU {fmt(p['gunicorn_cpu_ms_per_op'])} ms gunicorn + "
            f"{fmt(p['postgres_cpu_ms_per_op'])} ms PostgreSQL per launch; the load generator's "
            f"{fmt(client_ms)} ms CPU per launch caps it near "
            f"{fmt(c['client_processes'] * 1000 / client_ms if client_ms else None)} launches/s"
        )
    print(
        f"  repeat launches cycle over {phases['repeat_launch'].get('pool')} learners who launched "
        f"once at setup ({c['pool_setup_seconds']:g} s through lti.services.process_launch)"
    )
    target = report["target_ratio"]
    for key in launches:
        r = report["ratios"][key]
        verdict = "meets" if (r["launches_per_hello_wrk"] or 0) >= target else "BELOW"
        name, rate = LABELS[key].split(" (")[0], fmt(r["launches_per_hello_wrk"])
        print(
            f"  {name}: launches/s / hello req/s (wrk) = {rate}x "
            f"({verdict} {target:.2f}x); same client: {fmt(r['launches_per_hello_same_client'])}x; "
            f"server CPU per hello / per launch: {fmt(r['server_cpu_hello_per_launch'])}x"
        )
    print("  machine CPU share per run (gunicorn / postgres / load generator / everything else / idle):")
    for key, label in LABELS.items():
        print(f"    {label:<34} " + " / ".join(f"{v:.2f}" for v in phases[key]["machine_cpu_share"].values()))
    v = report["verification"]
    print(
        f"Verified in the database: {v['users']} learners for {v['launched_learners']} launched, "
        f"{v['enrolments']} enrolments, {v['grade_targets']} grade targets, "
        f"{v['launch_state_rows_left']} login states left; JWKS fetched {c['jwks_fetches']} times"
    )
    if profile := report["profile"]:
        print(f"\nProfile ({profile['connections']} connections)")
        for kind in ("sql_first", "sql_repeat"):
            print(f"  {kind.removeprefix('sql_')} launches:")
            for route, p in profile[kind].items():
                profiling.print_sql(route, p, indent="    ")
        if python := profile.get("python"):
            print(f"  cProfile (worker CPU time), ms per launch (login + launch; {python['launches']}):")
            for label, ms in python["highlights"].items():
                print(f"    {ms:8.3f}  {label}")
            profiling.print_python(python, "launch", own_rows=20)
        j = profile["jwt_verify"]
        print(
            f"  PyJWT here: RS256 sign {j['sign_ms']:.3f} ms, verify {j['verify_ms']:.3f} ms, "
            f"unverified decode {j['unverified_decode_ms']:.3f} ms"
        )


def main() -> None:
    url = DEFAULT_URL.format(name="postwise_bench_launch")
    parser = options(__doc__, url, profile_seconds=5, profile_connections=4)
    add = parser.add_argument
    add("--client-processes", type=int, default=1, help="load generator processes")
    add("--pool", type=int, default=2000, help="learners reused round robin by repeat launches")
    add(
        "--redis-url",
        default="",
        help="serve with REDIS_URL set (launch state in Redis), e.g. redis://127.0.0.1:6379/13",
    )
    add("--keep-database", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args()
    wrk_binary = require_wrk()
    with temp_folder("postwise-bench-launch-", args.keep_temp) as folder:
        try:
            report = run(args, wrk_binary, folder)
        finally:
            if not args.keep_database:
                drop_database(args.database_url)
    finish(report, args.json, print_report)


if __name__ == "__main__":
    main()
