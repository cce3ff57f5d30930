"""The load test's simulated people, for locust (bench/load.py starts it; not meant to run alone).

Configuration: the JSON file named by LOAD_CONFIG (written by bench/load.py): the two app
instances, the LMS's issuer, client id, deployment, signing key and claims, the course's lessons,
the question bank's answer key, the HR accounts, think times, and the folder for the results.

- `Learner` (every user but the HR ones): in a loop, a NEW learner each time, on one instance
  (users alternate between the two): the LMS's login initiation (POST /lti/login), the id_token
  the LMS would sign for the nonce the tool chose (signed here with the LMS's key, as
  bench/launch.py does), the launch (POST /lti/launch), "continue", every lesson (page, then
  "done"), the attestation (page, then signed with the learner's name), the quiz's start page, an
  attempt (its page parsed for the drawn questions, the CSRF token and the signed snapshot),
  answered from the bank (a --fail-share of learners fail their first attempt on purpose, then
  pass the second), the submit and its result page. Pauses of --think seconds (0.5-1.5x) between
  pages.
- `Staff` (--hr-users of them, fixed): sign in once, then the console's dashboard, the learners
  table and a CSV export of it, with pauses of --hr-think seconds.

Every request is checked (status, and a marker on the pages that matter); an unexpected answer is
a failure and ends that learner's journey. Each request carries `X-Bench-Step: <its name>` so
that the servers' cost accounting (bench/harness/loadapp.py) uses the same names. When the
process quits it writes `results-<pid>.json`: every request (end time, name, ms, ok), the
failures, each journey (learner, instance, how far it got, passed or not), the exports, and the
moments the users were all spawned and the run time ended.

No product code is imported here: locust's gevent patches the standard library, and the app
runs in gunicorn, not in this process.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
from collections import Counter
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import gevent
import jwt
from cryptography.hazmat.primitives import serialization
from locust import FastHttpUser, constant, events, task

CONFIG: dict[str, Any] = json.loads(Path(os.environ["LOAD_CONFIG"]).read_text())
KEY = serialization.load_pem_private_key(CONFIG["key_pem"].encode(), password=None)  # loaded once
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FIRST = ["Ada", "Grace", "Alan", "Katherine", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia"]
LAST = ["Lovelace", "Hopper", "Turing", "Johnson", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
VALUE = re.compile(r'value="([^"]*)"')
DRAWN = re.compile(r'<input type="hidden" name="drawn" value="([^"]*)"')
QUESTION = re.compile(r'name="q-([^"]+)"')
PASSED = re.compile(r"You passed with (\d+)/100")
FAILED = re.compile(r"You scored (\d+)/100")

RESULTS: dict[str, Any] = {
    "requests": [],  # [end time, name, ms, ok]
    "failures": Counter(),
    "user_errors": Counter(),
    "journeys": [],
    "exports": [],  # [rows, bytes]
    "spawned_at": None,
    "stopping_at": None,
}
_users = itertools.count()
_staff = itertools.count()


class StepFailed(Exception):
    pass


@events.request.add_listener
def _record(name, response_time, exception, **_kwargs) -> None:
    RESULTS["requests"].append([time.time(), name, round(response_time, 3), exception is None])
    if exception is not None:
        RESULTS["failures"][f"{name}: {str(exception)[:160]}"] += 1


@events.user_error.add_listener
def _user_error(user_instance, exception, tb, **_kwargs) -> None:
    RESULTS["user_errors"][f"{type(exception).__name__}: {str(exception)[:160]}"] += 1


@events.spawning_complete.add_listener
def _spawned(user_count, **_kwargs) -> None:
    RESULTS["spawned_at"] = RESULTS["spawned_at"] or time.time()


@events.test_stopping.add_listener
def _stopping(**_kwargs) -> None:
    RESULTS["stopping_at"] = RESULTS["stopping_at"] or time.time()


@events.quitting.add_listener
def _write(**_kwargs) -> None:
    out = Path(CONFIG["out"]) / f"results-{os.getpid()}.json"
    out.write_text(json.dumps({**RESULTS, "pid": os.getpid()}))


def csrf_token(page: str) -> str:
    tag = CSRF.search(page)
    value = VALUE.search(tag.group(0)) if tag else None
    if value is None:
        raise StepFailed("no CSRF token on the page")
    return unescape(value.group(1))


def pause(mean: float) -> None:
    if mean > 0:
        gevent.sleep(random.uniform(0.5 * mean, 1.5 * mean))


class Browser(FastHttpUser):
    """A browser's cookies, kept here: production's cookies are `Secure`, and locust's cookie jar
    stores them but never sends them back over plain http (locust 2.47 / geventhttpclient 2.6)."""

    abstract = True
    wait_time = constant(0)
    network_timeout = connection_timeout = 120.0

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.client.client.cookiejar = None  # the user agent's own jar: off
        self.jar: dict[str, str] = {}

    def keep_cookies(self, response: Any) -> None:
        headers = getattr(response, "headers", None)
        for value in (headers.get_all("set-cookie") or []) if headers is not None else []:
            pair, _, attributes = value.partition(";")
            name, _, content = pair.partition("=")
            attributes = attributes.lower()
            if not content or "max-age=0" in attributes or "1970" in attributes:
                self.jar.pop(name.strip(), None)
            else:
                self.jar[name.strip()] = content.strip()

    def step(self, method: str, path: str, name: str, expect: int, form: Any = None, marker: str = "") -> Any:
        """One request, checked: `expect`ed status and, on a 200, `marker` in the page."""
        body = urlencode(form) if form is not None else None
        headers = {"X-Bench-Step": name, **(FORM if body is not None else {})}
        if self.jar:
            headers["Cookie"] = "; ".join(f"{key}={value}" for key, value in self.jar.items())
        with self.client.request(
            method, path, name=name, data=body, headers=headers, allow_redirects=False, catch_response=True
        ) as response:
            self.keep_cookies(response)
            text = (response.text or "") if response.status_code == 200 else ""
            if response.status_code != expect or (marker and marker not in text):
                detail = (response.text or "")[:200].replace("\n", " ") if response.status_code else ""
                response.failure(f"answered {response.status_code}, expected {expect}: {detail}")
                raise StepFailed(name)
            response.success()
            return response

    @staticmethod
    def location(response: Any) -> str:
        target = urlsplit(response.headers.get("Location") or "")
        return target.path + (f"?{target.query}" if target.query else "")


class Learner(Browser):
    weight = 1

    def __init__(self, environment: Any) -> None:
        number = next(_users)
        self.host = CONFIG["hosts"][number % len(CONFIG["hosts"])]
        super().__init__(environment)
        self.number, self.journeys = number, 0
        self.rng = random.Random(f"{CONFIG['seed']}-{os.getpid()}-{number}")

    @task
    def journey(self) -> None:
        self.journeys += 1
        sub = f"load-{os.getpid()}-{self.number}-{self.journeys}"
        index = self.number * 7 + self.journeys
        first, last = FIRST[index % len(FIRST)], LAST[(index // len(FIRST)) % len(LAST)]
        person = {
            "sub": sub,
            "name": f"{first} {last}",
            "given_name": first,
            "family_name": last,
            "email": f"{first.lower()}.{last.lower()}.{sub}@acme.example",
        }
        record = {"sub": sub, "host": self.host, "stage": "login", "passed": False, "attempts": 0}
        RESULTS["journeys"].append(record)
        self.jar = {}  # a new learner: a browser of their own
        try:
            self.launch(person, record)
            self.learn(person, record)
            self.quiz(record)
            record["stage"] = "done"
        except StepFailed as exc:
            record["failed_step"] = str(exc)

    def launch(self, person: dict[str, str], record: dict[str, Any]) -> None:
        login = {
            "iss": CONFIG["issuer"],
            "login_hint": person["sub"],
            "target_link_uri": CONFIG["target_link_uri"],
            "lti_message_hint": json.dumps({"cmid": 7, "launchid": f"launch-{person['sub']}"}),
            "client_id": CONFIG["client_id"],
            "lti_deployment_id": CONFIG["deployment_id"],
        }
        answer = self.step("POST", "/lti/login", "launch: login", 302, login)
        auth = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers.get("Location") or "").query).items()}
        if "state" not in auth or "nonce" not in auth:
            raise StepFailed("launch: login gave no state or nonce")
        now = int(time.time())
        claims = {
            **CONFIG["claims"],
            **person,
            "iss": CONFIG["issuer"],
            "aud": CONFIG["client_id"],
            "iat": now,
            "exp": now + 300,
            "nonce": auth["nonce"],
        }
        id_token = jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": CONFIG["kid"]})
        record["stage"] = "launch"
        overview = f'data-address="/courses/{CONFIG["course"]}/"'
        self.step(
            "POST",
            "/lti/launch",
            "launch: id_token",
            200,
            {"id_token": id_token, "state": auth["state"]},
            overview,
        )

    def learn(self, person: dict[str, str], record: dict[str, Any]) -> None:
        base = f"/courses/{CONFIG['course']}"
        record["stage"] = "lessons"
        pause(CONFIG["think"])
        where = self.location(self.step("GET", f"{base}/continue", "continue", 302))
        for slug in CONFIG["lessons"]:
            if where != f"{base}/lessons/{slug}":
                raise StepFailed(f"lesson done: led to {where}, not to the lesson {slug}")
            page = self.step("GET", where, "lesson page", 200).text
            pause(CONFIG["think"])
            done = self.step(
                "POST", f"{where}/complete", "lesson done", 303, {"csrf_token": csrf_token(page)}
            )
            where = self.location(done)
        record["stage"] = "attestation"
        if where != f"{base}/attestation":
            raise StepFailed(f"the last lesson led to {where}, not to the attestation")
        page = self.step("GET", where, "attestation page", 200).text
        pause(CONFIG["think"])
        form = {"csrf_token": csrf_token(page), "confirm": "y", "typed_name": person["name"]}
        signed = self.step("POST", where, "attest", 303, form)
        start = self.location(self.step("GET", self.location(signed), "continue", 302))
        if start != f"/quiz/{CONFIG['course']}/":
            raise StepFailed(f"after the attestation, continue led to {start}, not to the quiz")

    def quiz(self, record: dict[str, Any]) -> None:
        course = CONFIG["course"]
        record["stage"] = "quiz"
        fail_first = self.rng.random() < CONFIG["fail_share"]
        for number in (1, 2, 3):
            page = self.step("GET", f"/quiz/{course}/", "quiz start page", 200).text
            pause(CONFIG["think"])
            token = {"csrf_token": csrf_token(page)}
            started = self.step("POST", f"/quiz/{course}/attempts", "quiz: start attempt", 303, token)
            attempt_path = self.location(started)
            page = self.step("GET", attempt_path, "quiz: attempt page", 200, marker='name="drawn"').text
            pause(CONFIG["think"])
            form = self.answers(page, right_only=not (fail_first and number == 1))
            record["stage"], record["attempts"] = "submitted", number
            submitted = self.step("POST", attempt_path, "quiz: submit", 303, form)
            result = self.step("GET", self.location(submitted), "quiz: result page", 200).text
            passed, failed = PASSED.search(result), FAILED.search(result)
            if passed:
                record.update(passed=True, score=int(passed.group(1)), attempt=attempt_path.rsplit("/", 1)[1])
                return
            if not failed:
                raise StepFailed("quiz: the result page says neither passed nor failed")
            if not (fail_first and number == 1):
                raise StepFailed(f"quiz: answered from the bank, yet scored {failed.group(1)}")
            record["stage"] = "quiz"
            pause(CONFIG["think"])  # reads the explanations, then tries again
        raise StepFailed("quiz: three attempts without a pass")

    def answers(self, page: str, *, right_only: bool) -> list[tuple[str, str]]:
        """The attempt page's form filled in: every drawn question answered right, or (to fail)
        only the first three right."""
        drawn = DRAWN.search(page)
        if drawn is None:
            raise StepFailed("quiz: the attempt page has no snapshot of the drawn questions")
        questions = list(dict.fromkeys(QUESTION.findall(page)))
        form = [("csrf_token", csrf_token(page)), ("drawn", unescape(drawn.group(1)))]
        for index, question in enumerate(questions):
            key = CONFIG["answers"].get(question)
            if key is None:
                raise StepFailed(f"quiz: question {question} is not in the answer key")
            chosen = key["right"] if right_only or index < 3 else key["wrong"]
            form += [(f"q-{question}", option) for option in chosen]
        return form


class Staff(Browser):
    fixed_count = CONFIG["hr_users"]

    def __init__(self, environment: Any) -> None:
        number = next(_staff)
        self.host = CONFIG["hosts"][number % len(CONFIG["hosts"])]
        super().__init__(environment)
        self.email = CONFIG["staff"][number % len(CONFIG["staff"])]
        self.signed_in = False

    def sign_in(self) -> None:
        self.jar = {}
        page = self.step("GET", "/login", "staff: sign-in page", 200).text
        form = {"csrf_token": csrf_token(page), "email": self.email, "password": CONFIG["password"]}
        self.step("POST", "/login", "staff: sign in", 302, form)
        self.signed_in = True

    def look(self, path: str, name: str, marker: str = "") -> Any:
        pause(CONFIG["hr_think"])
        try:
            if not self.signed_in:
                self.sign_in()
            return self.step("GET", path, name, 200, marker=marker)
        except StepFailed:
            self.signed_in = False  # sign in again next time
            return None

    @task(3)
    def dashboard(self) -> None:
        self.look("/console/", "console: dashboard")

    @task(2)
    def learners(self) -> None:
        self.look("/console/learners", "console: learners")

    @task(1)
    def export(self) -> None:
        answer = self.look("/console/learners/export.csv", "console: CSV export")
        if answer is not None:
            content = answer.content or b""
            RESULTS["exports"].append([max(0, content.count(b"\n") - 1), len(content)])
