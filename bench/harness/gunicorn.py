"""gunicorn serving bench/benchapp.py (or another app spec) on a free port of 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.database import PUBLIC_URL

ROOT = Path(__file__).resolve().parents[2]
BENCHAPP = "benchapp:build_app()"


def server_env(database_url: str, folder: Path, secret_key: str = "", **extra: str) -> dict[str, str]:
    """The environment of a production server on the bench database (this process's, plus these)."""
    return {
        **os.environ,
        "TRAINING_CONFIG": "production",
        "SECRET_KEY": secret_key or secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "TRAINING_LOG_LEVEL": "WARNING",
        "TRAINING_PUBLIC_URL": PUBLIC_URL,
        "TRAINING_INSTANCE_PATH": str(folder / "instance"),
        **extra,
    }


@dataclass(frozen=True)
class Server:
    url: str
    host: str
    port: int
    pid: int  # gunicorn's master: its process tree is what CpuMeter counts
    log: Path  # gunicorn's log and the app's (JSON lines on stderr)

    def errors(self) -> dict[str, int]:
        """The app's ERROR log lines, counted by message and the first line of the error."""
        found: Counter[str] = Counter()
        for line in self.log.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("level") in ("ERROR", "CRITICAL"):
                if record.get("error"):  # a database error: its first line and where it happened
                    lines = record["error"].strip().splitlines()
                    detail = [lines[0], next((x for x in lines if x.startswith("CONTEXT:")), "")]
                else:  # an exception: its last line
                    detail = (record.get("exc_info") or "").strip().splitlines()[-1:]
                error = ": ".join(filter(None, [record.get("message"), *detail]))
                found[re.sub(r"tuple \(\d+,\d+\)", "tuple", error)] += 1
        return dict(found.most_common())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(
    workers: int, env: dict[str, str], folder: Path, app_spec: str = BENCHAPP, threads: int = 1
) -> Iterator[Server]:
    """gunicorn with `env` as its whole environment, until it answers /bench/hello; stopped after."""
    port = free_port()
    command = [str(ROOT / ".venv" / "bin" / "gunicorn"), "--workers", str(workers)]
    command += ["--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT)]
    command += ["--pythonpath", f"{ROOT},{ROOT / 'bench'}", "--timeout", "60"]
    command += ["--no-control-socket", "--error-logfile", "-"]
    if threads > 1:
        command += ["--threads", str(threads)]
    command.append(app_spec)
    log_path = folder / f"server-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/bench/hello", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"gunicorn did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Server(url, "127.0.0.1", port, process.pid, log_path)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
