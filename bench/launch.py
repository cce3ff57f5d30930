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
import asyncio
import cProfile
import json
import os
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import benchapp  # noqa: E402
import jwt  # noqa: E402
import psycopg  # noqa: E402
import uvloop  # noqa: E402
from cpu import CpuMeter  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from quiz_submit import (  # noqa: E402
    Served,
    Wrk,
    WrkResult,
    admin_dsn,
    ensure_wrk,
    load_profile,
    profile_rows,
    raw_dsn,
    recreate_database,
    say,
    serve_gunicorn,
    statement_label,
    wait_until_idle,
)
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from courses import publishing  # noqa: E402
from courses.models import Enrolment  # noqa: E402
from lti import services as lti_services  # noqa: E402
from lti.models import GradeTarget, LaunchState, Platform  # noqa: E402
from tests.lti_platform.claims import (  # noqa: E402
    Context,
    LaunchPresentation,
    ResourceLink,
    ToolPlatform,
    ags_claim,
    nrps_claim,
    resource_link_claims,
)
from tests.lti_platform.claims import User as LtiUser  # noqa: E402
from tests.lti_platform.constants import roles_for  # noqa: E402
from tests.lti_platform.keys import RsaKey, jwks_of  # noqa: E402
from training_app import create_app  # noqa: E402
from training_app.auth import services as accounts  # noqa: E402
from training_app.extensions import db  # noqa: E402
from training_app.models import User  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postwise_bench_launch"
COURSE = "social-media-orientation"
OVERVIEW_PATH = f"/courses/{COURSE}/"
OVERVIEW_MARKER = b"Social media policy orientation"
OVERVIEW_ADDRESS = f'data-address="{OVERVIEW_PATH}"'.encode()  # the overview, answering the launch
ISSUER = "https://lms.bench.example"
CLIENT_ID = "postwise-bench-client"
DEPLOYMENT_ID = "1"
AUTH_LOGIN_URL = f"{ISSUER}/mod/lti/auth.php"
TARGET_RATIO = 0.10
FIRST_NAMES = ["Ada", "Grace", "Alan", "Katherine", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Johnson", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
USER_AGENT = "postwise-bench-launch"
PROFILED_PREFIXES = ("/lti/login", "/lti/launch")


# --- the platform side: keys, JWKS, claims ---------------------------------------------------------


class JwksServer:
    """Serves the platform's JWKS at /jwks on 127.0.0.1 and counts the tool's fetches."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        body = json.dumps(jwks).encode()
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                outer.fetches += 1
                self.send_response(200 if self.path == "/jwks" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/jwks"

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def claims_template() -> dict[str, Any]:
    """A Moodle learner's resource link launch of the orientation, without the user's claims.

    Built with the test emulator's claim builders, so the bench sends what the tests send: roles,
    context, resource link, custom course parameter, AGS line item and NRPS claims.
    """
    context = Context(id="course-101", label="SMP-101", title="Social media policy")
    claims = resource_link_claims(
        LtiUser(sub="placeholder"),
        roles_for("moodle", "learner"),
        custom={"course": COURSE},
        context=context,
        resource_link=ResourceLink(id="resource-link-1", title="Orientation"),
        ags=ags_claim(
            lineitems=f"{ISSUER}/mod/lti/services.php/101/lineitems?type_id=1",
            lineitem=f"{ISSUER}/mod/lti/services.php/101/lineitems/7/lineitem?type_id=1",
            scopes=[
                "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
                "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
                "https://purl.imsglobal.org/spec/lti-ags/scope/score",
            ],
        ),
        nrps=nrps_claim(f"{ISSUER}/mod/lti/services.php/CourseSection/101/bindings/1/memberships"),
        launch_presentation=LaunchPresentation(document_target="iframe", return_url=f"{ISSUER}/return"),
        deployment_id=DEPLOYMENT_ID,
        target_link_uri="http://127.0.0.1/lti/launch",
        tool_platform=ToolPlatform(
            guid="lms.bench.example", name="Bench Moodle", product_family_code="moodle", version="2024100700"
        ),
    )
    for name in ("sub", "name", "given_name", "family_name", "email"):
        claims.pop(name, None)
    return claims


def person(sub: str) -> dict[str, str]:
    """The learner's name and email, always the same for one `sub` (as an LMS sends them)."""
    index = int(sub.rsplit("-", 1)[-1]) if sub[-1:].isdigit() else 0
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    last = LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]
    return {
        "sub": sub,
        "name": f"{first} {last}",
        "given_name": first,
        "family_name": last,
        "email": f"{first.lower()}.{last.lower()}.{index}@acme.example",
    }


# --- the load generator (runs in --client-processes processes) --------------------------------------


@dataclass
class ClientJob:
    mode: str  # "hello" | "launch"
    host: str
    port: int
    concurrency: int
    start_at: float  # time.time() when every client process starts
    seconds: float
    key_pem: str = ""
    kid: str = ""
    template: dict[str, Any] = field(default_factory=dict)
    fresh_prefix: str = ""  # first launches: a new learner "<prefix>-<n>" each time
    pool: list[str] = field(default_factory=list)  # repeat launches: round robin over these learners
    timeout: float = 15.0


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    cookies: dict[str, str]
    body: bytes


class Failure(Exception):
    pass


_loaded_keys: dict[str, rsa.RSAPrivateKey] = {}


def id_token_claims(template: dict[str, Any], sub: str, nonce: str) -> dict[str, Any]:
    """What the LMS signs for this learner and nonce: valid for five minutes from now."""
    now = int(time.time())
    return {
        **template,
        **person(sub),
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
    }


def loaded_key(pem: str) -> rsa.RSAPrivateKey:
    """Load once per process: signing with a PEM string re-validates the key on every call."""
    key = _loaded_keys.get(pem)
    if key is None:
        key = _loaded_keys[pem] = serialization.load_pem_private_key(pem.encode(), password=None)
    return key


def run_client(job: ClientJob) -> dict[str, Any]:
    """One load generator process: `job.concurrency` browsers in one event loop (uvloop: this client
    shares the machine's CPUs with the server, so it should cost as little as it can)."""
    return uvloop.run(_client(job))


async def _client(job: ClientJob) -> dict[str, Any]:
    key = loaded_key(job.key_pem) if job.key_pem else None
    steps: dict[str, list[float]] = {"total": [], "login": [], "sign": [], "launch": []}
    errors: Counter[str] = Counter()
    launched: list[str] = []
    late = 0
    counter = 0
    pool_cursor = 0
    host_header = f"{job.host}:{job.port}"

    async def exchange(method: str, path: str, body: bytes = b"", cookies: dict[str, str] | None = None):
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host_header}", f"User-Agent: {USER_AGENT}"]
        lines.append("Connection: close")
        if cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
        if method == "POST":
            lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        async with asyncio.timeout(job.timeout):
            reader, writer = await asyncio.open_connection(job.host, job.port)
            try:
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                status, headers, cookies_set = parse_head(head)
                length = headers.get("content-length")
                content = await (reader.readexactly(int(length)) if length is not None else reader.read())
            finally:
                hang_up(writer)
        return Reply(status, headers, cookies_set, content)

    async def hello() -> None:
        reply = await exchange("GET", "/bench/hello")
        if reply.status != 200 or reply.body != b"hello":
            raise Failure(f"hello answered {reply.status}")

    async def launch(sub: str, index: int) -> dict[str, float]:
        jar: dict[str, str] = {}
        started = time.perf_counter()
        login_params = {
            "iss": ISSUER,
            "login_hint": sub,
            "target_link_uri": job.template["https://purl.imsglobal.org/spec/lti/claim/target_link_uri"],
            "lti_message_hint": json.dumps({"cmid": 7, "launchid": f"ltilaunch7_{index}"}),
            "client_id": CLIENT_ID,
            "lti_deployment_id": DEPLOYMENT_ID,
        }
        reply = await exchange("POST", "/lti/login", urlencode(login_params).encode())
        if reply.status != 302:
            raise Failure(f"login answered {reply.status}: {reply.body[:200]!r}")
        jar.update(reply.cookies)
        auth = {k: v[0] for k, v in parse_qs(urlsplit(reply.headers["location"]).query).items()}
        state, nonce = auth["state"], auth["nonce"]
        if jar.get(f"lti1p3-{state}") != state:
            raise Failure("login set no state cookie")
        logged_in = time.perf_counter()
        claims = id_token_claims(job.template, sub, nonce)
        id_token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": job.kid})
        signed = time.perf_counter()
        reply = await exchange(
            "POST", "/lti/launch", urlencode({"id_token": id_token, "state": state}).encode(), jar
        )
        if reply.status != 200 or OVERVIEW_MARKER not in reply.body or OVERVIEW_ADDRESS not in reply.body:
            raise Failure(f"launch answered {reply.status}: {reply.body[:300]!r}")
        if "session" not in reply.cookies:
            raise Failure("launch set no session cookie")
        done = time.perf_counter()
        return {
            "total": done - started,
            "login": logged_in - started,
            "sign": signed - logged_in,
            "launch": done - signed,
        }

    async def browser(end: float) -> None:
        nonlocal counter, pool_cursor, late
        while time.time() < end:
            try:
                if job.mode == "hello":
                    started = time.perf_counter()
                    await hello()
                    timing = {"total": time.perf_counter() - started}
                    sub = ""
                else:
                    if job.pool:
                        sub, index = job.pool[pool_cursor % len(job.pool)], pool_cursor
                        pool_cursor += 1
                    else:
                        counter += 1
                        sub, index = f"{job.fresh_prefix}-{counter:06d}", counter
                    timing = await launch(sub, index)
            except Failure as exc:
                errors[re.sub(r"\d{3,}", "N", str(exc))[:160]] += 1
                continue
            except (OSError, TimeoutError, asyncio.IncompleteReadError, KeyError, ValueError) as exc:
                errors[type(exc).__name__] += 1
                continue
            if time.time() > end:
                late += 1  # finished after the window: not counted in the rate
                if sub:
                    launched.append(sub)
                continue
            for name, seconds in timing.items():
                steps[name].append(seconds * 1000)
            if sub:
                launched.append(sub)

    await asyncio.sleep(max(0.0, job.start_at - time.time()))
    cpu_started, wall_started = time.process_time(), time.time()
    end = job.start_at + job.seconds
    await asyncio.gather(*(browser(end) for _ in range(job.concurrency)))
    return {
        "steps": steps,
        "errors": dict(errors),
        "launched": launched if job.mode == "launch" and not job.pool else [],
        "launches_done": len(launched),
        "late": late,
        "cpu_s": time.process_time() - cpu_started,
        "wall_s": time.time() - wall_started,
    }


def hang_up(writer: asyncio.StreamWriter) -> None:
    """Close the connection now, as a browser does once it has the response.

    gunicorn's sync worker (27.x, `util.close_graceful`) waits after each response until the client
    closes. Under uvloop `abort()` closes the socket at once (asyncio's own loop would close it on a
    later turn of this busy loop, milliseconds later, and the worker would sit idle that long: a
    limit of this load generator, not of the server). wrk, which drives the hello rows, closes at
    once too.
    """
    writer.transport.abort()


def parse_head(head: bytes) -> tuple[int, dict[str, str], dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "set-cookie":
            pair = value.split(";", 1)[0]
            cookie, _, cookie_value = pair.partition("=")
            cookies[cookie.strip()] = cookie_value.strip()
        else:
            headers[name] = value
    return status, headers, cookies


# --- gunicorn ----------------------------------------------------------------------------------------


def profiled_app():
    """`gunicorn 'launch:profiled_app()'`: benchapp under cProfile for the launch's requests.

    Profiles POST /lti/login, POST /lti/launch and GET /courses/... while the file
    `$BENCH_LAUNCH_CPROFILE/recording` exists; each worker writes cprofile-<pid>.prof. The clock
    is the process's CPU time: waiting for PostgreSQL or for a CPU is left out (the SQL pass
    shows the waits), so the figures say where the workers' CPU goes.
    """
    import atexit

    app = benchapp.build_app()
    folder = Path(os.environ["BENCH_LAUNCH_CPROFILE"])
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
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PROFILED_PREFIXES) or not switch.exists():
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


# --- the run -------------------------------------------------------------------------------------------


@dataclass
class Phase:
    label: str
    mode: str  # hello-wrk | hello | first | repeat
    rate: float
    ok: int
    seconds: float
    p50_ms: float
    p99_ms: float
    steps_p50_ms: dict[str, float]
    errors: dict[str, int]
    late: int
    client_cpu_s: float
    cpu: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> int:
        """Operations the server completed in the phase (in the window, or just after it)."""
        return self.ok + self.late

    def server_cpu_ms(self) -> float | None:
        if not self.done:
            return None
        return (self.cpu["gunicorn_s"] + self.cpu["postgres_s"]) * 1000 / self.done

    def figures(self) -> dict[str, Any]:
        machine = self.cpu["machine_total_s"] or 1.0
        return {
            "per_s": round(self.rate, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "ok": self.ok,
            "failed": sum(self.errors.values()),
            "errors": self.errors,
            "finished_after_window": self.late,
            "seconds": round(self.seconds, 2),
            "steps_p50_ms": {k: round(v, 3) for k, v in self.steps_p50_ms.items()},
            "server_cpu_ms_per_op": _round(self.server_cpu_ms(), 3),
            "gunicorn_cpu_ms_per_op": _round(
                self.cpu["gunicorn_s"] * 1000 / self.done if self.done else None, 3
            ),
            "postgres_cpu_ms_per_op": _round(
                self.cpu["postgres_s"] * 1000 / self.done if self.done else None, 3
            ),
            "client_cpu_ms_per_op": _round(self.client_cpu_s * 1000 / self.done if self.done else None, 3),
            "machine_cpu_share": {
                "gunicorn": round(self.cpu["gunicorn_s"] / machine, 3),
                "postgres": round(self.cpu["postgres_s"] / machine, 3),
                "load_generator": round(self.client_cpu_s / machine, 3),
                "everything_else": round(
                    max(
                        0.0,
                        self.cpu["machine_busy_s"]
                        - self.cpu["gunicorn_s"]
                        - self.cpu["postgres_s"]
                        - self.client_cpu_s,
                    )
                    / machine,
                    3,
                ),
                "idle": round(1 - self.cpu["machine_busy_s"] / machine, 3),
            },
            **self.extra,
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


class Bench:
    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.args, self.folder = args, folder
        self.dsn = raw_dsn(args.database_url)
        self.key = RsaKey.generate(kid="bench-platform-key")
        self.template = claims_template()
        processes = max(1, args.client_processes)
        self.executor = ProcessPoolExecutor(processes, mp_context=get_context("spawn"))
        self.processes = processes
        self.launched_subs: list[str] = []
        self.pool = [f"pool-{n:06d}" for n in range(args.pool)]

    def close(self) -> None:
        self.executor.shutdown(cancel_futures=True)

    def settle(self) -> None:
        wait_until_idle(self.dsn)

    def clients(self, served: Served, mode: str, connections: int, seconds: float, **job: Any) -> list[dict]:
        """Run `connections` browsers spread over the client processes; their raw results."""
        start_at = time.time() + 0.3
        shares = [
            connections // self.processes + (i < connections % self.processes) for i in range(self.processes)
        ]
        pool: list[str] = job.pop("pool", [])
        futures = []
        for index, share in enumerate(shares):
            if not share:
                continue
            futures.append(
                self.executor.submit(
                    run_client,
                    ClientJob(
                        mode=mode,
                        host=served.host,
                        port=served.port,
                        concurrency=share,
                        start_at=start_at,
                        seconds=seconds,
                        key_pem=self.key.private_pem if mode == "launch" else "",
                        kid=self.key.kid,
                        template=self.template,
                        pool=pool[index :: self.processes],
                        fresh_prefix=f"{job.get('prefix', 'learner')}-{index}",
                    ),
                )
            )
        return [f.result() for f in futures]

    def phase(
        self, label: str, mode: str, served: Served, meter: CpuMeter, seconds: float, **job: Any
    ) -> Phase:
        before = meter.snapshot()
        results = self.clients(
            served, "hello" if mode == "hello" else "launch", self.args.connections, seconds, **job
        )
        self.settle()
        cpu = CpuMeter.delta(before, meter.snapshot())
        steps: dict[str, list[float]] = {}
        errors: Counter[str] = Counter()
        for result in results:
            for name, values in result["steps"].items():
                steps.setdefault(name, []).extend(values)
            errors.update(result["errors"])
            self.launched_subs.extend(result["launched"])
        totals = steps.get("total", [])
        return Phase(
            label=label,
            mode=mode,
            rate=len(totals) / seconds,
            ok=len(totals),
            seconds=seconds,
            p50_ms=percentile(totals, 50),
            p99_ms=percentile(totals, 99),
            steps_p50_ms={name: percentile(v, 50) for name, v in steps.items() if name != "total" and v},
            errors=dict(errors),
            late=sum(r["late"] for r in results),
            client_cpu_s=sum(r["cpu_s"] for r in results),
            cpu=cpu,
            extra={"pool": len(job["pool"])} if job.get("pool") else {},
        )

    def wrk_phase(self, wrk: Wrk, label: str, meter: CpuMeter, seconds: float) -> Phase:
        before = meter.snapshot()
        result: WrkResult = wrk.fixed(label, "GET", "/bench/hello", self.args.connections, seconds)
        cpu = CpuMeter.delta(before, meter.snapshot())  # wrk.fixed already waited until idle
        return Phase(
            label=label,
            mode="hello-wrk",
            rate=result.rate,
            ok=result.ok,
            seconds=result.seconds,
            p50_ms=result.p50_ms,
            p99_ms=result.p99_ms,
            steps_p50_ms={},
            errors={**result.not_ok, **{k: v for k, v in result.socket_errors.items() if v}},
            late=max(0, result.cut_off),
            client_cpu_s=cpu["children_s"],
            cpu=cpu,
        )


def set_up_database(url: str, jwks_url: str, pool: list[str]) -> float:
    """The database as a tool in use finds it; `pool` learners have launched once before.

    The pool's earlier launches go through `lti.services.process_launch`, the service the launch
    view calls with a validated id_token (user, resource link, enrolment, grade target), in this
    process: the same rows as launches over HTTP, without waiting for them. Returns the seconds
    that took.
    """
    app = create_app(
        {"CONFIG": "production", "SECRET_KEY": "setup", "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    )
    recreate_database(url)
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        publishing.publish_all(material=True, actor="bench")
        tenant = accounts.create_tenant("acme", "Acme Corporation")
        lti_services.add_platform(
            tenant,
            lti_services.PlatformFields(
                issuer=ISSUER,
                client_id=CLIENT_ID,
                deployment_ids=[DEPLOYMENT_ID],
                auth_login_url=AUTH_LOGIN_URL,
                auth_token_url=f"{ISSUER}/mod/lti/token.php",
                key_set_url=jwks_url,
                name="Bench Moodle",
            ),
            actor="bench",
        )
        db.session.commit()
        started = time.perf_counter()
        template = claims_template()
        for number, sub in enumerate(pool, 1):
            platform = db.session.scalar(select(Platform))
            lti_services.process_launch(
                platform, {**template, **person(sub), "iss": ISSUER, "aud": CLIENT_ID, "nonce": sub}
            )
            if number % 500 == 0:
                db.session.commit()
        db.session.commit()
        pool_seconds = time.perf_counter() - started
        db.engine.dispose()
    with psycopg.connect(raw_dsn(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return pool_seconds


def drop_database(url: str) -> None:
    admin, name = admin_dsn(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def verify_database(url: str, launched: set[str], *, state_in_database: bool = True) -> dict[str, Any]:
    """Every launched learner exists once, enrolled once with one grade target; no login left over."""
    app = create_app(
        {"CONFIG": "production", "SECRET_KEY": "verify", "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    )
    with app.app_context():
        subjects = set(db.session.scalars(select(User.subject).where(User.issuer == ISSUER)))
        counts = {
            "users": len(subjects),
            "enrolments": db.session.scalar(select(func.count()).select_from(Enrolment)),
            "grade_targets": db.session.scalar(select(func.count()).select_from(GradeTarget)),
            "launch_state_rows_left": db.session.scalar(select(func.count()).select_from(LaunchState)),
        }
        db.session.rollback()
        db.engine.dispose()
    problems = []
    if subjects != launched:
        problems.append(
            f"{len(launched - subjects)} launched learners missing, {len(subjects - launched)} unexpected"
        )
    if not counts["users"] == counts["enrolments"] == counts["grade_targets"]:
        problems.append(f"users, enrolments and grade targets differ: {counts}")
    if counts["launch_state_rows_left"] and state_in_database:
        problems.append(f"{counts['launch_state_rows_left']} login states were never consumed")
    return {"launched_learners": len(launched), **counts, "problems": problems}


def run(args: argparse.Namespace, wrk_binary: str, folder: Path) -> dict[str, Any]:
    bench = Bench(args, folder)
    secret_key = secrets.token_urlsafe(48)
    env = {
        **os.environ,
        "TRAINING_CONFIG": "production",
        "SECRET_KEY": secret_key,
        "DATABASE_URL": args.database_url,
        "TRAINING_LOG_LEVEL": "WARNING",
        "TRAINING_INSTANCE_PATH": str(folder / "instance"),
    }
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    problems: list[str] = []
    phases: dict[str, Phase] = {}
    try:
        with JwksServer(jwks_of(bench.key)) as jwks:
            say(
                f"Recreating {make_url(args.database_url).database}, migrating, registering the platform, "
                f"{args.pool} learners launching once..."
            )
            pool_seconds = set_up_database(args.database_url, jwks.url, bench.pool)
            bench.launched_subs.extend(bench.pool)
            with serve_gunicorn(args.workers, env, folder) as served:
                meter = CpuMeter(bench.dsn, served.pid)
                wrk = Wrk(wrk_binary, served.url + "/", folder, args.wrk_threads, bench.settle)
                say(f"gunicorn ({args.workers} workers) at {served.url}; warming up...")
                wrk.fixed("warm-up hello", "GET", "/bench/hello", args.connections, args.warmup)
                warm = bench.phase("warm-up", "first", served, meter, args.warmup, prefix="warm")
                if warm.errors:
                    problems.append(f"warm-up launches failed: {warm.errors}")
                say(f"Measuring {args.duration:g} s each, {args.connections} connections...")
                phases["hello_wrk"] = bench.wrk_phase(wrk, "hello", meter, args.duration)
                phases["hello_client"] = bench.phase("hello-client", "hello", served, meter, args.duration)
                phases["first_launch"] = bench.phase(
                    "first", "first", served, meter, args.duration, prefix="first"
                )
                phases["repeat_launch"] = bench.phase(
                    "repeat", "repeat", served, meter, args.duration, pool=bench.pool
                )
                server_errors = served.server.errors()
                jwks_fetches = jwks.fetches
            verification = verify_database(
                args.database_url, set(bench.launched_subs), state_in_database=not args.redis_url
            )
            problems += verification["problems"]
            for name, phase in phases.items():
                if phase.errors:
                    problems.append(f"{name}: {sum(phase.errors.values())} failed: {phase.errors}")
            if server_errors:
                problems.append(f"the app logged errors: {list(server_errors)[:3]}")
            profile = run_profile(args, env, folder, bench) if args.profile else {}
    finally:
        bench.close()

    hello = phases["hello_wrk"]
    report_phases = {name: phase.figures() for name, phase in phases.items()}
    ratios: dict[str, Any] = {}
    for name in ("first_launch", "repeat_launch"):
        launch = phases[name]
        hello_cpu, launch_cpu = hello.server_cpu_ms(), launch.server_cpu_ms()
        ratios[name] = {
            "launches_per_hello_wrk": round(launch.rate / hello.rate, 3) if hello.rate else None,
            "launches_per_hello_same_client": round(launch.rate / phases["hello_client"].rate, 3)
            if phases["hello_client"].rate
            else None,
            "server_cpu_hello_per_launch": round(hello_cpu / launch_cpu, 3)
            if hello_cpu and launch_cpu
            else None,
        }
    return {
        "config": {
            "database": make_url(args.database_url).database,
            "gunicorn_workers": args.workers,
            "connections": args.connections,
            "client_processes": bench.processes,
            "wrk_threads": args.wrk_threads,
            "duration_s": args.duration,
            "pool": args.pool,
            "pool_setup_seconds": round(pool_seconds, 1),
            "launch_state": "redis" if args.redis_url else "database",
            "cpus": os.cpu_count(),
            "jwks_fetches": jwks_fetches,
        },
        "phases": report_phases,
        "ratios": ratios,
        "target_ratio": TARGET_RATIO,
        "verification": verification,
        "server_errors": server_errors,
        "profile": profile,
        "problems": problems,
    }


# --- profiling -------------------------------------------------------------------------------------------


def route_of(path: str) -> str:
    return {"/lti/login": "login", "/lti/launch": "launch", "/bench/hello": "hello"}.get(path, path)


def read_requests(folder: Path, offsets: dict[str, int] | None = None) -> tuple[list[dict], dict[str, int]]:
    records, ends = [], {}
    for path in sorted(folder.glob("requests-*.jsonl")):
        with open(path) as handle:
            handle.seek((offsets or {}).get(path.name, 0))
            records += [json.loads(line) for line in handle if line.strip()]
            ends[path.name] = handle.tell()
    return records, ends


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


def sql_summary(records: list[dict]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    records = without_savepoint_commits(records)
    for route in ("login", "launch"):
        group = [r for r in records if route_of(r["path"]) == route and r["status"] < 400]
        if not group:
            continue
        shapes = Counter(tuple(statement_label(s) for s, _ in r["sql"]) for r in group)
        shape, _ = shapes.most_common(1)[0]
        same = [r for r in group if tuple(statement_label(s) for s, _ in r["sql"]) == shape]
        out[route] = {
            "requests": len(group),
            "statements": sum(s != "COMMIT" for s in shape),
            "shapes": len(shapes),
            "request_ms": round(statistics.mean(r["ms"] for r in group), 2),
            "cpu_ms": round(statistics.mean(r["cpu_ms"] for r in group), 2),
            "sql_ms": round(statistics.mean(sum(ms for _, ms in r["sql"]) for r in group), 2),
            "steps": [
                {"statement": label, "ms": round(statistics.mean(r["sql"][i][1] for r in same), 3)}
                for i, label in enumerate(shape)
            ],
        }
    return out


def python_summary(folder: Path, limit: int = 30) -> dict[str, Any]:
    entries, launches = load_profile(folder, "lti/views", "launch")
    if not entries:
        return {}

    def cumulative_ms(file_part: str, name: str) -> float:
        found = [
            ct
            for (file, _, fn), (_cc, _nc, _tt, ct, _c) in entries.items()
            if fn == name and file_part in file
        ]
        return round(max(found, default=0.0) / launches * 1000, 3)

    return {
        "launches": launches,
        "highlights": {label: cumulative_ms(*where_) for label, where_ in PROFILE_HIGHLIGHTS.items()},
        **profile_rows(entries, launches, "launch", limit),
    }


# Functions whose cumulative CPU per launch the profile reports by name (file part, function).
PROFILE_HIGHLIGHTS = {
    "whole request (2 requests)": ("flask/app.py", "wsgi_app"),
    "GET/POST /lti/login view": ("lti/views.py", "login"),
    "POST /lti/launch view": ("lti/views.py", "launch"),
    "  id_token signature check (validate_jwt_signature)": ("lti/launch.py", "validate_jwt_signature"),
    "  of it PyJWT decode + verify": ("jwt/api_jwt.py", "decode"),
    "  unverified nonce read": ("lti/views.py", "unverified_nonce"),
    "  platform lookups (find_platform)": ("lti/launch.py", "find_platform"),
    "  process_launch (user, link, enrolment, grade target)": ("lti/services.py", "process_launch"),
    "  the course overview it answers with": ("courses/views.py", "render_overview"),
    "  render_template": ("flask/templating.py", "render_template"),
    "Flask-Login user load": ("flask_login/login_manager.py", "_load_user"),
    "session cookie save": ("flask/sessions.py", "save_session"),
    "SQL statements, Core and ORM (Connection.execute)": ("sqlalchemy/engine/base.py", "execute"),
    "  of them through the ORM (Session.execute)": ("sqlalchemy/orm/session.py", "_execute_internal"),
    "COMMIT (Session.commit)": ("sqlalchemy/orm/session.py", "commit"),
}


def run_profile(args: argparse.Namespace, env: dict[str, str], folder: Path, bench: Bench) -> dict[str, Any]:
    """Two passes on a fresh gunicorn each: SQL per request (first, then repeat launches), cProfile."""
    connections = args.profile_connections
    out: dict[str, Any] = {"connections": connections}
    sql_folder = folder / "profile-sql"
    sql_folder.mkdir()
    with JwksServer(jwks_of(bench.key)) as jwks:
        _repoint_jwks(args.database_url, jwks.url)
        with serve_gunicorn(args.workers, {**env, "BENCH_PROFILE": str(sql_folder)}, folder) as served:
            meter = CpuMeter(bench.dsn, served.pid)
            say(f"Profiling SQL ({args.profile_seconds:g} s of first, then repeat launches)...")
            bench.phase("warm-up", "first", served, meter, args.warmup, prefix="pwarm")
            (sql_folder / "recording").touch()
            saved, bench.args.connections = bench.args.connections, connections
            try:
                bench.phase("profile-first", "first", served, meter, args.profile_seconds, prefix="pfirst")
                first_records, offsets = read_requests(sql_folder)
                bench.phase("profile-repeat", "repeat", served, meter, args.profile_seconds, pool=bench.pool)
            finally:
                bench.args.connections = saved
            (sql_folder / "recording").unlink()
        repeat_records, _ = read_requests(sql_folder, offsets)
        out["sql_first"] = sql_summary(first_records)
        out["sql_repeat"] = sql_summary(repeat_records)

        py_folder = folder / "profile-python"
        py_folder.mkdir()
        spec = "launch:profiled_app()"
        profiled_env = {**env, "BENCH_LAUNCH_CPROFILE": str(py_folder)}
        with serve_gunicorn(args.workers, profiled_env, folder, spec) as served:
            meter = CpuMeter(bench.dsn, served.pid)
            say(f"Profiling Python ({args.profile_seconds:g} s of repeat launches under cProfile)...")
            bench.phase("warm-up", "repeat", served, meter, args.warmup, pool=bench.pool)
            (py_folder / "recording").touch()
            saved, bench.args.connections = bench.args.connections, connections
            try:
                bench.phase("profile-python", "repeat", served, meter, args.profile_seconds, pool=bench.pool)
            finally:
                bench.args.connections = saved
            (py_folder / "recording").unlink()
        out["python"] = python_summary(py_folder)
        out["jwt_verify"] = jwt_verify_cost(bench)
    return out


def _repoint_jwks(url: str, jwks_url: str) -> None:
    with psycopg.connect(raw_dsn(url), autocommit=True) as conn:
        conn.execute("UPDATE lti_platforms SET key_set_url = %s", [jwks_url])


def jwt_verify_cost(bench: Bench, rounds: int = 2000) -> dict[str, float]:
    """In this process: PyJWT's RS256 verify of a launch id_token with a cached key object."""
    key = loaded_key(bench.key.private_pem)
    payload = id_token_claims(bench.template, "x-1", "n" * 64)
    token = jwt.encode(payload, key, algorithm="RS256", headers={"kid": bench.key.kid})
    public = jwt.PyJWK(bench.key.public_jwk()).key

    def timed(fn: Callable[[], Any]) -> float:
        started = time.process_time()
        for _ in range(rounds):
            fn()
        return (time.process_time() - started) * 1000 / rounds

    return {
        "sign_ms": round(timed(lambda: jwt.encode(payload, key, algorithm="RS256", headers={"kid": "k"})), 3),
        "verify_ms": round(
            timed(lambda: jwt.decode(token, public, algorithms=["RS256"], audience=CLIENT_ID, leeway=60)), 3
        ),
        "unverified_decode_ms": round(
            timed(lambda: jwt.decode(token, options={"verify_signature": False})), 3
        ),
    }


# --- report ---------------------------------------------------------------------------------------------

LABELS = {
    "hello_wrk": "hello, wrk (server rate)",
    "hello_client": "hello, Python client (its ceiling)",
    "first_launch": "first launch (new learner)",
    "repeat_launch": "repeat launch (known learner)",
}


def print_report(report: dict[str, Any]) -> None:
    c = report["config"]
    print(
        f"Complete LTI launches on PostgreSQL ({c['database']}): gunicorn {c['gunicorn_workers']} sync "
        f"workers, {c['connections']} connections, {c['client_processes']} load generator process(es), "
        f"{c['duration_s']:g} s each, {c['cpus']} CPUs, launch state in the {c['launch_state']}"
    )
    print(
        f"  {'':<36} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ok':>7} {'failed':>6}  "
        f"{'server CPU ms/op':>16} {'client CPU ms/op':>16}"
    )
    for key, label in LABELS.items():
        p = report["phases"][key]
        print(
            f"  {label:<36} {p['per_s']:8.1f} {p['p50_ms']:8.1f} {p['p99_ms']:8.1f} {p['ok']:7d} "
            f"{p['failed']:6d}  {_fmt(p['server_cpu_ms_per_op']):>16} {_fmt(p['client_cpu_ms_per_op']):>16}"
        )
    for key in ("first_launch", "repeat_launch"):
        steps = report["phases"][key]["steps_p50_ms"]
        print(f"  {LABELS[key]} p50 per step: " + ", ".join(f"{k} {v:.1f} ms" for k, v in steps.items()))
    for key in ("first_launch", "repeat_launch"):
        p = report["phases"][key]
        client_ms = p["client_cpu_ms_per_op"]
        ceiling = c["client_processes"] * 1000 / client_ms if client_ms else None
        print(
            f"  {LABELS[key]}: server CPU {_fmt(p['gunicorn_cpu_ms_per_op'])} ms gunicorn + "
            f"{_fmt(p['postgres_cpu_ms_per_op'])} ms PostgreSQL per launch; the load generator's "
            f"{_fmt(client_ms)} ms CPU per launch caps it near {_fmt(ceiling)} launches/s"
        )
    print(
        f"  repeat launches cycle over {report['phases']['repeat_launch'].get('pool')} learners who launched "
        f"once at setup ({c['pool_setup_seconds']:g} s through lti.services.process_launch)"
    )
    target = report["target_ratio"]
    for key in ("first_launch", "repeat_launch"):
        r = report["ratios"][key]
        ratio = r["launches_per_hello_wrk"]
        verdict = "meets" if ratio is not None and ratio >= target else "BELOW"
        print(
            f"  {LABELS[key].split(' (')[0]}: launches/s / hello req/s (wrk) = {_fmt(ratio)}x "
            f"({verdict} {target:.2f}x); same client: {_fmt(r['launches_per_hello_same_client'])}x; "
            f"server CPU per hello / per launch: {_fmt(r['server_cpu_hello_per_launch'])}x"
        )
    print("  machine CPU share per run (gunicorn / postgres / load generator / everything else / idle):")
    for key, label in LABELS.items():
        s = report["phases"][key]["machine_cpu_share"]
        print(
            f"    {label:<34} {s['gunicorn']:.2f} / {s['postgres']:.2f} / {s['load_generator']:.2f} / "
            f"{s['everything_else']:.2f} / {s['idle']:.2f}"
        )
    v = report["verification"]
    print(
        f"Verified in the database: {v['users']} learners for {v['launched_learners']} launched, "
        f"{v['enrolments']} enrolments, {v['grade_targets']} grade targets, "
        f"{v['launch_state_rows_left']} login states left; JWKS fetched {c['jwks_fetches']} times"
    )
    if report["profile"]:
        print_profile(report["profile"])
    for problem in report["problems"]:
        print(f"PROBLEM: {problem}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def print_profile(profile: dict[str, Any]) -> None:
    print(f"\nProfile ({profile['connections']} connections)")
    for kind in ("sql_first", "sql_repeat"):
        print(f"  {'first' if kind == 'sql_first' else 'repeat'} launches:")
        for route, p in profile[kind].items():
            print(
                f"    {route}: {p['statements']} SQL statements + COMMIT ({p['shapes']} shapes); "
                f"{p['request_ms']:.2f} ms in the worker, {p['sql_ms']:.2f} ms of it in SQL, "
                f"{p['cpu_ms']:.2f} ms worker CPU; {p['requests']} requests"
            )
            for number, step in enumerate(p["steps"], 1):
                print(f"      {number:2d}. {step['ms']:7.3f} ms  {step['statement']}")
    python = profile.get("python") or {}
    if python:
        print(f"  cProfile (worker CPU time), ms per launch (login + launch; {python['launches']}):")
        for label, ms in python["highlights"].items():
            print(f"    {ms:8.3f}  {label}")
        print(f"    {'cumulative':>10} {'own':>8} {'calls':>7}  function")
        for row in python["by_cumulative"]:
            print(
                f"    {row['cumulative_ms']:10.3f} {row['own_ms']:8.3f} {row['calls_per_launch']:7.1f}  "
                f"{row['function']}"
            )
        print("  by own time:")
        for row in python["by_own_time"][:20]:
            print(
                f"    {row['cumulative_ms']:10.3f} {row['own_ms']:8.3f} {row['calls_per_launch']:7.1f}  "
                f"{row['function']}"
            )
    j = profile.get("jwt_verify") or {}
    if j:
        print(
            f"  PyJWT here: RS256 sign {j['sign_ms']:.3f} ms, verify {j['verify_ms']:.3f} ms, "
            f"unverified decode {j['unverified_decode_ms']:.3f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="database to DROP and recreate")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default: %(default)s)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent browsers / wrk connections")
    parser.add_argument("--client-processes", type=int, default=1, help="load generator processes")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up")
    parser.add_argument(
        "--pool", type=int, default=2000, help="learners reused round robin by repeat launches"
    )
    parser.add_argument("--profile", action="store_true", help="then profile: SQL per request, cProfile")
    parser.add_argument("--profile-seconds", type=float, default=5)
    parser.add_argument("--profile-connections", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--redis-url",
        default="",
        help="serve with REDIS_URL set (launch state in Redis instead of the database), e.g. "
        "redis://127.0.0.1:6379/13",
    )
    parser.add_argument("--keep-temp", action="store_true", help="keep the temp folder (logs)")
    parser.add_argument("--keep-database", action="store_true", help="do not drop the database at the end")
    args = parser.parse_args()
    if make_url(args.database_url).database in (None, "", "postgres", "template0", "template1"):
        sys.exit("give --database-url a database of its own: it is dropped and recreated")

    wrk_binary = ensure_wrk()
    folder = Path(tempfile.mkdtemp(prefix="postwise-bench-launch-"))
    try:
        report = run(args, wrk_binary, folder)
    finally:
        if not args.keep_database:
            drop_database(args.database_url)
        if args.keep_temp:
            say(f"Logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    if report["problems"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
