"""The load test's database and its checks afterwards.

Set-up: a fresh migrated database with the courses published, the tenant, the emulated LMS
registered as its platform (issuer, client id, deployment, its /auth, /token and /jwks URLs), HR
staff accounts, a webhook endpoint for completions pointing at the test's receiver, and what the
load generator needs to know about the course (its lessons, the question bank's answer key).

Checks: every completion in the database is in the final CSV export, in the LMS gradebook and at
the webhook receiver, each exactly once; nothing is left in the outbox or went to dead letter.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import psycopg
from flask import Flask

from courses import publishing
from harness.database import migrated_app, raw_dsn, vacuum_analyze
from lti import services as lti_services
from quizzes.published_banks import bank_for_version
from training_app.auth import services as accounts
from training_app.extensions import db
from training_app.models import Tenant
from webhooks import services as webhooks

COURSE = "social-media-orientation"
TENANT = "acme"
EVENT = "completion.recorded"
# The tool fetches the LMS's keys and posts grades and webhooks to 127.0.0.1 over plain http,
# which production refuses unless told (as harness.lms.TOOL_SETTINGS / TOOL_ENV).
TOOL_SETTINGS = {"OUTBOUND_ALLOW_HTTP": True, "OUTBOUND_ALLOWED_HOSTS": ("127.0.0.1",)}


@dataclass(frozen=True)
class Setup:
    app: Flask
    tenant_id: int
    webhook_secret: str
    staff: list[str]
    lessons: list[str]
    answers: dict[str, dict[str, list[str]]]  # question id: {"right": [...], "wrong": [...]}


def set_up(url: str, secret_key: str, lms: Any, receiver_url: str, staff: int, password: str) -> Setup:
    """The database as a tenant in its first week finds it; `lms` is the running emulator."""
    app = migrated_app(url, SECRET_KEY=secret_key, **TOOL_SETTINGS)
    with app.app_context():
        tenant = accounts.create_tenant(TENANT, "Acme Corporation")
        fields = lti_services.PlatformFields(
            issuer=lms.issuer,
            client_id=lms.client_id,
            deployment_ids=[lms.deployment_id],
            auth_login_url=lms.auth_url,
            auth_token_url=lms.token_url,
            key_set_url=lms.jwks_url,
            name="Load-test Moodle",
        )
        lti_services.add_platform(tenant, fields, actor="bench")
        emails = [f"hr{n}@acme.example" for n in range(1, staff + 1)]
        for n, email in enumerate(emails, 1):
            accounts.create_staff(tenant, email, password, role="hr_admin", name=f"HR Person {n}")
        _endpoint, secret = webhooks.create_endpoint(
            db.session.get(Tenant, tenant.id),
            webhooks.EndpointFields(receiver_url, "load test receiver", [EVENT]),
            staff_id=None,
            ip_address=None,
        )
        db.session.commit()
        _, version = publishing.course_by_slug(COURSE)
        bank = bank_for_version(version)
        answers = {}
        for question in bank.questions:
            wrong = [option for option in question.option_ids if option not in question.correct_ids]
            answers[question.id] = {"right": sorted(question.correct_ids), "wrong": wrong[:1]}
        lessons = [lesson.slug for lesson in version.lessons]
        tenant_id = tenant.id
        db.session.rollback()
        db.engine.dispose()
    vacuum_analyze(url)
    return Setup(app, tenant_id, secret, emails, lessons, answers)


# --- after the run ----------------------------------------------------------------------------------


def database_size(dsn: str) -> dict[str, int]:
    """Bytes on disk: the whole database and its largest tables (with their indexes and TOAST)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        total = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        tables = conn.execute(
            "SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables ORDER BY 2 DESC LIMIT 12"
        ).fetchall()
    return {"database": total, **dict(tables)}


def outbox_left(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM outbox_messages WHERE status = 'pending'").fetchone()[0]


def database_state(url: str, tenant_id: int) -> dict[str, Any]:
    """Completions (id, the learner's LMS subject, score, certificate code), quiz attempts by
    status and outcome, and the outbox by kind and status (with retries)."""
    with psycopg.connect(raw_dsn(url), autocommit=True) as conn:
        completions = conn.execute(
            "SELECT c.id, u.subject, c.score, c.status, cert.code FROM completions c"
            " JOIN users u ON u.id = c.user_id LEFT JOIN certificates cert ON cert.completion_id = c.id"
            " WHERE c.tenant_id = %s ORDER BY c.id",
            [tenant_id],
        ).fetchall()
        attempts = conn.execute(
            "SELECT status, passed, count(*) FROM quiz_attempts GROUP BY status, passed"
        ).fetchall()
        outbox = conn.execute(
            "SELECT kind, status, count(*), count(*) FILTER (WHERE attempts > 1), max(attempts)"
            " FROM outbox_messages GROUP BY kind, status ORDER BY kind, status"
        ).fetchall()
        users = conn.execute("SELECT count(*) FROM users WHERE tenant_id = %s", [tenant_id]).fetchone()[0]
    return {
        "completions": [
            {"id": row[0], "subject": row[1], "score": row[2], "status": row[3], "certificate": row[4]}
            for row in completions
        ],
        "attempts": {f"{status}/{'passed' if passed else 'not passed'}": n for status, passed, n in attempts},
        "outbox": [
            {"kind": k, "status": s, "messages": n, "retried": r, "max_attempts": m}
            for k, s, n, r, m in outbox
        ],
        "users": users,
    }


def parse_export(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def verify(
    state: dict[str, Any],
    journeys: list[dict[str, Any]],
    export_rows: list[dict[str, str]],
    scores: list[Any],
    hooks: list[dict[str, Any]],
) -> dict[str, Any]:
    """Each completion in the database once per learner, once in the export, once in the gradebook
    (an accepted score for its learner, with its score) and once at the receiver (one webhook-id,
    its completion id); nothing else arrived, nothing is pending or dead."""
    problems: list[str] = []
    completions = [c for c in state["completions"] if c["status"] == "completed"]
    if len(completions) != len(state["completions"]):
        problems.append(
            f"{len(state['completions']) - len(completions)} results are not completions (failed)"
        )
    by_subject = Counter(c["subject"] for c in completions)
    twice = [s for s, n in by_subject.items() if n > 1]
    if twice:
        problems.append(f"{len(twice)} learners completed more than once, e.g. {twice[:3]}")
    passed_seen = {j["sub"] for j in journeys if j.get("passed")}
    missing_db = passed_seen - set(by_subject)
    if missing_db:
        problems.append(
            f"{len(missing_db)} passes the learners saw are not in the database: {sorted(missing_db)[:3]}"
        )
    unconfirmed = sorted(set(by_subject) - passed_seen)  # the submit's answer never reached the learner
    cut_off = {j["sub"] for j in journeys if j.get("stage") == "submitted"}
    if set(unconfirmed) - cut_off:
        problems.append(f"{len(set(unconfirmed) - cut_off)} completions of learners who never submitted")
    passed_attempts = sum(n for key, n in state["attempts"].items() if key.endswith("/passed"))
    if passed_attempts != len(completions):
        problems.append(f"{passed_attempts} passed attempts but {len(completions)} completions")

    codes = Counter(row.get("certificate_code") or "" for row in export_rows)
    codes.pop("", None)
    expected_codes = {c["certificate"] for c in completions}
    if None in expected_codes:
        problems.append("a completion has no certificate")
    export_missing = expected_codes - set(codes) - {None}
    export_twice = [code for code, n in codes.items() if n > 1]
    export_extra = set(codes) - expected_codes
    if export_missing or export_twice or export_extra:
        problems.append(
            f"export: {len(export_missing)} completions missing, {len(export_twice)} twice, "
            f"{len(export_extra)} unknown certificates"
        )

    accepted = [s for s in scores if s.accepted]
    refused = Counter(s.status for s in scores if not s.accepted)
    graded = Counter(str(s.body.get("userId")) for s in accepted)
    grade_score = {str(s.body.get("userId")): s.body.get("scoreGiven") for s in accepted}
    gradebook_missing = set(by_subject) - set(graded)
    gradebook_twice = [u for u, n in graded.items() if n > 1]
    gradebook_extra = set(graded) - set(by_subject)
    wrong_score = [
        c["subject"] for c in completions if grade_score.get(c["subject"], c["score"]) != c["score"]
    ]
    if gradebook_missing or gradebook_twice or gradebook_extra or wrong_score:
        problems.append(
            f"gradebook: {len(gradebook_missing)} completions missing, {len(gradebook_twice)} twice, "
            f"{len(gradebook_extra)} unknown learners, {len(wrong_score)} with another score"
        )
    if refused:
        problems.append(f"the LMS refused scores: {dict(refused)}")

    ids = Counter(hit["id"] for hit in hooks)
    completion_ids: Counter[int] = Counter()
    for hit in hooks:
        body = json.loads(hit["body"])
        if body.get("type") == EVENT:
            completion_ids[body["data"]["completion_id"]] += 1
    expected_ids = {c["id"] for c in completions}
    hooks_twice = [i for i, n in ids.items() if n > 1]
    hooks_missing = expected_ids - set(completion_ids)
    hooks_dup = [i for i, n in completion_ids.items() if n > 1]
    hooks_extra = set(completion_ids) - expected_ids
    if hooks_twice or hooks_missing or hooks_dup or hooks_extra:
        problems.append(
            f"webhooks: {len(hooks_missing)} completions missing, {len(hooks_twice)} webhook-ids twice, "
            f"{len(hooks_dup)} completions in two webhooks, {len(hooks_extra)} unknown completions"
        )

    pending = sum(o["messages"] for o in state["outbox"] if o["status"] == "pending")
    dead = sum(o["messages"] for o in state["outbox"] if o["status"] == "dead")
    if pending or dead:
        problems.append(f"outbox: {pending} messages still pending, {dead} dead")
    return {
        "completions": len(completions),
        "learners_saw_a_pass": len(passed_seen),
        "completions_not_confirmed_to_the_learner": len(unconfirmed),
        "export_rows": len(export_rows),
        "export_completions": sum(codes.values()),
        "gradebook_scores": len(accepted),
        "gradebook_refused": sum(refused.values()),
        "webhooks_received": len(hooks),
        "webhook_completions": sum(completion_ids.values()),
        "outbox": state["outbox"],
        "attempts": state["attempts"],
        "users": state["users"],
        "problems": problems,
    }
