"""Ralph (ralph-malph 5.1.0), a real learning record store, on 127.0.0.1 for the xAPI tests.

Ralph runs in its own virtualenv (tests/feeds/ralph/.venv, which test.sh makes when it is
missing: its pins would downgrade the project's click, starlette and httpx) with its file-system
backend, patched by tests/feeds/ralph/serve.py. One Ralph serves a pytest worker; each test signs
in as a user of its own whose statements live in a folder of their own (Ralph's per-user
`target`), so tests never see each other's statements although their ids repeat (every test
database numbers tenants and events from 1).
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

RALPH = Path(__file__).parent / "ralph"
RALPH_PYTHON = RALPH / ".venv" / "bin" / "python"
USERS = 80
PASSWORD = "lrs-password-for-tests"


@dataclass(frozen=True)
class LrsUser:
    server: RalphServer
    username: str

    @property
    def statements_url(self) -> str:
        return f"{self.server.url}/xAPI/statements"

    def statements(self, bearer: str | None = None, **params: str) -> list[dict[str, Any]]:
        """What the LRS answers GET /xAPI/statements with (every page), as this user or with a
        bearer token."""
        found: list[dict[str, Any]] = []
        url, query = self.statements_url, {"limit": "100", **params}
        headers = {"X-Experience-API-Version": "1.0.3"}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        while True:
            answer = requests.get(
                url,
                params=query,
                auth=None if bearer else (self.username, PASSWORD),
                timeout=10,
                headers=headers,
            )
            answer.raise_for_status()
            page = answer.json()
            found += page["statements"]
            if not page.get("more"):
                return found
            url, query = self.server.url + page["more"], {}

    def statement(self, statement_id: str) -> dict[str, Any] | None:
        credentials = (self.username, PASSWORD)
        answer = requests.get(
            self.statements_url, params={"statementId": statement_id}, auth=credentials, timeout=10
        )
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        body = answer.json()
        return body["statements"][0] if "statements" in body else body


class RalphServer:
    def __init__(self, folder: Path, env: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.env = env or {}
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._names = itertools.count(1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RalphServer:
        if not RALPH_PYTHON.exists():
            raise RuntimeError(
                "Ralph's virtualenv is missing: run ./test.sh once, or "
                f"python3 -m venv {RALPH / '.venv'} && {RALPH_PYTHON.parent / 'pip'} install -r "
                f"{RALPH / 'requirements.txt'}"
            )
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        auth = self.folder / "auth.json"
        if not auth.exists():
            subprocess.run(
                [RALPH_PYTHON, RALPH / "serve.py", "users", auth, data, str(USERS), PASSWORD],
                check=True,
            )
        self.port = _free_port()
        env = {**os.environ, "RALPH_AUTH_FILE": str(auth), "RALPH_APP_DIR": str(self.folder), **self.env}
        with (self.folder / "ralph.log").open("ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [str(RALPH_PYTHON), str(RALPH / "serve.py"), str(self.port), str(data)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/__heartbeat__", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Ralph did not start: see {self.folder / 'ralph.log'}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def user(self) -> LrsUser:
        return LrsUser(self, f"lrs-{next(self._names)}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
