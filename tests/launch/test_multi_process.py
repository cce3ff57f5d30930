"""Two app processes behind one public URL, sharing PostgreSQL: the OIDC login answered by one and
the launch by the other still works, a replay is refused by either, and simultaneous first
launches spread over both all succeed.

Each process is `gunicorn -w 1 wsgi:app` (its own memory, its own connection pool) with the same
SECRET_KEY and TRAINING_PUBLIC_URL, as instances behind a load balancer are. The test plays the
browser with one requests.Session: both processes are on 127.0.0.1, and cookies ignore the port,
so the state cookie set by one process and the session cookie set by the other travel to both,
exactly as they would through the load balancer's single host name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from courses.models import Enrolment
from lti.models import GradeTarget, LaunchState, ResourceLink
from tests.launch.conftest import ORIENTATION, landed_on, learner, learner_claims
from tests.lti_platform import Platform
from tests.lti_platform.html_forms import parse_form
from training_app.extensions import db
from training_app.models import User

pytestmark = pytest.mark.postgresql_only

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_URL = "http://training.postwise.localhost:8443"  # the load balancer; never contacted here
START_TIMEOUT = 90  # seconds for a process to answer /healthz (a loaded 2-core machine is slow)
REQUEST_TIMEOUT = 30
STOP_TIMEOUT = 15


class ToolProcess:
    """`gunicorn -w 1 wsgi:app` on 127.0.0.1:<free port>, its output in a log file (`workers` and
    `app_module`: what tests/infra/test_metrics.py and tests/faults need instead)."""

    def __init__(
        self, name: str, env: dict[str, str], log_dir: Path, *, workers: int = 1, app_module: str = "wsgi:app"
    ) -> None:
        self.name, self.env, self.log_dir, self.workers, self.app_module = (
            name,
            env,
            log_dir,
            workers,
            app_module,
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self.url = ""

    def spawn(self) -> ToolProcess:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = self.log_dir / f"{self.name}-{port}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--workers",
                    str(self.workers),
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--timeout",
                    "120",
                    "--graceful-timeout",
                    "5",
                    "--no-control-socket",
                    self.app_module,
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self) -> ToolProcess:
        """Poll /healthz; respawn on another port if the chosen one was taken meanwhile."""
        for _ in range(3):
            if self._wait_ready():
                return self
            self.terminate()
            self.wait()
            if "already in use" not in self.log():
                break
            self.spawn()
        raise AssertionError(f"process {self.name} did not start:\n{self.log()[-4000:]}")

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.1)
        return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def tool_env(app, tmp_path) -> dict[str, str]:
    """What both processes get: the test database, the same secret key, one public URL."""
    instance = tmp_path / "instance-processes"
    instance.mkdir()
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "TRAINING_CONFIG": "testing",
        "TRAINING_OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",  # the receiver and the LMS emulator
        "TRAINING_PUBLIC_URL": PUBLIC_URL,
        "TRAINING_INSTANCE_PATH": str(instance),
        "TRAINING_LOG_LEVEL": "WARNING",
        "TRAINING_DB_POOL_SIZE": "2",
    }


@pytest.fixture
def two_processes(tool_env, tmp_path) -> Iterator[tuple[ToolProcess, ToolProcess]]:
    processes = (ToolProcess("a", tool_env, tmp_path), ToolProcess("b", tool_env, tmp_path))
    try:
        for process in processes:  # both start at once: half the wait on a slow machine
            process.spawn()
        for process in processes:
            process.wait_ready()
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()


@pytest.fixture
def browser() -> Iterator[requests.Session]:
    session = requests.Session()
    yield session
    session.close()


def login_at(process: ToolProcess, browser: requests.Session, platform: Platform, claims) -> dict[str, str]:
    """The LMS's login initiation answered by `process`; the query of the redirect to /auth."""
    initiation = platform.initiate_login(claims)
    assert initiation.url == f"{PUBLIC_URL}/lti/login"  # what the LMS has registered
    response = browser.post(
        f"{process.url}/lti/login", data=initiation.params, allow_redirects=False, timeout=REQUEST_TIMEOUT
    )
    assert response.status_code == 302, _explain(response, process)
    location = response.headers["Location"]
    assert location.startswith(platform.auth_url)
    params = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    assert params["redirect_uri"] == f"{PUBLIC_URL}/lti/launch"
    assert browser.cookies.get(f"lti1p3-{params['state']}") == params["state"]
    params["auth_url"] = location
    return params


def authorize(browser: requests.Session, auth_url: str) -> dict[str, str]:
    """The platform's /auth answers the auto-posting form (id_token + state) to the public URL."""
    page = browser.get(auth_url, allow_redirects=False, timeout=REQUEST_TIMEOUT)
    form = parse_form(page.text)
    assert form is not None and "id_token" in form.fields, page.text[:500]
    assert form.action == f"{PUBLIC_URL}/lti/launch"
    return form.fields


def post_launch(process: ToolProcess, browser: requests.Session, fields: dict[str, str]) -> requests.Response:
    return browser.post(
        f"{process.url}/lti/launch", data=fields, allow_redirects=False, timeout=REQUEST_TIMEOUT
    )


def _explain(response: requests.Response, process: ToolProcess) -> str:
    return (
        f"{response.status_code} {response.text[:1000]}\n--- {process.name} log ---\n{process.log()[-3000:]}"
    )


def launch_state_keys(app) -> set[str]:
    with app.app_context():
        keys = set(db.session.scalars(select(LaunchState.key)))
        db.session.rollback()
    return keys


def test_login_on_one_process_and_launch_on_another_share_the_launch_state(
    app, registered, two_processes, browser
):
    a, b = two_processes
    registered.use_tool(PUBLIC_URL)
    claims = learner_claims(registered, user=learner("u-ada"))

    login = login_at(a, browser, registered, claims)
    state = login["state"]
    # A wrote the login record (its state and nonce) where B can read it: the shared database.
    assert f"login-{state}" in launch_state_keys(app)

    fields = authorize(browser, login["auth_url"])
    launched = post_launch(b, browser, fields)
    assert launched.status_code == 200, _explain(launched, b)
    overview_path = landed_on(launched.text)
    assert overview_path == f"/courses/{ORIENTATION}/"
    assert browser.cookies.get("session"), "B signed the learner in"
    # B consumed the login record in the shared database: it cannot be used again anywhere.
    assert f"login-{state}" not in launch_state_keys(app)

    # A trusts B's session cookie (same SECRET_KEY) and renders the course for the learner B signed in.
    page = browser.get(f"{a.url}{overview_path}", allow_redirects=False, timeout=REQUEST_TIMEOUT)
    assert page.status_code == 200, _explain(page, a)
    assert "Start the course" in page.text

    # The same id_token and state replayed to A after B accepted them: refused, nothing written.
    replay = post_launch(a, browser, fields)
    assert replay.status_code == 401, _explain(replay, a)
    assert "This launch has already been used" in replay.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1
        assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 1
        assert db.session.scalar(select(User.subject)) == "u-ada"


def test_the_other_way_round_and_a_replay_to_the_accepting_process(app, registered, two_processes, browser):
    a, b = two_processes
    registered.use_tool(PUBLIC_URL)
    claims = learner_claims(registered, user=learner("u-grace", "Grace", "Hopper"))

    login = login_at(b, browser, registered, claims)
    fields = authorize(browser, login["auth_url"])
    launched = post_launch(a, browser, fields)
    assert launched.status_code == 200, _explain(launched, a)
    overview_path = landed_on(launched.text)
    page = browser.get(f"{b.url}{overview_path}", allow_redirects=False, timeout=REQUEST_TIMEOUT)
    assert page.status_code == 200 and "Start the course" in page.text, _explain(page, b)

    for process in (b, a):  # refused by the process that never saw it and by the one that accepted it
        replay = post_launch(process, browser, fields)
        assert replay.status_code == 401, _explain(replay, process)
        assert "This launch has already been used" in replay.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_simultaneous_first_launches_on_both_processes_all_succeed(app, registered, two_processes):
    """A new LMS activity: its learners click it at the same moment, and one of them in two tabs.

    The first launches race to create the activity's resource link (and the double-clicking
    learner's two launches race to create the learner, the enrolment and the grade target) in two
    processes at once; every launch must still succeed, and every row exist once.
    """
    a, b = two_processes
    registered.use_tool(PUBLIC_URL)
    # (learner, process answering the login, process answering the launch)
    plans = [(learner(f"u-{n}", f"Learner{n}", "Tester"), *((a, b) if n % 2 else (b, a))) for n in range(6)]
    plans.append((plans[0][0], a, b))  # u-0's second tab, launched on the other process
    browsers = [requests.Session() for _ in plans]
    launches = []
    try:
        for (person, login_process, launch_process), browser in zip(plans, browsers, strict=True):
            login = login_at(login_process, browser, registered, learner_claims(registered, user=person))
            launches.append((browser, authorize(browser, login["auth_url"]), launch_process))
        start = threading.Barrier(len(launches))

        def launch(item) -> requests.Response:
            browser, fields, process = item
            start.wait(timeout=REQUEST_TIMEOUT)
            return post_launch(process, browser, fields)

        with ThreadPoolExecutor(len(launches)) as pool:
            answers = list(pool.map(launch, launches))
    finally:
        for browser in browsers:
            browser.close()
    for answer, (_, _, process) in zip(answers, launches, strict=True):
        assert answer.status_code == 200, _explain(answer, process)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 6
        assert db.session.scalar(select(func.count()).select_from(Enrolment)) == 6
        assert db.session.scalar(select(func.count()).select_from(ResourceLink)) == 1
        assert db.session.scalar(select(func.count()).select_from(GradeTarget)) == 6
        assert db.session.scalar(select(func.count()).select_from(LaunchState)) == 0
