"""Learners in front of real app processes (gunicorn subprocesses), for the fault tests that kill or
starve those processes: each learner is a browser (a requests.Session with the session cookie a
launch leaves and the page's CSRF token) that starts a quiz attempt and submits its answers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import requests
from flask import Flask

from tests.helpers import csrf_from
from tests.journeys import COURSE, answer_key
from tests.live_server import learner_session_cookie

REQUEST_TIMEOUT = 60


def process_env(app: Flask, instance: Path, **extra: str) -> dict[str, str]:
    """What an app or worker process of the test gets: the app's database and secret key."""
    instance.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "TRAINING_CONFIG": "testing",
        "TRAINING_OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
        "TRAINING_INSTANCE_PATH": str(instance),
        "TRAINING_LOG_LEVEL": "WARNING",
        "TRAINING_DB_POOL_SIZE": "2",
    }
    env.update(extra)
    return env


@dataclass
class LiveLearner:
    """A signed-in learner's browser against `base_url`."""

    app: Flask
    base_url: str
    user_id: int
    browser: requests.Session = field(default_factory=requests.Session)
    csrf: str = ""
    attempt_id: int = 0
    form: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.browser.cookies.set(
            "session", learner_session_cookie(self.app, self.user_id), domain="127.0.0.1"
        )

    def start_attempt(self) -> LiveLearner:
        self.csrf = csrf_from(self.browser.get(f"{self.base_url}/login", timeout=REQUEST_TIMEOUT).text)
        started = self.browser.post(
            f"{self.base_url}/quiz/{COURSE}/attempts",
            data={"csrf_token": self.csrf},
            allow_redirects=False,
            timeout=REQUEST_TIMEOUT,
        )
        assert started.status_code == 303, started.text[:500]
        self.attempt_id = int(started.headers["Location"].rsplit("/", 1)[1])
        self.form = {"csrf_token": self.csrf, **answer_key(self.app, self.attempt_id, right=9)}
        return self

    def submit(self) -> requests.Response:
        """The attempt page's form, posted (not followed: a graded submit answers 303)."""
        return self.browser.post(
            f"{self.base_url}/quiz/attempts/{self.attempt_id}",
            data=self.form,
            allow_redirects=False,
            timeout=REQUEST_TIMEOUT,
        )

    def result_page(self) -> requests.Response:
        return self.browser.get(f"{self.base_url}/quiz/attempts/{self.attempt_id}", timeout=REQUEST_TIMEOUT)

    def close(self) -> None:
        self.browser.close()
