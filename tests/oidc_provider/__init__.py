"""A real OpenID Connect provider for the tests: node's `oidc-provider` (pinned in package.json,
installed with `npm ci --prefix tests/oidc_provider`), started on 127.0.0.1 by `OidcProvider`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

HERE = Path(__file__).resolve().parent
CLIENT_ID = "postwise-tests"
CLIENT_SECRET = "client-secret-for-the-tests-only"
START_TIMEOUT = 20.0


@dataclass
class OidcProvider:
    """One provider process; `login_as` chooses the account the next sign-in authenticates."""

    redirect_uris: list[str]
    claims_in_id_token: bool = False
    issuer: str = ""
    process: subprocess.Popen[str] | None = None
    log: Any = None

    def start(self) -> OidcProvider:
        node = shutil.which("node")
        if node is None or not (HERE / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(
                "The single sign-on tests need node and oidc-provider: run "
                "`npm ci --prefix tests/oidc_provider` (test.sh does it when node_modules is missing)."
            )
        env = {
            **os.environ,
            "OIDC_CLIENT": json.dumps(
                {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": self.redirect_uris}
            ),
        }
        if self.claims_in_id_token:
            env["OIDC_CLAIMS_IN_ID_TOKEN"] = "1"
        # Its warnings and errors, shown if it fails to start; closed by stop().
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        self.process = subprocess.Popen(
            [node, str(HERE / "provider.mjs")],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # {"issuer": ...} once it listens
        if not line:
            output = self.output()
            self.stop()
            raise RuntimeError(f"oidc-provider did not start: {output}")
        self.issuer = json.loads(line)["issuer"]
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        if self.log:
            self.log.close()

    def output(self) -> str:
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read()

    def login_as(self, sub: str, email: str | None, **claims: Any) -> None:
        """The next sign-in authenticates this account with these claims (email_verified: True
        unless given)."""
        body = {"sub": sub, "email": email, **claims}
        body.setdefault("email_verified", True)
        body = {name: value for name, value in body.items() if value is not None}
        response = requests.post(f"{self.issuer}/_test/login-as", json=body, timeout=5)
        response.raise_for_status()

    def authorize(self, authorization_url: str, until: str) -> str:
        """What a browser does at the provider: follow its redirects (sign-in and consent happen
        without a form) until one goes to `until`; returns that URL (the app's callback)."""
        url = authorization_url
        with requests.Session() as browser:
            for _ in range(10):
                response = browser.get(url, allow_redirects=False, timeout=10)
                if response.status_code not in (302, 303):
                    answer = f"{response.status_code}: {response.text[:500]}"
                    raise AssertionError(f"the provider answered {answer}")
                url = urljoin(url, response.headers["Location"])
                if url.startswith(until):
                    return url
        raise AssertionError("the provider never redirected back to the app")
