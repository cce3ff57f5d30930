"""The quiz benchmark's learners: each ready to submit ONE open quiz attempt, the submits their
browsers would send, and the checks of what the submits did in the database."""

from __future__ import annotations

import random
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import psycopg
from flask import Flask, session
from flask_login import login_user
from flask_wtf.csrf import generate_csrf
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from sqlalchemy import func, select, text

from courses import publishing
from courses import services as learning
from courses.models import Completion, Enrolment
from harness.report import say
from harness.wrk import Wrk, WrkResult
from quizzes import form_snapshot
from quizzes import services as quiz
from quizzes.demo import answers_to, ready_for_quiz
from quizzes.draw import draw_questions
from quizzes.models import QuizAttempt
from quizzes.published_banks import bank_for_version
from training_app import audit, audit_verification
from training_app.auth import services as accounts
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import AuditEvent, Tenant, User

COURSE = "social-media-orientation"
ISSUER = "https://lms.bench.example"
USER_AGENT = "postwise-bench (wrk)"
FIRST_NAMES = ["Ada", "Grace", "Alan", "Katherine", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Johnson", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
DEPARTMENTS = ["Engineering", "Sales", "Marketing", "Finance", "People", "Support"]
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
CLONED_TABLES = tuple(CLONED_ROWS_PER_LEARNER)


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


def _rows(conn: psycopg.Connection, table: str, where: str, value: int) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT * FROM {table} WHERE {where} = %s ORDER BY id", [value]).fetchall()


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
    user = _rows(conn, "users", "id", template.user_id)[0]
    enrolment = _rows(conn, "enrolments", "id", template.enrolment_id)[0]
    progress = _rows(conn, "lesson_progress", "enrolment_id", template.enrolment_id)
    attestation = _rows(conn, "attestations", "enrolment_id", template.enrolment_id)[0]
    [event] = [
        e
        for e in _rows(conn, "audit_events", "tenant_id", tenant.id)
        if e["action"] == "attestation.signed" and e["subject_id"] == str(attestation["id"])
    ]
    attempt = _rows(conn, "quiz_attempts", "id", template.id)[0]
    seq, head = conn.execute(
        "SELECT audit_seq, audit_head FROM tenants WHERE id = %s", [tenant.id]
    ).fetchone()
    ids = {t: conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {t}").fetchone()[0] for t in CLONED_TABLES}
    _, version = publishing.course_by_slug(COURSE)
    bank = bank_for_version(version)
    base, start = user["created_at"], utcnow()
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def shifted(row: dict[str, Any], at: timedelta, **changes: Any) -> dict[str, Any]:
        out = dict(row)
        for key, value in row.items():
            if key.endswith("_at") and key != "due_at" and value is not None:
                out[key] = value + at
        return out | changes

    for index in range(1, count):
        at = start - base + timedelta(microseconds=index)
        person = learner_user(tenant, index)
        uid, eid, aid, qid = ids["users"], ids["enrolments"], ids["attestations"], ids["quiz_attempts"]
        named = {"subject": person.subject, "name": person.name, "email": person.email}
        tables["users"].append(shifted(user, at, id=uid, department=person.department, **named))
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
        drawn = [{"id": d.question_id, "options": list(d.option_order)} for d in draw_questions(bank, rng)]
        tables["quiz_attempts"].append(
            shifted(attempt, at, id=qid, user_id=uid, enrolment_id=eid, questions=drawn)
        )
        for table in ("users", "enrolments", "attestations", "audit_events", "quiz_attempts"):
            ids[table] += 1
        if index % 10000 == 0:
            say(f"  {index} learners built")
    for table in CLONED_TABLES:
        if tables[table]:
            _copy(conn, table, tables[table])
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    conn.execute("UPDATE tenants SET audit_seq = %s, audit_head = %s WHERE id = %s", [seq, head, tenant.id])


def set_up_learners(app: Flask, count: int, mode: str, seed: int) -> None:
    """`count` learners of one tenant ready for the quiz: through the services, or one copied (bulk)."""
    rng = random.Random(seed)
    with app.app_context():
        tenant = accounts.create_tenant("acme", "Acme Corporation")
        db.session.commit()
        before = table_counts()
        template = learner_through_services(tenant, 0, rng)
        db.session.commit()
        if mode == "services":
            for index in range(1, count):
                learner_through_services(tenant, index, rng)
                if index % 500 == 0:
                    db.session.commit()
                    say(f"  {index} learners through the services")
        else:
            check_clone_covers(before, table_counts())
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
            "the services now write other rows for a learner ready for the quiz than the bench "
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


# --- the submits --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    attempt_id: int
    passing: bool
    line: str  # path \t signed session cookie \t form body


def prepare_submits(app: Flask, pass_share: float, seed: int) -> list[Prepared]:
    """One submit per open attempt, as the attempt page's form sends it after a launch: the session
    cookie, the CSRF token, the answers (the first `right` correct) and the drawn questions' snapshot."""
    rng = random.Random(seed + 1)
    serializer = app.session_interface.get_signing_serializer(app)
    with app.app_context():
        _, version = publishing.course_by_slug(COURSE)
        bank = bank_for_version(version)
        columns = (QuizAttempt.id, QuizAttempt.user_id, QuizAttempt.questions, QuizAttempt.number)
        columns += (QuizAttempt.course_version_id, QuizAttempt.pass_mark)
        attempts = db.session.execute(
            select(*columns).where(QuizAttempt.status == "open").order_by(QuizAttempt.id)
        ).all()
        snapshots = [form_snapshot.sign(attempt, version.content_hash) for attempt in attempts]
        db.session.rollback()
    count = len(attempts[0].questions)
    prepared = []
    for (attempt_id, user_id, questions, *_), snapshot in zip(attempts, snapshots, strict=True):
        environ = {"REMOTE_ADDR": "127.0.0.1"}
        with app.test_request_context("/", environ_base=environ, headers={"User-Agent": USER_AGENT}):
            login_user(User(id=user_id))
            token = generate_csrf()
            cookie = serializer.dumps(dict(session))
        passing = rng.random() < pass_share
        right = rng.choice([count - 1, count]) if passing else rng.randint(2, count - 3)
        answers = answers_to(bank, questions, right)
        form = [("csrf_token", token)]
        form += [(f"q-{question}", option) for question, options in answers.items() for option in options]
        form.append((form_snapshot.FIELD, snapshot))
        prepared.append(
            Prepared(attempt_id, passing, f"/quiz/attempts/{attempt_id}\t{cookie}\t{urlencode(form)}")
        )
    return prepared


class Submits:
    """wrk runs over the prepared submits, each run on the attempts no earlier run sent."""

    def __init__(self, prepared: list[Prepared], wrk: Wrk) -> None:
        self.prepared, self.wrk = prepared, wrk
        self.planned = {p.attempt_id: p.passing for p in prepared}
        self.sent: set[int] = set()

    def walk(self, label: str, seconds: float, connections: int) -> tuple[WrkResult, list[int]]:
        fresh = [p for p in self.prepared if p.attempt_id not in self.sent]
        result = self.wrk.walk(label, [p.line for p in fresh], connections, seconds)
        # wrk thread t sent the first of the lines t, t+n, t+2n...
        n = len(result.sent_per_thread)
        sent = [p.attempt_id for tid, k in enumerate(result.sent_per_thread) for p in fresh[tid::n][:k]]
        self.sent.update(sent)
        return result, sent


# --- checks -------------------------------------------------------------------------------------


def attempt_counts(app: Flask) -> Counter[str]:
    with app.app_context():
        rows = db.session.execute(select(QuizAttempt.status, func.count()).group_by(QuizAttempt.status)).all()
        db.session.rollback()
    return Counter(dict(rows))


def verify_submits(
    app: Flask,
    result: WrkResult,
    before: Counter[str],
    after: Counter[str],
    planned: dict[int, bool],
    sent: list[int],
) -> dict[str, Any]:
    """Each 303 graded one attempt of the ones sent, once, with the planned outcome."""
    graded = after["submitted"] - before["submitted"]
    expired = after["expired"] - before["expired"]
    sent_set = set(sent)
    with app.app_context():
        closed = db.session.execute(
            select(QuizAttempt.id, QuizAttempt.passed).where(QuizAttempt.status != "open")
        ).all()
        db.session.rollback()
    rows = [(attempt_id, passed) for attempt_id, passed in closed if attempt_id in sent_set]
    as_planned = sum(1 for attempt_id, passed in rows if planned[attempt_id] == passed)
    problems = []
    if result.not_ok or any(result.socket_errors.get(k) for k in ("connect", "read", "write", "timeout")):
        problems.append(f"unexpected statuses {result.not_ok} or socket errors {result.socket_errors}")
    if not result.ok <= graded <= result.ok + result.cut_off:
        problems.append(f"{graded} attempts graded for {result.ok} 303 responses (+{result.cut_off} cut off)")
    if len(rows) != graded:
        problems.append(f"{graded} attempts graded during the run, but {len(rows)} of the attempts it sent")
    if expired or result.markers.get("already"):
        problems.append(f"{expired} expired / {result.markers.get('already', 0)} already-submitted answers")
    if as_planned != len(rows):
        problems.append(f"only {as_planned} of {len(rows)} outcomes as planned")
    if result.exhausted:
        problems.append("a wrk thread ran out of prepared attempts: raise --learners")
    return {
        "graded_in_db": graded,
        "ok_responses": result.ok,
        "cut_off_at_end": result.cut_off,
        "passed": sum(1 for _, passed in rows if passed),
        "failed": sum(1 for _, passed in rows if not passed),
        "outcomes_as_planned": as_planned,
        "problems": problems,
    }


def verify_end_state(app: Flask, sent_everywhere: set[int]) -> list[str]:
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
