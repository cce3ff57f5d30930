"""The launch benchmark's load generator: browsers in --client-processes processes, each process
one uvloop event loop, saying hello or launching (login, the LMS's id_token, launch) in a loop."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import uvloop

from harness import lms
from harness.cpu import CpuMeter, machine_share, per_op
from harness.gunicorn import Server
from harness.report import percentile
from harness.wrk import WrkResult

USER_AGENT = "postwise-bench-launch"
OVERVIEW_PATH = f"/courses/{lms.COURSE}/"
OVERVIEW_MARKER = b"Social media policy orientation"
OVERVIEW_ADDRESS = f'data-address="{OVERVIEW_PATH}"'.encode()  # the overview, answering the launch


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


def run_client(job: ClientJob) -> dict[str, Any]:
    """One load generator process: `job.concurrency` browsers in one event loop (uvloop: this client
    shares the machine's CPUs with the server, so it should cost as little as it can)."""
    return uvloop.run(_client(job))


async def _client(job: ClientJob) -> dict[str, Any]:
    key = lms.loaded_key(job.key_pem) if job.key_pem else None
    steps: dict[str, list[float]] = {"total": [], "login": [], "sign": [], "launch": []}
    errors: Counter[str] = Counter()
    launched: list[str] = []
    late = counter = pool_cursor = 0
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

    async def hello() -> dict[str, float]:
        started = time.perf_counter()
        reply = await exchange("GET", "/bench/hello")
        if reply.status != 200 or reply.body != b"hello":
            raise Failure(f"hello answered {reply.status}")
        return {"total": time.perf_counter() - started}

    async def launch(sub: str, index: int) -> dict[str, float]:
        started = time.perf_counter()
        reply = await exchange("POST", "/lti/login", urlencode(lms.login_form(sub, index)).encode())
        if reply.status != 302:
            raise Failure(f"login answered {reply.status}: {reply.body[:200]!r}")
        jar = dict(reply.cookies)
        auth = {k: v[0] for k, v in parse_qs(urlsplit(reply.headers["location"]).query).items()}
        state, nonce = auth["state"], auth["nonce"]
        if jar.get(f"lti1p3-{state}") != state:
            raise Failure("login set no state cookie")
        logged_in = time.perf_counter()
        id_token = lms.id_token(key, job.kid, sub, nonce)
        signed = time.perf_counter()
        form = urlencode({"id_token": id_token, "state": state}).encode()
        reply = await exchange("POST", "/lti/launch", form, jar)
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
            sub = ""
            try:
                if job.mode == "hello":
                    timing = await hello()
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
            if sub:
                launched.append(sub)
            if time.time() > end:
                late += 1  # finished after the window: not counted in the rate
                continue
            for name, seconds in timing.items():
                steps[name].append(seconds * 1000)

    await asyncio.sleep(max(0.0, job.start_at - time.time()))
    cpu_started, wall_started = time.process_time(), time.time()
    end = job.start_at + job.seconds
    await asyncio.gather(*(browser(end) for _ in range(job.concurrency)))
    return {
        "steps": steps,
        "errors": dict(errors),
        "launched": launched if job.mode == "launch" and not job.pool else [],
        "late": late,
        "cpu_s": time.process_time() - cpu_started,
        "wall_s": time.time() - wall_started,
    }


def hang_up(writer: asyncio.StreamWriter) -> None:
    """Close the connection now, as a browser does once it has the response.

    gunicorn's sync worker (27.x, `util.close_graceful`) waits after each response until the client
    closes. Under uvloop `abort()` closes the socket at once (asyncio's own loop would close it on a
    later turn of this busy loop, and the worker would sit idle that long: a limit of this load
    generator, not of the server). wrk, which drives the hello rows, closes at once too.
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
            cookie, _, cookie_value = value.split(";", 1)[0].partition("=")
            cookies[cookie.strip()] = cookie_value.strip()
        else:
            headers[name] = value
    return status, headers, cookies


@dataclass
class Phase:
    """One measured run: the rate in its window, latencies, failures and the CPU it cost."""

    rate: float
    ok: int
    late: int  # finished after the window (or cut off by wrk): served, not counted in the rate
    seconds: float
    p50_ms: float
    p99_ms: float
    steps_p50_ms: dict[str, float]
    errors: dict[str, int]
    client_cpu_s: float
    cpu: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_wrk(cls, result: WrkResult, cpu: dict[str, float]) -> Phase:
        errors = {**result.not_ok, **{k: v for k, v in result.socket_errors.items() if v}}
        return cls(
            result.rate,
            result.ok,
            max(0, result.cut_off),
            result.seconds,
            result.p50_ms,
            result.p99_ms,
            {},
            errors,
            cpu["children_s"],
            cpu,
        )

    @property
    def server_cpu_ms(self) -> float | None:
        done = self.ok + self.late
        return (self.cpu["gunicorn_s"] + self.cpu["postgres_s"]) * 1000 / done if done else None

    def figures(self) -> dict[str, Any]:
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
            **per_op(self.cpu, self.ok + self.late, self.client_cpu_s, "op"),
            "machine_cpu_share": machine_share(self.cpu, self.client_cpu_s),
            **self.extra,
        }


class Clients:
    """The load generator's processes (spawned, so each starts clean), and phases measured with them."""

    def __init__(self, processes: int, key: lms.PlatformKey, settle) -> None:
        self.processes = max(1, processes)
        self.executor = ProcessPoolExecutor(self.processes, mp_context=get_context("spawn"))
        self.key, self.settle = key, settle
        self.launched: list[str] = []  # the learners the first launches made

    def close(self) -> None:
        self.executor.shutdown(cancel_futures=True)

    def phase(
        self,
        mode: str,
        server: Server,
        meter: CpuMeter,
        connections: int,
        seconds: float,
        prefix: str = "learner",
        pool: list[str] | None = None,
    ) -> Phase:
        """`connections` browsers for `seconds`, spread over the processes, until the server is idle."""
        pool = pool or []
        before = meter.snapshot()
        start_at = time.time() + 0.3
        futures = []
        for index in range(self.processes):
            share = connections // self.processes + (index < connections % self.processes)
            if not share:
                continue
            job = ClientJob(
                mode="hello" if mode == "hello" else "launch",
                host=server.host,
                port=server.port,
                concurrency=share,
                start_at=start_at,
                seconds=seconds,
                key_pem=self.key.private_pem if mode != "hello" else "",
                kid=self.key.kid,
                pool=pool[index :: self.processes],
                fresh_prefix=f"{prefix}-{index}",
            )
            futures.append(self.executor.submit(run_client, job))
        results = [f.result() for f in futures]
        self.settle()
        cpu = CpuMeter.delta(before, meter.snapshot())
        steps: dict[str, list[float]] = {}
        errors: Counter[str] = Counter()
        for result in results:
            for name, values in result["steps"].items():
                steps.setdefault(name, []).extend(values)
            errors.update(result["errors"])
            self.launched.extend(result["launched"])
        totals = steps.get("total", [])
        return Phase(
            rate=len(totals) / seconds,
            ok=len(totals),
            late=sum(r["late"] for r in results),
            seconds=seconds,
            p50_ms=percentile(totals, 50),
            p99_ms=percentile(totals, 99),
            steps_p50_ms={name: percentile(v, 50) for name, v in steps.items() if name != "total" and v},
            errors=dict(errors),
            client_cpu_s=sum(r["cpu_s"] for r in results),
            cpu=cpu,
            extra={"pool": len(pool)} if pool else {},
        )
