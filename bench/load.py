"""Load test: the whole flow on two app instances, checked end to end. Bounded, on 127.0.0.1 only.

    .venv/bin/python bench/load.py [--users 300] [--hr-users 4] [--spawn-rate 10] [--run-time 3m]
        [--think 1.0] [--hr-think 5] [--fail-share 0.1] [--workers 4] [--outbox-workers 2]
        [--stop-timeout 120s] [--redis-db 12] [--analyze-every 30s] [--drain-timeout 300s]
        [--json] [--save FILE] [--keep-temp] [--keep-database]

What one run does:
  1. Starts the LMS emulator of the tests (tests/lti_platform: JWKS, OAuth token endpoint, AGS line
     items and scores, over HTTP on 127.0.0.1) with one graded line item, and a webhook receiver in
     a process of its own (bench/harness/webhook_receiver.py). Empties Redis database --redis-db.
  2. Drops and recreates `postwise_bench_load` (--database-url), migrates, publishes the courses,
     creates the tenant, registers the emulator as its LMS, --hr-users HR accounts and a webhook
     endpoint for completions (bench/harness/load_data.py).
  3. Starts TWO app instances (gunicorn, --workers sync workers each, TRAINING_CONFIG=production,
     bench/harness/loadapp.py: the real app, with per-request CPU accounting) on two ports, and
     --outbox-workers outbox workers (`flask --app wsgi worker`), all on that database and on
     REDIS_URL=redis://127.0.0.1:6379/<--redis-db> (launch state and rate limits).
  4. Runs locust (bench/load/locustfile.py) headless for --run-time: --users learners, half on
     each instance, each launching through LTI 1.3 as a new learner again and again (login
     initiation, the id_token the LMS signs, the launch), reading every lesson, attesting, starting
     and submitting the quiz (answered from the question bank; --fail-share fail once first), with
     --think seconds between pages; and --hr-users HR people signing in and loading the console's
     dashboard, learners table and CSV export. Journeys under way when the time is up finish
     (--stop-timeout at most). When the cluster runs with autovacuum off (this machine's does), an
     ANALYZE every --analyze-every seconds stands in for it.
  5. Waits (--drain-timeout at most) until the outbox is empty, then checks: every completion in
     the database is in a CSV export (HR's, over HTTP), in the emulator's gradebook and at the
     webhook receiver, each EXACTLY ONCE (by certificate code, learner and webhook-id / completion
     id), with valid signatures; no message pending or dead; no request failed.
  6. Prints throughput, p50/p95/p99 per request type and the errors; the CPU each part used
     (gunicorn, PostgreSQL backends, outbox workers, locust, the rest of the machine) with the load
     average, the CPU per request type (inside the workers) and per learner journey.
Exit status 1 only when the figures are not valid: a failed request or journey, a completion
missing or delivered twice, the outbox not drained. A benchmark, not a test: the machine is noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import psycopg
import redis
import requests
from harness import lms as bench_lms
from harness.cpu import process_cpu, process_tree
from harness.database import DEFAULT_URL, drop_database, raw_dsn, wait_until_idle
from harness.fleet import Fleet, named
from harness.gunicorn import Server, serve, server_env
from harness.load_data import COURSE, database_size, database_state, outbox_left, parse_export, set_up, verify
from harness.report import finish, percentile, say, temp_folder
from harness.webhook_receiver import Receiver
from sqlalchemy.engine import make_url
from standardwebhooks import Webhook

from tests.lti_platform import Context, Platform, ResourceLink, User
from tests.lti_platform.constants import roles_for

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = ROOT / "bench" / "load" / "locustfile.py"
APP_SPEC = "harness.loadapp:build_app()"
PASSWORD = "Load-test staff password 2026!"
# PostgreSQL application_name of the web's and the workers' connections, and of the ANALYZE thread
WEB, WORKER, ANALYZE = "load-web", "load-worker", "load-analyze"
CONTEXT = Context(id="course-101")  # the LMS course, and the graded activity in it
LINK = ResourceLink(id="resource-link-1", title="Orientation")


def duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if not match:
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 3m, 1h)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def with_application_name(url: str, name: str) -> str:
    return make_url(url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)


class Backends:
    """The PostgreSQL processes the CPU sampler counts, read from pg_stat_activity once a sample."""

    def __init__(self, dsn: str, database: str) -> None:
        self.dsn, self.database = dsn, database
        self.rows: list[tuple[int, str | None, str | None, str]] = []
        self.read_at = 0.0
        self.conn: psycopg.Connection | None = None

    def _rows(self) -> list[tuple[int, str | None, str | None, str]]:
        if time.monotonic() - self.read_at > 0.5:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg.connect(self.dsn, autocommit=True, application_name="load-sampler")
            self.rows = self.conn.execute(
                "SELECT pid, datname, application_name, backend_type FROM pg_stat_activity"
                " WHERE pid <> pg_backend_pid()"
            ).fetchall()
            self.read_at = time.monotonic()
        return self.rows

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def of(self, application: str) -> list[int]:
        return [pid for pid, db, app, kind in self._rows() if db == self.database and app == application]

    def background(self) -> list[int]:
        """Autovacuum, WAL writer, checkpointer...: shared with every database of the cluster."""
        return [pid for pid, _db, _app, kind in self._rows() if kind != "client backend"]


class Analyzer:
    """ANALYZE of the database every `every` seconds in a thread, as autovacuum would do while tables
    grow (here the cluster runs with autovacuum off: without fresh statistics the planner takes
    tables that grew from empty for one row, and the console's queries and the export run up to
    80 times slower on a few hundred rows)."""

    def __init__(self, dsn: str, every: float) -> None:
        self.dsn, self.every = dsn, every
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="analyze", daemon=True)
        self.runs = 0

    def start(self) -> Analyzer:
        if self.every > 0:
            self.thread.start()
        return self

    def _run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True, application_name=ANALYZE) as conn:
            while not self.stopping.wait(self.every):
                conn.execute("ANALYZE")
                self.runs += 1

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(60)


def autovacuum_is_on(dsn: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SHOW autovacuum").fetchone()[0] == "on"


def settle(pids: list[int], limit: float = 60) -> None:
    """Wait until these processes are idle (started: imports done, polling), `limit` seconds at most:
    their start-up is not the load test's CPU."""
    deadline, last = time.monotonic() + limit, None
    while time.monotonic() < deadline:
        now = sum(process_cpu(pid) for pid in pids)
        if last is not None and now - last < 0.02:
            return
        last = now
        time.sleep(0.5)


def start_worker(env: dict[str, str], log: Path, poll_interval: float) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "wsgi",
        "worker",
        "--poll-interval",
        str(poll_interval),
    ]
    with open(log, "w") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen, seconds: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_locust(args: Any, config: Path, folder: Path, holder: dict[str, int]) -> tuple[int, float]:
    """locust headless, bounded: killed if it outlives its run time and stop timeout by a minute.
    `holder` gets its pid (the CPU sampler counts its process tree)."""
    command = [str(ROOT / ".venv" / "bin" / "locust"), "-f", str(LOCUSTFILE), "--headless"]
    command += ["--users", str(args.users + args.hr_users), "--spawn-rate", str(args.spawn_rate)]
    command += ["--run-time", f"{args.run_time:g}s", "--stop-timeout", f"{args.stop_timeout:g}s"]
    command += ["--csv", str(folder / "locust"), "--only-summary", "--loglevel", "WARNING"]
    if args.locust_processes > 1:
        command += ["--processes", str(args.locust_processes)]
    env = {**os.environ, "LOAD_CONFIG": str(config)}
    started = time.monotonic()
    with open(folder / "locust.log", "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    holder["pid"] = process.pid
    try:
        code = process.wait(args.run_time + args.stop_timeout + 60)
    except subprocess.TimeoutExpired:
        say("locust outlived its run time and stop timeout: stopping it")
        stop(process, 20)
        code = -1
    return code, time.monotonic() - started


def final_export(base_url: str, email: str) -> bytes:
    """HR's CSV export over HTTP (the session cookie is Secure: sent by hand over plain http)."""
    page = requests.get(f"{base_url}/login", timeout=60)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    jar = dict(page.cookies)
    form = {"csrf_token": token.group(1) if token else "", "email": email, "password": PASSWORD}
    signed_in = requests.post(f"{base_url}/login", data=form, cookies=jar, allow_redirects=False, timeout=60)
    if signed_in.status_code != 302:
        raise SystemExit(f"the final export's sign-in answered {signed_in.status_code}")
    jar.update(dict(signed_in.cookies))
    answer = requests.get(f"{base_url}/console/learners/export.csv", cookies=jar, timeout=300)
    answer.raise_for_status()
    return answer.content


def verified_signatures(hooks: list[dict[str, Any]], secret: str) -> int:
    """Requests whose signature standardwebhooks accepts (the timestamp checked at arrival time)."""
    webhook, count = Webhook(secret), 0
    with mock.patch("standardwebhooks.webhooks.datetime") as clock:
        clock.fromtimestamp.side_effect = datetime.fromtimestamp
        for hit in hooks:
            clock.now.return_value = datetime.fromtimestamp(hit["at"], UTC)
            headers = {k: hit[h] for k, h in (("webhook-id", "id"), ("webhook-timestamp", "timestamp"))}
            headers["webhook-signature"] = hit["signature"]
            try:
                webhook.verify(hit["body"].encode(), headers)
                count += 1
            except Exception:  # standardwebhooks raises WebhookVerificationError: counted as not verified
                continue
    return count


def merge_results(folder: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {"requests": [], "failures": Counter(), "user_errors": Counter(), "journeys": []}
    merged.update(exports=[], spawned_at=None, stopping_at=None)
    for path in sorted(folder.glob("results-*.json")):
        part = json.loads(path.read_text())
        for key in ("requests", "journeys", "exports"):
            merged[key] += part[key]
        merged["failures"].update(part["failures"])
        merged["user_errors"].update(part["user_errors"])
        for key in ("spawned_at", "stopping_at"):
            if part[key]:
                merged[key] = min(filter(None, [merged[key], part[key]]))
    return merged


def read_costs(folder: Path) -> dict[str, list[int]]:
    totals: dict[str, list[int]] = {}
    for path in folder.glob("costs-*.json"):
        for kind, values in json.loads(path.read_text()).items():
            row = totals.setdefault(kind, [0, 0, 0, 0])
            for i, value in enumerate(values):
                row[i] += value
    return totals


def start_service(
    stack: ExitStack, args: Any, folder: Path, secret_key: str, redis_url: str
) -> tuple[list[Server], list[subprocess.Popen]]:
    """Two gunicorn instances and the outbox workers on the database and Redis, stopped by `stack`."""
    common = {**bench_lms.TOOL_ENV, "REDIS_URL": redis_url}
    web_env = server_env(with_application_name(args.database_url, WEB), folder, secret_key, **common)
    web_env["LOAD_COSTS"] = str(folder / "costs")
    # The app is built once in gunicorn's master and forked (it opens no connection at start-up):
    # building it costs ~6 s of CPU, and eight workers building it at once on a busy 2-CPU
    # machine outlast harness.gunicorn.serve's 90 s wait.
    web_env["GUNICORN_CMD_ARGS"] = "--preload"
    servers = [stack.enter_context(serve(args.workers, web_env, folder, APP_SPEC)) for _ in range(2)]
    worker_env = server_env(with_application_name(args.database_url, WORKER), folder, secret_key, **common)
    workers = []
    for n in range(args.outbox_workers):
        workers.append(start_worker(worker_env, folder / f"worker-{n}.log", args.poll_interval))
        stack.callback(stop, workers[-1])
    return servers, workers


def locust_config(
    args: Any, folder: Path, lms: Platform, item: Any, servers: list[Server], setup: Any
) -> Path:
    """What the locustfile needs, as a JSON file: instances, the LMS's key and claims, the course."""
    learner = User.named("template", "Ada", "Lovelace")
    claims = lms.resource_link_claims(
        learner, roles_for("moodle", "learner"), context=CONTEXT, resource_link=LINK,
        custom={"course": COURSE}, ags=True, lineitem=item,
    )  # fmt: skip
    for key in learner.claims():  # each simulated learner's own
        claims.pop(key, None)
    config = {
        "hosts": [s.url for s in servers],
        "issuer": lms.issuer,
        "client_id": lms.client_id,
        "deployment_id": lms.deployment_id,
        "kid": lms.signing_key.kid,
        "key_pem": lms.signing_key.private_pem,
        "claims": claims,
        "target_link_uri": lms.require_tool().launch_url,
        "course": COURSE,
        "lessons": setup.lessons,
        "answers": setup.answers,
        "staff": setup.staff,
        "password": PASSWORD,
        "hr_users": args.hr_users,
        "think": args.think,
        "hr_think": args.hr_think,
        "fail_share": args.fail_share,
        "seed": args.seed,
        "out": str(folder),
    }
    path = folder / "load-config.json"
    path.write_text(json.dumps(config))
    return path


def run(args: Any, folder: Path) -> dict[str, Any]:
    url, dsn = args.database_url, raw_dsn(args.database_url)
    database = make_url(url).database
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    redis.Redis.from_url(redis_url).flushdb()
    secret_key = secrets.token_urlsafe(48)
    problems: list[str] = []
    with ExitStack() as stack:
        lms = stack.enter_context(Platform(flavour="moodle"))
        item = lms.ags.create(CONTEXT.id, "Social media policy orientation", 100, resource_link_id=LINK.id)
        receiver = Receiver()
        stack.callback(receiver.stop)
        say(f"Recreating {database}: tenant, LMS, {args.hr_users} HR accounts, webhook endpoint...")
        setup = set_up(url, secret_key, lms, receiver.url("/hooks"), max(1, args.hr_users), PASSWORD)
        size_before = database_size(dsn)
        servers, workers = start_service(stack, args, folder, secret_key, redis_url)
        lms.use_tool(servers[0].url)  # where the LMS fetches the tool's keys (client assertions)
        say(
            f"Two instances ({args.workers} workers each) at {', '.join(s.url for s in servers)}; "
            f"{args.outbox_workers} outbox workers; LMS at {lms.base_url}"
        )
        config = locust_config(args, folder, lms, item, servers, setup)
        backends, locust = Backends(dsn, database), {}
        stack.callback(backends.close)
        fleet = Fleet(
            {
                "gunicorn (2 instances)": lambda: [p for s in servers for p in process_tree(s.pid)],
                "postgres backends of the web": lambda: backends.of(WEB),
                "outbox workers": lambda: [w.pid for w in workers],
                "postgres backends of the workers": lambda: backends.of(WORKER),
                "postgres background (whole cluster)": backends.background,
                "postgres ANALYZE (for autovacuum)": lambda: backends.of(ANALYZE),
                "redis (whole server)": lambda: named("redis-server"),
                "locust": lambda: process_tree(locust["pid"]) if locust else [],
                "LMS emulator + this script + receiver": lambda: [os.getpid(), receiver.process.pid],
            }
        )
        settle([w.pid for w in workers] + [p for s in servers for p in process_tree(s.pid)])
        analyzer = Analyzer(dsn, 0 if autovacuum_is_on(dsn) else args.analyze_every)
        stack.callback(analyzer.stop)
        fleet.start()
        analyzer.start()
        say(
            f"locust: {args.users} learners + {args.hr_users} HR, spawn {args.spawn_rate:g}/s, "
            f"{args.run_time:g} s (journeys then finish, {args.stop_timeout:g} s at most)..."
        )
        code, locust_s = run_locust(args, config, folder, locust)
        fleet.mark("run")
        say(f"locust done (exit {code}) after {locust_s:.0f} s; waiting for the outbox to drain...")
        drain_started, left = time.monotonic(), outbox_left(dsn)
        while left and time.monotonic() - drain_started < args.drain_timeout:
            time.sleep(0.5)
            left = outbox_left(dsn)
        drain_s = time.monotonic() - drain_started
        time.sleep(1)  # anything sent twice would arrive now
        fleet.mark("drain")
        fleet.stop()
        analyzer.stop()
        if left:
            problems.append(f"the outbox still had {left} pending messages after {args.drain_timeout:g} s")
        wait_until_idle(dsn)
        say("Checking: database, a CSV export, the gradebook, the webhook receiver...")
        results = merge_results(folder)
        verification = check(url, setup, results, lms, receiver, servers[1].url)
        verification["analyze_runs"] = analyzer.runs if analyzer.every else None  # None: autovacuum on
        verification["bytes_written"] = {
            name: size - size_before.get(name, 0) for name, size in database_size(dsn).items()
        }
        app_errors: Counter[str] = Counter()
        for server in servers:
            app_errors.update(server.errors())
        for n in range(len(workers)):
            app_errors.update(Server("", "", 0, 0, folder / f"worker-{n}.log").errors())
    problems += verification["problems"]
    if code != 0:
        problems.append(f"locust exited with {code} (see locust.log with --keep-temp)")
    if app_errors:
        problems.append(f"the app or the workers logged errors: {list(app_errors)[:3]}")
    costs = read_costs(folder / "costs")
    figures = (fleet.phases(), costs, verification, dict(app_errors), fleet.errors, drain_s)
    return summarise(args, results, *figures, problems)


def check(url: str, setup: Any, results: dict[str, Any], lms: Platform, receiver: Receiver, base: str):
    """The database, HR's CSV export (over HTTP), the LMS's gradebook and the webhook receiver."""
    export = final_export(base, setup.staff[0])
    hooks = receiver.refresh()
    state = database_state(url, setup.tenant_id)
    verification = verify(state, results["journeys"], parse_export(export), list(lms.ags.scores), hooks)
    verification["webhook_signatures_verified"] = verified_signatures(hooks, setup.webhook_secret)
    verification["token_requests"] = lms.token_requests
    verification["tool_jwks_fetches"] = lms.tool_jwks_fetches
    if verification["webhook_signatures_verified"] != len(hooks):
        invalid = len(hooks) - verification["webhook_signatures_verified"]
        verification["problems"].append(f"{invalid} webhook signatures invalid")
    return verification


def summarise(args, results, phases, costs, verification, app_errors, fleet_errors, drain_s, problems):
    requests_ = results["requests"]
    if not requests_:
        problems.append("locust recorded no request")
        first = last = time.time()
    else:
        first = min(r[0] - r[2] / 1000 for r in requests_)
        last = max(r[0] for r in requests_)
    window = max(last - first, 1e-9)
    spawned, stopping = results["spawned_at"] or first, results["stopping_at"] or last
    steady = [r for r in requests_ if spawned <= r[0] <= stopping]
    by_name: dict[str, list[list[Any]]] = {}
    for record in requests_:
        by_name.setdefault(record[1], []).append(record)
    per_type = {}
    for name, records in sorted(by_name.items(), key=lambda item: -len(item[1])):
        ms = [r[2] for r in records]
        per_type[name] = {
            "requests": len(records),
            "failed": sum(1 for r in records if not r[3]),
            "per_s": round(len(records) / window, 2),
            "p50_ms": round(percentile(ms, 50), 1),
            "p95_ms": round(percentile(ms, 95), 1),
            "p99_ms": round(percentile(ms, 99), 1),
            "max_ms": round(max(ms), 1),
        }
    journeys = results["journeys"]
    outcome = Counter(j["stage"] if j["stage"] == "done" else "cut off at " + j["stage"] for j in journeys)
    failed_steps = Counter(j["failed_step"] for j in journeys if j.get("failed_step"))
    failed_requests = sum(t["failed"] for t in per_type.values())
    if failed_requests or results["failures"]:
        problems.append(f"{failed_requests} requests failed: {dict(results['failures'].most_common(5))}")
    if failed_steps:
        problems.append(f"journeys failed at: {dict(failed_steps)}")
    if results["user_errors"]:
        problems.append(f"locust user errors: {dict(results['user_errors'])}")
    both = [phases.get(name, {}).get("cpu_s", {}) for name in ("run", "drain")]

    def cpu_of(*groups: str) -> float:
        return sum(phase.get(group, 0.0) for phase in both for group in groups)

    web = cpu_of("gunicorn (2 instances)", "postgres backends of the web")
    outbox = cpu_of("outbox workers", "postgres backends of the workers")
    completions = verification["completions"]
    delivered = sum(o["messages"] for o in verification["outbox"] if o["status"] == "delivered")
    attributed = {
        kind: {
            "requests": n,
            "worker_cpu_ms": round(app_ns / n / 1e6, 3),
            "postgres_cpu_ms": round(pg_ns / n / 1e6, 3),
            "server_cpu_ms": round((app_ns + pg_ns) / n / 1e6, 3),
            "server_wall_ms": round(wall_ns / n / 1e6, 2),
        }
        for kind, (n, app_ns, pg_ns, wall_ns) in sorted(costs.items(), key=lambda item: -item[1][0])
        if n
    }
    attributed_s = sum(app_ns + pg_ns for _, app_ns, pg_ns, _ in costs.values()) / 1e9
    return {
        "config": {
            "users": args.users,
            "hr_users": args.hr_users,
            "spawn_rate": args.spawn_rate,
            "run_time_s": args.run_time,
            "think_s": args.think,
            "hr_think_s": args.hr_think,
            "fail_share": args.fail_share,
            "instances": 2,
            "gunicorn_workers_per_instance": args.workers,
            "outbox_workers": args.outbox_workers,
            "locust_processes": args.locust_processes,
            "redis_db": args.redis_db,
            "cpus": os.cpu_count(),
        },
        "window_s": round(window, 1),
        "steady_window_s": round(max(0.0, stopping - spawned), 1),
        "requests": len(requests_),
        "requests_per_s": round(len(requests_) / window, 1),
        "steady_requests_per_s": round(len(steady) / max(stopping - spawned, 1e-9), 1) if steady else None,
        "per_type": per_type,
        "journeys": dict(outcome),
        "journeys_started": len(journeys),
        "completions_per_min": round(completions / window * 60, 1),
        "hr_exports": {
            "count": len(results["exports"]),
            "rows_max": max((e[0] for e in results["exports"]), default=0),
        },
        "drain_s": round(drain_s, 1),
        "phases": phases,
        "cpu_per_completion_ms": per_completion(completions, cpu_of),
        "outbox_cpu_ms_per_delivery": round(outbox * 1000 / delivered, 2) if delivered else None,
        "per_request_cost": attributed,
        "attributed_share_of_web_cpu": round(attributed_s / web, 3) if web else None,
        "verification": verification,
        "app_errors": app_errors,
        "sampler_errors": fleet_errors,
        "problems": problems,
    }


def per_completion(completions: int, cpu_of: Any) -> dict[str, float | None]:
    """CPU milliseconds of the service's parts per completed learner journey (run and drain; the HR
    users' requests included), and their sum."""
    parts = {
        "gunicorn": cpu_of("gunicorn (2 instances)"),
        "postgres (web backends)": cpu_of("postgres backends of the web"),
        "outbox workers + their backends": cpu_of("outbox workers", "postgres backends of the workers"),
    }
    parts["service total"] = sum(parts.values())
    return {
        name: round(seconds * 1000 / completions, 1) if completions else None
        for name, seconds in parts.items()
    }


def print_report(report: dict[str, Any]) -> None:
    c, v = report["config"], report["verification"]
    load = report["phases"].get("run", {}).get("load_average_1m", {})
    print(
        f"Load test: {c['users']} learners + {c['hr_users']} HR, 2 instances x "
        f"{c['gunicorn_workers_per_instance']} gunicorn workers, {c['outbox_workers']} outbox workers, "
        f"PostgreSQL, Redis db {c['redis_db']}; think {c['think_s']:g} s; {c['cpus']} CPUs"
    )
    print(
        f"  {report['requests']} requests in {report['window_s']} s: {report['requests_per_s']}/s; "
        f"{report['steady_requests_per_s']}/s once all users ran ({report['steady_window_s']} s); "
        f"load average (1 min) min {load.get('min')} / mean {load.get('mean')} / max {load.get('max')}"
    )
    head = ("count", "failed", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms")
    print(f"  {'request':<30}" + "".join(f"{h:>8}" for h in head))
    for name, t in report["per_type"].items():
        values = ("requests", "failed", "per_s", "p50_ms", "p95_ms", "p99_ms", "max_ms")
        print(f"  {name:<30}" + "".join(f"{t[k]:>8}" for k in values))
    exports = report["hr_exports"]
    print(
        f"  journeys: {report['journeys_started']} started, {report['journeys']}; {v['completions']} "
        f"completions ({report['completions_per_min']}/min); HR exports during the run: "
        f"{exports['count']} (up to {exports['rows_max']} rows)"
    )
    print(
        f"  after the run: outbox drained in {report['drain_s']} s; completions: {v['completions']} in the "
        f"database, {v['export_completions']} in the CSV export ({v['export_rows']} rows), "
        f"{v['gradebook_scores']} in the gradebook ({v['gradebook_refused']} refused), "
        f"{v['webhook_completions']} webhooks ({v['webhook_signatures_verified']} signatures verified); "
        f"{v['completions_not_confirmed_to_the_learner']} not seen by their learner (cut off)"
    )
    for phase, figures in report["phases"].items():
        total = figures["machine_total_s"] or 1
        busy = figures["machine_busy_s"] / total
        print(
            f"  CPU seconds, {phase} ({figures['wall_s']} s; machine busy {busy:.0%}, "
            f"load {figures['load_average_1m']['mean']}):"
        )
        counted = sum(figures["cpu_s"].values())
        for name, seconds in figures["cpu_s"].items():
            print(f"    {name:<40} {seconds:8.1f}")
        print(
            f"    {'everything else on the machine':<40} {max(0.0, figures['machine_busy_s'] - counted):8.1f}"
        )
    analyzed = v["analyze_runs"]
    if analyzed is not None:
        print(f"  autovacuum is off on this cluster: the test ran ANALYZE {analyzed} times in its stead")
    print(f"  CPU ms per completed journey: {report['cpu_per_completion_ms']}")
    grown = v["bytes_written"]
    per = grown["database"] / v["completions"] if v["completions"] else 0
    tables = sorted(((size, name) for name, size in grown.items() if name != "database"), reverse=True)
    largest = ", ".join(f"{name} {size / 1e6:.1f}" for size, name in tables[:6])
    print(
        f"  database grew {grown['database'] / 1e6:.1f} MB ({per / 1e3:.1f} kB per completion; MB: {largest})"
    )
    print(f"  outbox CPU ms per delivered message: {report['outbox_cpu_ms_per_delivery']}")
    print(
        f"  CPU ms per request inside the workers ({report['attributed_share_of_web_cpu']} of the web's "
        "gunicorn + backend CPU):"
    )
    head = ("count", "worker", "postgres", "server", "wall")
    print(f"    {'type':<30}" + "".join(f"{h:>9}" for h in head))
    for kind, t in report["per_request_cost"].items():
        values = ("requests", "worker_cpu_ms", "postgres_cpu_ms", "server_cpu_ms", "server_wall_ms")
        print(f"    {kind:<30}" + "".join(f"{t[k]:>9}" for k in values))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--users", type=int, default=300, help="simulated learners (default: %(default)s)")
    add("--hr-users", type=int, default=4, help="HR people on the console (default: %(default)s)")
    add("--spawn-rate", type=float, default=10, help="users started per second (default: %(default)s)")
    add("--run-time", type=duration, default=duration("3m"), help="e.g. 90s, 3m (default: 3m)")
    add("--stop-timeout", type=duration, default=duration("120s"), help="for journeys under way at the end")
    add("--think", type=float, default=1.0, help="mean seconds between a learner's pages")
    add("--hr-think", type=float, default=5.0, help="mean seconds between an HR person's pages")
    add("--fail-share", type=float, default=0.1, help="learners who fail their first attempt on purpose")
    add("--workers", type=int, default=4, help="gunicorn sync workers per instance (default: %(default)s)")
    add("--outbox-workers", type=int, default=2, help="(default: %(default)s)")
    add("--poll-interval", type=float, default=1.0, help="the outbox workers' (default: the CLI's 1 s)")
    add("--locust-processes", type=int, default=1, help="locust --processes (default: 1)")
    add(
        "--redis-db", type=int, default=12, help="Redis database number, FLUSHED first (default: %(default)s)"
    )
    add(
        "--analyze-every",
        type=duration,
        default=duration("30s"),
        help="when the cluster's autovacuum is off: ANALYZE the database this often (0: never)",
    )
    add("--drain-timeout", type=duration, default=duration("300s"), help="outbox drain limit after the run")
    add(
        "--database-url", default=DEFAULT_URL.format(name="postwise_bench_load"), help="DROPPED and recreated"
    )
    add("--seed", type=int, default=2026)
    add("--json", action="store_true", help="print the figures as JSON")
    add("--save", type=Path, help="also write the figures as JSON to this file")
    add(
        "--keep-temp",
        action="store_true",
        help="keep the folder with locust's, gunicorn's and the workers' logs",
    )
    add("--keep-database", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args()
    with temp_folder("postwise-load-", args.keep_temp) as folder:
        try:
            report = run(args, folder)
        finally:
            if not args.keep_database:
                drop_database(args.database_url)
            redis.Redis.from_url(f"redis://127.0.0.1:6379/{args.redis_db}").flushdb()
    if args.save:
        args.save.write_text(json.dumps(report, indent=2))
    finish(report, args.json, print_report)


if __name__ == "__main__":
    main()
