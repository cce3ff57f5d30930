"""wrk, driven with `wrk.lua` beside this file: a fixed request, or a file of requests each sent once."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("wrk.lua")


def require_wrk() -> str:
    """wrk's path; without it the benchmark stops here (it installs nothing itself)."""
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is not installed: install it with `apt-get install -y wrk` (as root), then run again")
    return found


def succeeded(status: str) -> bool:
    """A page (2xx) or a graded submit's redirect to its result (303, post/redirect/get)."""
    return status.startswith("2") or status == "303"


@dataclass
class WrkResult:
    label: str
    requests: int  # completed responses (wrk's count)
    ok: int  # responses that succeeded()
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    statuses: dict[str, int]
    markers: dict[str, int]
    sent_per_thread: list[int]  # by thread id
    answered: int
    exhausted: bool
    socket_errors: dict[str, int]

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def not_ok(self) -> dict[str, int]:
        return {code: n for code, n in self.statuses.items() if not succeeded(code)}

    @property
    def cut_off(self) -> int:
        """Requests sent but not answered before wrk stopped (the server may still finish them)."""
        return sum(self.sent_per_thread) - self.answered

    @property
    def served(self) -> int:
        """Requests the server completed: the answered ones and those wrk cut off."""
        return self.ok + max(self.cut_off, 0)

    def figures(self) -> dict[str, Any]:
        return {
            "req_per_s": round(self.rate, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p90_ms": round(self.p90_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "ok_responses": self.ok,
            "not_ok": self.not_ok,
            "socket_errors": {k: v for k, v in self.socket_errors.items() if v},
            "seconds": round(self.seconds, 2),
        }


class Wrk:
    """Runs wrk against `base_url`; `settle()` after each run waits until the server is idle again
    (when wrk stops, the requests it cut off are still queued in gunicorn)."""

    def __init__(
        self,
        binary: str,
        folder: Path,
        threads: int,
        settle: Callable[[], None],
        user_agent: str,
        markers: dict[str, str] | None = None,
    ) -> None:
        self.binary, self.folder, self.threads, self.settle = binary, folder, threads, settle
        self.base_url = ""
        self.head = [user_agent, ",".join(f"{k}={v}" for k, v in (markers or {}).items())]
        self.runs = 0

    def threads_for(self, connections: int) -> int:
        return min(self.threads, connections)

    def fixed(
        self, label: str, method: str, path: str, connections: int, seconds: float, body: str = ""
    ) -> WrkResult:
        return self._run(label, ["fixed", *self.head, method, path, body], connections, seconds)

    def walk(self, label: str, lines: list[str], connections: int, seconds: float) -> WrkResult:
        """Send each of `lines` (path, cookie, body) at most once; wrk thread t takes lines t, t+n..."""
        data = self.folder / "requests.tsv"
        data.write_text("".join(line + "\n" for line in lines))
        threads = str(self.threads_for(connections))
        return self._run(label, ["file", *self.head, str(data), threads], connections, seconds)

    def _run(self, label: str, args: list[str], connections: int, seconds: float) -> WrkResult:
        self.runs += 1
        command = [self.binary, "-t", str(self.threads_for(connections)), "-c", str(connections)]
        command += ["-d", f"{max(1, round(seconds))}s", "--timeout", "10s", "--latency"]
        command += ["-s", str(SCRIPT), self.base_url, "--", *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        self.settle()
        log = self.folder / f"wrk-{self.runs:02d}-{label.split()[0]}.txt"
        log.write_text(done.stdout + done.stderr)
        line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
        if done.returncode != 0 or line is None:
            sys.exit(
                f"wrk failed ({done.returncode}); see {log}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        return parse(label, json.loads(line.removeprefix("BENCH_JSON ")))


def parse(label: str, raw: dict[str, Any]) -> WrkResult:
    """The BENCH_JSON line that wrk.lua's done() prints, summed over wrk's threads."""
    threads = sorted(raw["threads"].values(), key=lambda t: t["tid"])
    statuses: Counter[str] = Counter()
    markers: Counter[str] = Counter()
    for thread in threads:
        statuses.update({k: int(v) for k, v in (thread.get("statuses") or {}).items()})
        markers.update({k: int(v) for k, v in (thread.get("markers") or {}).items()})
    latency = raw["latency_us"]
    return WrkResult(
        label=label,
        requests=int(raw["requests"]),
        ok=sum(n for code, n in statuses.items() if succeeded(code)),
        seconds=raw["duration_us"] / 1e6,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        statuses=dict(statuses),
        markers=dict(markers),
        sent_per_thread=[int(t["sent"]) for t in threads],
        answered=sum(int(t["answered"]) for t in threads),
        exhausted=any(int(t["exhausted"]) for t in threads),
        socket_errors={k: int(v) for k, v in raw["errors"].items()},
    )
