"""Benchmark: graded quiz submissions per second under gunicorn on PostgreSQL, against a raw INSERT.

    .venv/bin/python bench/quiz_submit.py [--learners 30000] [--workers 4] [--connections 32]
                                          [--duration 10] [--json] [--profile]

What it does, in one run:
  1. drops and recreates the database of --database-url (default postwise_bench on the local
     PostgreSQL), migrates it, publishes the courses and creates --learners learners of one tenant,
     each enrolled in the orientation, lessons done, policy attested and ONE open quiz attempt:
     the first learner through the real services, the others copied from its rows with their own
     ids, names, question draws and audit chain links (--setup services makes all of them
     through the services: slow);
  2. prepares one POST per learner answering its drawn questions (about --pass-share of them
     passing), with the learner's signed session cookie, a valid CSRF token and the signed
     snapshot of the drawn questions that the attempt page's form carries;
  3. serves bench/benchapp.py (the real app + /bench/hello and /bench/insert) with gunicorn
     (TRAINING_CONFIG=production) and drives it with wrk: hello, then the baseline (one INSERT +
     COMMIT per request), then the graded submits, same threads, connections and duration. The
     wrk Lua script gives every submit a different open attempt;
  4. checks in the database that each submit answered with 303 graded one attempt once, and prints req/s,
     p50 and p99 of each, and the ratio submit / baseline (target: >= 0.5x).

--profile adds two short passes on fresh attempts with fresh workers: every SQL statement of a
submit with its time and the worker's CPU time (and the same for the baseline insert), then
cProfile inside the gunicorn workers (bench/benchapp.py, BENCH_PROFILE). This is a benchmark, not
a test: the machine is noisy, compare figures from one run. The exit status is 1 only when the
figures are not valid (unexpected statuses, an attempt graded twice or not at all...).
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import benchapp  # noqa: E402
import psycopg  # noqa: E402
from cpu import CpuMeter  # noqa: E402
from flask import Flask, session  # noqa: E402
from flask_login import login_user  # noqa: E402
from flask_wtf.csrf import generate_csrf  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402
from psycopg.types.json import Jsonb  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from courses import publishing  # noqa: E402
from courses import services as learning  # noqa: E402
from courses.models import Completion, Enrolment  # noqa: E402
from quizzes import form_snapshot  # noqa: E402
from quizzes import services as quiz  # noqa: E402
from quizzes.demo import answers_to, ready_for_quiz  # noqa: E402
from quizzes.draw import draw_questions  # noqa: E402
from quizzes.models import QuizAttempt  # noqa: E402
from quizzes.published_banks import bank_for_version  # noqa: E402
from training_app import audit, audit_verification, create_app  # noqa: E402
from training_app.auth import services as accounts  # noqa: E402
from training_app.db import utcnow  # noqa: E402
from training_app.extensions import db  # noqa: E402
from training_app.models import AuditEvent, Tenant, User  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postwise_bench"
COURSE = "social-media-orientation"
ISSUER = "https://lms.bench.example"
USER_AGENT = "postwise-bench (wrk)"
FIRST_NAMES = ["Ada", "Grace", "Alan", "Katherine", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Johnson", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
DEPARTMENTS = ["Engineering", "Sales", "Marketing", "Finance", "People", "Support"]
TARGET_RATIO = 0.5
# The rows enrol + complete_lesson (each lesson) + attest + start_attempt write for one learner,
# which clone_learners() copies; lesson_progress is one row per lesson.
CLONED_ROWS_PER_LEARNER = {
    "users": 1,
    "enrolments": 1,
    "lesson_progress": 0,
    "attestations": 1,
    "audit_events": 1,
    "quiz_attempts": 1,
}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- wrk --------------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is not installed. Install it with: sudo apt-get install -y wrk")
    say("Installing wrk (apt-get install -y wrk)...")
    quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    if subprocess.run(["apt-get", "install", "-y", "wrk"], **quiet).returncode != 0:
        subprocess.run(["apt-get", "update"], check=True, **quiet)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, **quiet)
    return shutil.which("wrk") or sys.exit("wrk is still not on PATH after apt-get install")


# Each wrk thread has its own Lua state. Thread `tid` (0-based, given by setup()) takes the data
# file's lines i with i % nthreads == tid and sends each of them once, in order. When its lines run
# out it stops (and the run is void). Each run gets a file of the attempts no earlier run sent.
LUA_SCRIPT = r"""
local threads, counter = {}, 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local MARKERS = {already = "notice=already-submitted"}
local queue, cursor, fixed, fallback = {}, 0, nil, nil
sent, answered, exhausted, fallbacks = 0, 0, 0, 0
statuses, markers = {}, {}

function init(args)
  local ua = {["User-Agent"] = "%(user_agent)s"}
  fallback = wrk.format("GET", "/bench/hello", ua)
  if args[1] == "fixed" then
    local headers = {["User-Agent"] = ua["User-Agent"]}
    if args[4] ~= "" then headers["Content-Type"] = "application/x-www-form-urlencoded" end
    fixed = wrk.format(args[2], args[3], headers, args[4] ~= "" and args[4] or nil)
    return
  end
  local nthreads, i = tonumber(args[3]), 0
  for line in io.lines(args[2]) do
    if i %% nthreads == tid then
      local path, cookie, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)$")
      queue[#queue + 1] = wrk.format("POST", path, {
        ["User-Agent"] = ua["User-Agent"],
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Cookie"] = "session=" .. cookie,
      }, body)
    end
    i = i + 1
  end
end

function request()
  if fixed then
    sent = sent + 1
    return fixed
  end
  cursor = cursor + 1
  if cursor > #queue then
    exhausted = 1
    if wrk.thread then wrk.thread:stop() end
    return fallback
  end
  sent = sent + 1
  return queue[cursor]
end

function response(status, headers, body)
  if body == "hello" and not fixed then
    fallbacks = fallbacks + 1
    return
  end
  answered = answered + 1
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  local location = headers["Location"] or headers["location"]
  if location and not fixed then
    for name, marker in pairs(MARKERS) do
      if string.find(location, marker, 1, true) then markers[name] = (markers[name] or 0) + 1 end
    end
  end
end

local function encode(value)
  if type(value) == "table" then
    local parts = {}
    for k, v in pairs(value) do parts[#parts + 1] = string.format("%%q:%%s", tostring(k), encode(v)) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(value) == "number" then
    return string.format("%%.17g", value)
  elseif value == nil then
    return "null"
  end
  return string.format("%%q", tostring(value))
end

function done(summary, latency, requests)
  local out = {
    requests = summary.requests, duration_us = summary.duration, bytes = summary.bytes,
    errors = summary.errors,
    latency_us = {p50 = latency:percentile(50), p90 = latency:percentile(90),
                  p99 = latency:percentile(99), max = latency.max, mean = latency.mean},
    threads = {},
  }
  for i, thread in ipairs(threads) do
    out.threads[tostring(i)] = {
      tid = thread:get("tid"), sent = thread:get("sent"), answered = thread:get("answered"),
      exhausted = thread:get("exhausted"), fallbacks = thread:get("fallbacks"),
      statuses = thread:get("statuses"), markers = thread:get("markers"),
    }
  end
  io.write("BENCH_JSON " .. encode(out) .. "\n")
end
"""


def succeeded(status: str) -> bool:
    """A page (2xx) or a graded submit's redirect to its result (303, post/redirect/get)."""
    return status.startswith("2") or status == "303"


@dataclass
class WrkResult:
    label: str
    requests: int  # completed responses (wrk's count)
    ok: int  # 2xx responses, or the 303 that follows a graded submit
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
    def __init__(
        self, binary: str, base_url: str, folder: Path, threads: int, settle: Callable[[], None]
    ) -> None:
        self.binary, self.base_url, self.folder, self.threads = binary, base_url, folder, threads
        self.settle = settle
        self.script = folder / "bench.lua"
        self.script.write_text(LUA_SCRIPT % {"user_agent": USER_AGENT})
        self.runs = 0

    def fixed(
        self, label: str, method: str, path: str, connections: int, seconds: float, body: str = ""
    ) -> WrkResult:
        return self._run(label, ["fixed", method, path, body], connections, seconds)

    def walk(self, label: str, lines: list[str], connections: int, seconds: float) -> WrkResult:
        """Send each of `lines` (path, cookie, body) at most once; wrk thread t takes lines t, t+n..."""
        data = self.folder / "submits.tsv"
        data.write_text("".join(line + "\n" for line in lines))
        threads = self.threads_for(connections)
        return self._run(label, ["file", str(data), str(threads)], connections, seconds)

    def threads_for(self, connections: int) -> int:
        return min(self.threads, connections)

    def _run(self, label: str, args: list[str], connections: int, seconds: float) -> WrkResult:
        self.runs += 1
        command = [
            self.binary,
            "-t",
            str(self.threads_for(connections)),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(self.script),
            self.base_url,
            "--",
            *args,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        self.settle()  # the requests wrk cut off are still queued in gunicorn: let them finish
        log = self.folder / f"wrk-{self.runs:02d}-{label.split()[0]}.txt"
        log.write_text(done.stdout + done.stderr)
        line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
        if done.returncode != 0 or line is None:
            sys.exit(
                f"wrk failed ({done.returncode}); see {log}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        raw = json.loads(line.removeprefix("BENCH_JSON "))
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


# --- the database -----------------------------------------------------------------------------------


def admin_dsn(url: str) -> tuple[str, str]:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    return admin, parsed.database or ""


def recreate_database(url: str) -> None:
    admin, name = admin_dsn(url)
    if not name or name in ("postgres", "template0", "template1"):
        sys.exit(f"refusing to drop the database {name!r}: give --database-url a database of its own")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def raw_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# --- learners -------------------------------------------------------------------------------------


def learner_user(tenant: Tenant, index: int) -> User:
    """A learner as an LTI launch creates them (issuer + subject, name, email, department, locale)."""
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    last = LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]
    return User(
        tenant_id=tenant.id,
        issuer=ISSUER,
        subject=f"learner-{index:06d}",
        name=f"{first} {last}",
        email=f"{first.lower()}.{last.lower()}.{index}@acme.example",
        department=DEPARTMENTS[index % len(DEPARTMENTS)],
        locale="en",
    )


def learner_through_services(tenant: Tenant, index: int, rng: random.Random) -> QuizAttempt:
    """Enrolled, every lesson done, policy attested, quiz started: the real path, step by step."""
    user = learner_user(tenant, index)
    db.session.add(user)
    db.session.flush()
    enrolment = learning.enrol(user, COURSE, source="lti")
    ready_for_quiz(enrolment, user, ip_address="127.0.0.1", user_agent=USER_AGENT)
    return quiz.start_attempt(enrolment, user.locale, rng)


def _row(conn: psycopg.Connection, table: str, where: str, value: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT * FROM {table} WHERE {where} = %s ORDER BY id", [value]).fetchall()


def _next_id(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0]


def _copy(conn: psycopg.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([Jsonb(v) if isinstance(v, dict | list) else v for v in (row[c] for c in columns)])


def clone_learners(tenant: Tenant, template: QuizAttempt, count: int, rng: random.Random) -> None:
    """Copy the service-made learner `count` times: same rows, each with its own ids, name, draw, links.

    Every column keeps the template's value except the ones a second learner going through the
    services would get differently: ids and foreign keys, subject, name, email, department,
    typed name, timestamps (shifted to now), the question draw, and the audit event's actor,
    subject, sequence number and hash chain.
    """
    conn: psycopg.Connection = db.session.connection().connection.driver_connection
    user = _row(conn, "users", "id", template.user_id)[0]
    enrolment = _row(conn, "enrolments", "id", template.enrolment_id)[0]
    progress = _row(conn, "lesson_progress", "enrolment_id", template.enrolment_id)
    attestation = _row(conn, "attestations", "enrolment_id", template.enrolment_id)[0]
    [event] = [
        e
        for e in _row(conn, "audit_events", "tenant_id", tenant.id)
        if e["action"] == "attestation.signed" and e["subject_id"] == str(attestation["id"])
    ]
    attempt = _row(conn, "quiz_attempts", "id", template.id)[0]
    seq, head = conn.execute(
        "SELECT audit_seq, audit_head FROM tenants WHERE id = %s", [tenant.id]
    ).fetchone()
    ids = {
        t: _next_id(conn, t)
        for t in ("users", "enrolments", "lesson_progress", "attestations", "audit_events", "quiz_attempts")
    }
    _, version = publishing.course_by_slug(COURSE)
    bank = bank_for_version(version)
    base = user["created_at"]
    start = utcnow()
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def shifted(row: dict[str, Any], at: timedelta, **changes: Any) -> dict[str, Any]:
        out = dict(row)
        for key, value in row.items():
            if key.endswith("_at") and key != "due_at" and value is not None:
                out[key] = value + at
        out.update(changes)
        return out

    for index in range(1, count):
        at = start - base + timedelta(microseconds=index)
        person = learner_user(tenant, index)
        uid, eid, aid, qid = ids["users"], ids["enrolments"], ids["attestations"], ids["quiz_attempts"]
        tables["users"].append(
            shifted(
                user,
                at,
                id=uid,
                subject=person.subject,
                name=person.name,
                email=person.email,
                department=person.department,
            )
        )
        tables["enrolments"].append(shifted(enrolment, at, id=eid, user_id=uid))
        for row in progress:
            tables["lesson_progress"].append(shifted(row, at, id=ids["lesson_progress"], enrolment_id=eid))
            ids["lesson_progress"] += 1
        tables["attestations"].append(
            shifted(attestation, at, id=aid, user_id=uid, enrolment_id=eid, typed_name=person.name)
        )
        seq += 1
        new_event = shifted(
            event,
            at,
            id=ids["audit_events"],
            seq=seq,
            actor=f"learner:{uid}",
            subject_id=str(aid),
            prev_hash=head,
        )
        new_event["hash"] = head = audit.event_hash(AuditEvent(**new_event))
        tables["audit_events"].append(new_event)
        drawn = draw_questions(bank, rng)
        tables["quiz_attempts"].append(
            shifted(
                attempt,
                at,
                id=qid,
                user_id=uid,
                enrolment_id=eid,
                questions=[{"id": d.question_id, "options": list(d.option_order)} for d in drawn],
            )
        )
        for table in ("users", "enrolments", "attestations", "audit_events", "quiz_attempts"):
            ids[table] += 1
        if index % 10000 == 0:
            say(f"  {index} learners built")
    for table in ("users", "enrolments", "lesson_progress", "attestations", "audit_events", "quiz_attempts"):
        if tables[table]:
            _copy(conn, table, tables[table])
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    conn.execute("UPDATE tenants SET audit_seq = %s, audit_head = %s WHERE id = %s", [seq, head, tenant.id])


def set_up_learners(app: Flask, count: int, mode: str, seed: int) -> None:
    rng = random.Random(seed)
    with app.app_context():
        publishing.publish_all(material=True, actor="bench")
        tenant = accounts.create_tenant("acme", "Acme Corporation")
        db.session.commit()
        before = table_counts()
        template = learner_through_services(tenant, 0, rng)
        db.session.commit()
        if mode == "bulk":
            check_clone_covers(before, table_counts())
        if mode == "services":
            for index in range(1, count):
                learner_through_services(tenant, index, rng)
                if index % 500 == 0:
                    db.session.commit()
                    say(f"  {index} learners through the services")
        else:
            clone_learners(tenant, template, count, rng)
        db.session.commit()
        check_learners(tenant.id, count, rng)


def table_counts() -> Counter[str]:
    tables = db.session.scalars(
        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
    ).all()
    return Counter({t: db.session.scalar(text(f'SELECT count(*) FROM "{t}"')) for t in tables})


def check_clone_covers(before: Counter[str], after: Counter[str]) -> None:
    """The services wrote exactly the rows clone_learners copies; anything new would be missing."""
    _, version = publishing.course_by_slug(COURSE)
    expected = Counter(CLONED_ROWS_PER_LEARNER)
    expected["lesson_progress"] = len(version.lessons)
    written = after - before
    if written != expected:
        sys.exit(
            "the services now write other rows for a learner ready for the quiz than bench/quiz_submit.py "
            f"copies (written {dict(written)}, copied {dict(expected)}): teach clone_learners() about "
            "them, or run with --setup services"
        )


def check_learners(tenant_id: int, count: int, rng: random.Random) -> None:
    """The quiz service sees every sampled learner ready, with one open attempt; the audit chain holds."""
    db.session.expire_all()  # the bulk copy wrote beside the ORM
    open_attempts = db.session.scalar(select(func.count()).where(QuizAttempt.status == "open"))
    if open_attempts != count:
        sys.exit(f"setup made {open_attempts} open attempts for {count} learners")
    ids = db.session.scalars(select(Enrolment.id)).all()
    for enrolment_id in rng.sample(ids, min(25, len(ids))):
        standing = quiz.standing(db.session.get(Enrolment, enrolment_id))
        if standing.open_attempt is None or standing.remaining != standing.allowed or standing.passed:
            sys.exit(f"enrolment {enrolment_id} is not ready for the quiz as the services see it")
    report = audit_verification.verify_chain(db.session.get(Tenant, tenant_id))
    if report.problem:
        sys.exit(f"the audit chain made by the setup is broken: {report.problem}")
    db.session.rollback()


# --- requests -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    attempt_id: int
    passing: bool
    line: str  # path \t signed session cookie \t form body


def answer_form(bank, questions: list[dict[str, Any]], right: int) -> list[tuple[str, str]]:
    """The first `right` drawn questions answered correctly, the others with one wrong option."""
    answers = answers_to(bank, questions, right)
    return [(f"q-{question_id}", option) for question_id, options in answers.items() for option in options]


def prepare_requests(app: Flask, pass_share: float, seed: int) -> list[Prepared]:
    """One submit per open attempt, signed as the learner's browser would send it after a launch."""
    rng = random.Random(seed + 1)
    serializer = app.session_interface.get_signing_serializer(app)
    prepared = []
    with app.app_context():
        _, version = publishing.course_by_slug(COURSE)
        bank = bank_for_version(version)
        attempts = db.session.execute(
            select(
                QuizAttempt.id,
                QuizAttempt.user_id,
                QuizAttempt.questions,
                QuizAttempt.number,
                QuizAttempt.course_version_id,
                QuizAttempt.pass_mark,
            )
            .where(QuizAttempt.status == "open")
            .order_by(QuizAttempt.id)
        ).all()
        snapshots = [form_snapshot.sign(attempt, version.content_hash) for attempt in attempts]
        db.session.rollback()
    count = len(attempts[0].questions)
    for (attempt_id, user_id, questions, *_), snapshot in zip(attempts, snapshots, strict=True):
        environ = {"REMOTE_ADDR": "127.0.0.1"}
        with app.test_request_context("/", environ_base=environ, headers={"User-Agent": USER_AGENT}):
            login_user(User(id=user_id))
            token = generate_csrf()
            cookie = serializer.dumps(dict(session))
        passing = rng.random() < pass_share
        right = rng.choice([count - 1, count]) if passing else rng.randint(2, count - 3)
        form = [("csrf_token", token), *answer_form(bank, questions, right), (form_snapshot.FIELD, snapshot)]
        body = urlencode(form)
        prepared.append(Prepared(attempt_id, passing, f"/quiz/attempts/{attempt_id}\t{cookie}\t{body}"))
    return prepared


def sent_attempts(given: list[Prepared], sent_per_thread: list[int]) -> list[int]:
    """The attempts a wrk run sent: wrk thread t sends the first of the lines t, t+n, t+2n..."""
    threads = len(sent_per_thread)
    return [p.attempt_id for tid, sent in enumerate(sent_per_thread) for p in given[tid::threads][:sent]]


# --- gunicorn -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Served:
    url: str
    host: str
    port: int
    pid: int
    server: Server  # reads the app's ERROR lines from the log


@contextmanager
def serve_gunicorn(
    workers: int,
    env: dict[str, str],
    folder: Path,
    app_spec: str = "benchapp:build_app()",
    threads: int = 1,
) -> Iterator[Served]:
    """gunicorn on a free local port with `env` as its whole environment, until it answers hello."""
    port = free_port()
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        str(ROOT),
        "--pythonpath",
        f"{ROOT},{ROOT / 'bench'}",
        "--timeout",
        "60",
        "--no-control-socket",
        "--error-logfile",
        "-",
    ]
    if threads > 1:
        command += ["--threads", str(threads)]
    command.append(app_spec)
    log_path = folder / f"server-{port}.log"  # gunicorn's log and the app's (JSON lines on stderr)
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
        yield Served(url, "127.0.0.1", port, process.pid, Server(url, log_path))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def gunicorn(
    args: argparse.Namespace, env: dict[str, str], folder: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Served]:
    with serve_gunicorn(
        args.workers, {**os.environ, **env, **(extra_env or {})}, folder, threads=args.threads
    ) as served:
        yield served


@dataclass(frozen=True)
class Server:
    url: str
    log: Path

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


# --- verification -----------------------------------------------------------------------------------


def attempt_counts(app: Flask) -> Counter[str]:
    with app.app_context():
        rows = db.session.execute(select(QuizAttempt.status, func.count()).group_by(QuizAttempt.status)).all()
        db.session.rollback()
    return Counter(dict(rows))


def wait_until_idle(dsn: str, quiet_seconds: float = 1.0, limit: float = 120) -> None:
    """Wait until no other session on the database has been busy for `quiet_seconds`.

    When wrk stops, up to --connections requests are still queued in gunicorn's backlog or running;
    the workers finish them (the responses go nowhere). Measuring the next run, or counting the
    graded attempts, before they are done would mix runs up.
    """
    busy_sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND state IN "
        "('active', 'idle in transaction', 'idle in transaction (aborted)')"
    )
    deadline = time.monotonic() + limit
    with psycopg.connect(dsn, autocommit=True) as conn:
        quiet_since = None
        while time.monotonic() < deadline:
            if conn.execute(busy_sql).fetchone()[0]:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_seconds:
                return
            time.sleep(0.05)
    say(f"warning: the database was still busy {limit:g} s after the run")


def verify_submits(
    app: Flask,
    result: WrkResult,
    before: Counter[str],
    after: Counter[str],
    planned: dict[int, bool],
    sent: list[int],
) -> dict[str, Any]:
    graded = after["submitted"] - before["submitted"]
    expired = after["expired"] - before["expired"]
    sent_set = set(sent)
    with app.app_context():
        closed = db.session.execute(
            select(QuizAttempt.id, QuizAttempt.passed).where(QuizAttempt.status != "open")
        ).all()
        db.session.rollback()
    rows = [(attempt_id, passed) for attempt_id, passed in closed if attempt_id in sent_set]
    outcomes_as_planned = sum(1 for attempt_id, passed in rows if planned[attempt_id] == passed)
    problems = []
    if result.not_ok or any(result.socket_errors.get(k) for k in ("connect", "read", "write", "timeout")):
        problems.append(f"unexpected statuses {result.not_ok} or socket errors {result.socket_errors}")
    if not result.ok <= graded <= result.ok + result.cut_off:
        problems.append(f"{graded} attempts graded for {result.ok} 303 responses (+{result.cut_off} cut off)")
    if len(rows) != graded:
        problems.append(f"{graded} attempts graded during the run, but {len(rows)} of the attempts it sent")
    if expired or result.markers.get("already"):
        problems.append(f"{expired} expired / {result.markers.get('already', 0)} already-submitted answers")
    if outcomes_as_planned != len(rows):
        problems.append(f"only {outcomes_as_planned} of {len(rows)} outcomes as planned")
    if result.exhausted:
        problems.append("a wrk thread ran out of prepared attempts: raise --learners")
    return {
        "graded_in_db": graded,
        "ok_responses": result.ok,
        "cut_off_at_end": result.cut_off,
        "passed": sum(1 for _, passed in rows if passed),
        "failed": sum(1 for _, passed in rows if not passed),
        "outcomes_as_planned": outcomes_as_planned,
        "problems": problems,
    }


def verify_end_state(app: Flask, prepared: list[Prepared], sent_everywhere: set[int]) -> list[str]:
    """No attempt outside the ones sent was touched; one completion per pass; the audit chain holds."""
    problems = []
    with app.app_context():
        closed = set(db.session.scalars(select(QuizAttempt.id).where(QuizAttempt.status != "open")))
        if closed - sent_everywhere:
            problems.append(f"{len(closed - sent_everywhere)} attempts graded that no run sent")
        passed = db.session.scalar(select(func.count()).where(QuizAttempt.passed.is_(True)))
        completions = db.session.scalar(select(func.count()).select_from(Completion))
        if passed != completions:
            problems.append(f"{passed} passed attempts but {completions} completions")
        for tenant in db.session.scalars(select(Tenant)):
            report = audit_verification.verify_chain(tenant)
            if report.problem:
                problems.append(f"audit chain: {report.problem}")
        db.session.rollback()
    return problems


# --- profiling --------------------------------------------------------------------------------------

SELECT_COLUMNS = re.compile(r"^SELECT .*? FROM ", re.IGNORECASE)


def statement_label(statement: str) -> str:
    short = SELECT_COLUMNS.sub("SELECT … FROM ", statement)
    short = re.sub(r"\(%\(\w+\)s(?:::\w+)?(?:, %\(\w+\)s(?:::\w+)?)*\)", "(…)", short)
    short = re.sub(r"%\((\w+?)(?:_\d+)?\)s(::\w+)?", "?", short)
    return short if len(short) <= 150 else short[:147] + "..."


def sql_profile(folder: Path) -> dict[str, Any]:
    records = [
        json.loads(line) for path in folder.glob("requests-*.jsonl") for line in path.read_text().splitlines()
    ]
    submits = [r for r in records if r["method"] == "POST" and r["path"].startswith("/quiz/attempts/")]
    inserts = [r for r in records if r["path"] == "/bench/insert" and r["status"] == 200]
    out: dict[str, Any] = {}
    if inserts:
        out["baseline"] = {
            "requests": len(inserts),
            "statements": statistics.median(sum(s != "COMMIT" for s, _ in r["sql"]) for r in inserts),
            "request_ms": round(statistics.mean(r["ms"] for r in inserts), 2),
            "request_ms_p50": round(statistics.median(r["ms"] for r in inserts), 2),
            "cpu_ms": round(statistics.mean(r["cpu_ms"] for r in inserts), 2),
            "sql_ms": round(statistics.mean(sum(ms for _, ms in r["sql"]) for r in inserts), 2),
        }
    for outcome in ("passed", "failed"):
        group = [
            r
            for r in submits
            if r["status"] == 303  # graded, redirected to the result (post/redirect/get)
            and any("INSERT INTO completions" in s for s, _ in r["sql"]) == (outcome == "passed")
        ]
        if not group:
            continue
        shapes = Counter(tuple(s for s, _ in r["sql"]) for r in group)
        shape, _ = shapes.most_common(1)[0]
        typical = [r for r in group if tuple(s for s, _ in r["sql"]) == shape]
        steps = [
            {
                "statement": statement_label(s),
                "ms": round(statistics.mean(r["sql"][i][1] for r in typical), 3),
            }
            for i, s in enumerate(shape)
        ]
        out[outcome] = {
            "requests": len(group),
            "statements": sum(s != "COMMIT" for s in shape),
            "shapes": len(shapes),
            "request_ms": round(statistics.mean(r["ms"] for r in group), 2),
            "request_ms_p50": round(statistics.median(r["ms"] for r in group), 2),
            "cpu_ms": round(statistics.mean(r["cpu_ms"] for r in group), 2),
            "sql_ms": round(statistics.mean(sum(ms for _, ms in r["sql"]) for r in group), 2),
            "steps": steps,
        }
    return out


def load_profile(folder: Path, view_file: str, view_name: str) -> tuple[dict, int]:
    """The merged cProfile entries of every worker, and how many times the view ran."""
    files = sorted(folder.glob("cprofile-*.prof"))
    if not files:
        return {}, 0
    entries = pstats.Stats(*map(str, files)).stats  # type: ignore[attr-defined]
    runs = sum(
        nc for (file, _, name), (_, nc, *_r) in entries.items() if name == view_name and view_file in file
    )
    return entries, runs or 1


def profile_rows(entries: dict, runs: int, unit: str, limit: int = 30) -> dict[str, list[dict[str, Any]]]:
    """The top functions per run of the view, by cumulative and by own time."""

    def where(key: tuple[str, int, str]) -> str:
        file, line, name = key
        file = re.sub(r".*/site-packages/", "", file.replace(str(ROOT) + "/", ""))
        return f"{file}:{line} {name}" if line else name

    def rows(index: int) -> list[dict[str, Any]]:
        ranked = sorted(entries.items(), key=lambda item: item[1][index], reverse=True)[:limit]
        return [
            {
                "function": where(key),
                f"calls_per_{unit}": round(nc / runs, 1),
                "own_ms": round(tt / runs * 1000, 3),
                "cumulative_ms": round(ct / runs * 1000, 3),
            }
            for key, (_cc, nc, tt, ct, _callers) in ranked
        ]

    return {"by_cumulative": rows(3), "by_own_time": rows(2)}


def python_profile(folder: Path, limit: int = 30) -> dict[str, Any]:
    entries, submits = load_profile(folder, "views", "submit")
    if not entries:
        return {}
    return {"submits": submits, **profile_rows(entries, submits, "submit", limit)}


# --- the run ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="PostgreSQL database to DROP and recreate (default: %(default)s)",
    )
    parser.add_argument(
        "--learners",
        type=int,
        default=30000,
        help="learners with one open attempt each; one submit uses one (default: %(default)s)",
    )
    parser.add_argument(
        "--setup",
        choices=("bulk", "services"),
        default="bulk",
        help="bulk: copy one service-made learner (fast); services: every learner "
        "through the services (slow)",
    )
    parser.add_argument("--pass-share", type=float, default=0.5, help="share of passing submits")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (>1: gthread)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default: %(default)s)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per endpoint")
    parser.add_argument("--profile", action="store_true", help="then profile the submit path (SQL, cProfile)")
    parser.add_argument("--profile-seconds", type=float, default=4, help="seconds of each profiling pass")
    parser.add_argument(
        "--profile-connections",
        type=int,
        default=0,
        help="wrk connections while profiling (default: --connections; 1: the path without contention)",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--keep-temp", action="store_true", help="keep the temp folder (wrk and gunicorn logs)"
    )
    args = parser.parse_args()

    wrk_binary = ensure_wrk()
    folder = Path(tempfile.mkdtemp(prefix="postwise-bench-"))
    try:
        report = run(args, wrk_binary, folder)
    finally:
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


def run(args: argparse.Namespace, wrk_binary: str, folder: Path) -> dict[str, Any]:
    url = args.database_url
    secret_key = secrets.token_urlsafe(48)
    env = {
        "TRAINING_CONFIG": "production",
        "SECRET_KEY": secret_key,
        "DATABASE_URL": url,
        "TRAINING_LOG_LEVEL": "WARNING",
        "TRAINING_INSTANCE_PATH": str(folder / "instance"),
    }
    app = create_app(
        {
            "CONFIG": "production",
            "SECRET_KEY": secret_key,
            "DATABASE_URL": url,
            "LOG_LEVEL": "WARNING",
            "INSTANCE_PATH": str(folder / "instance"),
        }
    )

    say(f"Recreating {make_url(url).database} and migrating...")
    recreate_database(url)
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
    benchapp.create_bench_table(app)
    started = time.perf_counter()
    say(f"Creating {args.learners} learners ready for the quiz ({args.setup})...")
    set_up_learners(app, args.learners, args.setup, args.seed)
    with psycopg.connect(raw_dsn(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    setup_seconds = time.perf_counter() - started
    say(f"  done in {setup_seconds:.1f} s; preparing one signed submit per learner...")
    prepared = prepare_requests(app, args.pass_share, args.seed)
    planned = {p.attempt_id: p.passing for p in prepared}
    check_deadlines(app, args)

    wrk = Wrk(
        wrk_binary, "http://127.0.0.1:0/", folder, args.wrk_threads, lambda: wait_until_idle(raw_dsn(url))
    )
    threads, connections = wrk.threads_for(args.connections), args.connections
    sent_everywhere: set[int] = set()
    results: dict[str, WrkResult] = {}

    def walk(label: str, seconds: float, conns: int) -> tuple[WrkResult, list[int]]:
        """A wrk run on the attempts no earlier run sent."""
        fresh = [p for p in prepared if p.attempt_id not in sent_everywhere]
        result = wrk.walk(label, [p.line for p in fresh], conns, seconds)
        sent = sent_attempts(fresh, result.sent_per_thread)
        sent_everywhere.update(sent)
        return result, sent

    problems: list[str] = []
    cpu: dict[str, dict[str, float]] = {}
    with gunicorn(args, env, folder) as server:
        wrk.base_url = server.url + "/"
        say(f"Serving with gunicorn ({args.workers} workers) at {server.url}; warming up...")
        wrk.fixed("warm-up hello", "GET", "/bench/hello", connections, args.warmup)
        wrk.fixed("warm-up insert", "POST", "/bench/insert", connections, args.warmup, "note=bench")
        warm, _ = walk("warm-up submit", args.warmup, connections)
        if warm.not_ok or warm.exhausted:
            problems.append(f"warm-up submits: unexpected statuses {warm.not_ok}, exhausted {warm.exhausted}")
        say(f"Measuring: {args.duration:g} s each, {threads} wrk threads, {connections} connections")
        meter = CpuMeter(raw_dsn(url), server.pid)
        with metered(meter, cpu, "hello"):
            results["hello"] = wrk.fixed("hello", "GET", "/bench/hello", connections, args.duration)
        with metered(meter, cpu, "baseline"):
            results["baseline"] = wrk.fixed(
                "baseline", "POST", "/bench/insert", connections, args.duration, "note=bench"
            )
        before = attempt_counts(app)
        with metered(meter, cpu, "submit"):
            results["submit"], sent = walk("submit", args.duration, connections)
        after = attempt_counts(app)
    server_errors = server.server.errors()
    verification = verify_submits(app, results["submit"], before, after, planned, sent)
    problems += verification["problems"]
    if results["baseline"].not_ok:
        problems.append(f"baseline unexpected statuses: {results['baseline'].not_ok}")

    profile: dict[str, Any] = {}
    if args.profile:
        profile = run_profile(args, env, folder, wrk, walk)
    problems += verify_end_state(app, prepared, sent_everywhere)
    with app.app_context():
        db.engine.dispose()

    baseline, submit = results["baseline"], results["submit"]
    return {
        "config": {
            "database": make_url(url).database,
            "learners": args.learners,
            "setup": args.setup,
            "setup_seconds": round(setup_seconds, 1),
            "gunicorn_workers": args.workers,
            "gunicorn_threads": args.threads,
            "wrk_threads": threads,
            "connections": connections,
            "duration_s": args.duration,
            "pass_share": args.pass_share,
            "cpus": os.cpu_count(),
        },
        "hello": results["hello"].figures() | cpu_figures(cpu["hello"], results["hello"]),
        "baseline": baseline.figures() | cpu_figures(cpu["baseline"], baseline),
        "submit": submit.figures() | cpu_figures(cpu["submit"], submit),
        "ratio": round(submit.rate / baseline.rate, 3) if baseline.rate else None,
        "server_cpu_ratio": server_cpu_ratio(cpu, baseline, submit),
        "target_ratio": TARGET_RATIO,
        "verification": verification,
        "server_errors": server_errors,
        "profile": profile,
        "problems": problems,
    }


@contextmanager
def metered(meter: CpuMeter, into: dict[str, dict[str, float]], label: str) -> Iterator[None]:
    """The CPU a wrk run cost, up to the end of its settling (the server finishes what wrk cut off)."""
    before = meter.snapshot()
    yield
    into[label] = CpuMeter.delta(before, meter.snapshot())


def served_requests(result: WrkResult) -> int:
    """Requests the server completed for a run: the answered ones and those wrk cut off."""
    return result.ok + max(result.cut_off, 0)


def cpu_figures(cpu: dict[str, float], result: WrkResult) -> dict[str, Any]:
    served = served_requests(result) or 1
    return {
        "gunicorn_cpu_ms_per_request": round(cpu["gunicorn_s"] * 1000 / served, 3),
        "postgres_cpu_ms_per_request": round(cpu["postgres_s"] * 1000 / served, 3),
        "wrk_cpu_ms_per_request": round(cpu["children_s"] * 1000 / served, 3),
        "machine_busy_share": round(cpu["machine_busy_s"] / (cpu["machine_total_s"] or 1), 3),
    }


def server_cpu_ratio(
    cpu: dict[str, dict[str, float]], baseline: WrkResult, submit: WrkResult
) -> float | None:
    """Server CPU (gunicorn + PostgreSQL backends) per baseline insert / per submit: the ratio the
    throughput ratio would be if the server alone decided it (wrk and the rest of the machine left out)."""
    per_request = {
        label: (cpu[label]["gunicorn_s"] + cpu[label]["postgres_s"]) / (served_requests(result) or 1)
        for label, result in (("baseline", baseline), ("submit", submit))
    }
    return round(per_request["baseline"] / per_request["submit"], 3) if per_request["submit"] else None


def check_deadlines(app: Flask, args: argparse.Namespace) -> None:
    """Attempts started at setup must not pass their time limit before the last request."""
    needed = 3 * args.warmup + 3 * args.duration + (2 * args.profile_seconds if args.profile else 0) + 120
    with app.app_context():
        first = db.session.scalar(
            select(func.min(QuizAttempt.deadline_at)).where(QuizAttempt.status == "open")
        )
        db.session.rollback()
    if first is not None and (first - utcnow()).total_seconds() < needed:
        sys.exit(
            f"the first attempts' time limit ends at {first:%H:%M:%S} UTC, before the runs would end: "
            "use --setup bulk or fewer --learners"
        )


def run_profile(args, env, folder: Path, wrk: Wrk, walk) -> dict[str, Any]:
    """Two short passes on fresh attempts: SQL statements and times, then cProfile of the workers.

    Each pass warms its fresh workers up for a second before recording (bench/benchapp.py records
    while the file `recording` exists in its folder).
    """
    connections = args.profile_connections or args.connections
    passes = {}
    for name, extra in (("sql", {}), ("python", {"BENCH_CPROFILE": "1"})):
        target = folder / f"profile-{name}"
        target.mkdir(parents=True, exist_ok=True)
        say(f"Profiling: {name} pass ({args.profile_seconds:g} s, {connections} connections)...")
        with gunicorn(args, env, folder, {"BENCH_PROFILE": str(target), **extra}) as server:
            wrk.base_url = server.url + "/"
            walk(f"warm-up-{name}", args.warmup, args.connections)  # every worker: parse banks, compile
            (target / "recording").touch()
            passes[name], _ = walk(f"profile-{name}", args.profile_seconds, connections)
            if name == "sql":  # the baseline's own cost, measured the same way
                wrk.fixed(
                    "profile-insert", "POST", "/bench/insert", connections, args.profile_seconds, "note=bench"
                )
    return {
        "connections": connections,
        "sql_pass_req_per_s": round(passes["sql"].rate, 1),
        "sql": sql_profile(folder / "profile-sql"),
        "python": python_profile(folder / "profile-python"),
    }


def print_report(report: dict[str, Any]) -> None:
    config = report["config"]
    print(
        f"Graded quiz submits on PostgreSQL ({config['database']}): gunicorn {config['gunicorn_workers']} "
        f"workers, wrk {config['wrk_threads']} threads / {config['connections']} connections, "
        f"{config['duration_s']:g} s each, {config['cpus']} CPUs"
    )
    print(f"  {'':<34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ok':>8}  not ok")
    for key, label in (
        ("hello", "hello (GET /bench/hello)"),
        ("baseline", "baseline: one INSERT + COMMIT"),
        ("submit", "graded quiz submit"),
    ):
        r = report[key]
        print(
            f"  {label:<34} {r['req_per_s']:9.1f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} "
            f"{r['ok_responses']:8d}  {r['not_ok'] or 0}"
        )
    ratio = report["ratio"]
    verdict = "meets" if ratio is not None and ratio >= report["target_ratio"] else "BELOW"
    print(
        f"  {'ratio submit / baseline':<34} {ratio:9.2f}x  ({verdict} the target of "
        f"{report['target_ratio']:.1f}x)"
    )
    print(f"  CPU ms per request: {'gunicorn':>9} {'postgres':>9} {'wrk':>6}  machine busy")
    for key in ("hello", "baseline", "submit"):
        r = report[key]
        print(
            f"    {key:<16} {r['gunicorn_cpu_ms_per_request']:11.3f} {r['postgres_cpu_ms_per_request']:9.3f} "
            f"{r['wrk_cpu_ms_per_request']:6.3f}  {r['machine_busy_share']:.0%}"
        )
    print(f"  server CPU per baseline insert / per submit: {report['server_cpu_ratio']:.2f}x")
    v = report["verification"]
    print(
        f"Graded attempts verified in the database: {v['graded_in_db']} "
        f"for {v['ok_responses']} 303 responses "
        f"(+{v['cut_off_at_end']} cut off by the end of the run): {v['passed']} passed, "
        f"{v['failed']} failed; outcomes as planned: {v['outcomes_as_planned']}"
    )
    print(f"Setup: {config['learners']} learners ({config['setup']}) in {config['setup_seconds']:.1f} s")
    if report["server_errors"]:
        print("Errors the app logged during the warm-up and the measured runs:")
        for error, count in list(report["server_errors"].items())[:5]:
            print(f"  {count:6d} x {error}")
    if report["profile"]:
        print_profile(report["profile"])
    for problem in report["problems"]:
        print(f"PROBLEM: {problem}")


def print_profile(profile: dict[str, Any]) -> None:
    print(
        f"\nProfile ({profile['connections']} connections; SQL timing pass: "
        f"{profile['sql_pass_req_per_s']:.1f} submits/s)"
    )
    for outcome, p in profile["sql"].items():
        label = "baseline insert" if outcome == "baseline" else f"{outcome} submit"
        print(
            f"  {label}: {p['statements']:g} SQL statements + COMMIT; {p['request_ms']:.2f} ms in the worker "
            f"(p50 {p['request_ms_p50']:.2f}), {p['sql_ms']:.2f} ms of it in SQL, {p['cpu_ms']:.2f} ms "
            f"worker CPU; {p['requests']} requests"
        )
        for number, step in enumerate(p.get("steps", []), 1):
            print(f"    {number:2d}. {step['ms']:7.3f} ms  {step['statement']}")
    python = profile["python"]
    if python:
        print(f"  cProfile, ms per submit ({python['submits']} submits; cProfile inflates Python time):")
        print(f"    {'cumulative':>10} {'own':>8} {'calls':>7}  function")
        for row in python["by_cumulative"]:
            print(
                f"    {row['cumulative_ms']:10.3f} {row['own_ms']:8.3f} {row['calls_per_submit']:7.1f}  "
                f"{row['function']}"
            )
        print("  by own time:")
        for row in python["by_own_time"][:15]:
            print(
                f"    {row['cumulative_ms']:10.3f} {row['own_ms']:8.3f} {row['calls_per_submit']:7.1f}  "
                f"{row['function']}"
            )


if __name__ == "__main__":
    main()
