"""Webhook deliveries: 10,000 completion events delivered by the outbox worker to a local receiver.

What one run does, on PostgreSQL:
1. A database of its own (`postwise_bench_webhooks`, dropped and created), a tenant with one
   endpoint subscribed to `completion.recorded`, `--events` employees enrolled in the orientation.
2. Each employee's completion recorded through `courses.services.record_result`, the path a passed
   quiz takes: the hooks issue the certificate and queue the webhook delivery (a delivery row and
   an outbox message each), committed in batches. The messages are held (due tomorrow).
3. A receiver on 127.0.0.1 in a process of its own (http.server, keep-alive), which records each
   request's headers, body and arrival time; then the real worker, `flask --app wsgi worker`, in
   another process, idle.
4. **Baseline**: the same receiver hit by a plain loop of signed POSTs (one `requests` session,
   one connection, each of the same bodies signed with the `standardwebhooks` package), on path
   `/baseline`.
5. **Worker**: every held message made due in one statement; the time until the receiver holds
   all of them. deliveries/s, and the ratio to the baseline (aim: >= 0.5x).
6. Checks: each webhook-id received exactly once, every signature verified with the endpoint's
   secret, every delivery row delivered.
7. **Delay** from a completion's commit to its receipt with an idle worker (`--latency-samples`
   completions, one at a time at random moments): p50 and max. It is mostly the worker's poll
   interval (`--poll-interval`, the CLI's default 1 s).

    .venv/bin/python bench/webhooks.py [--events 10000] [--poll-interval 1.0] [--json]

Needs the local PostgreSQL (127.0.0.1:5432, user postgres, trust auth).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import requests
from harness.cpu import process_cpu
from harness.database import DEFAULT_URL, PUBLIC_URL, migrated_app
from harness.report import fmt, percentile, ratio, say
from harness.webhook_receiver import Receiver
from sqlalchemy import func, select, text
from standardwebhooks import Webhook

from courses import publishing
from courses import services as learning
from training_app.extensions import db
from training_app.models import Tenant
from webhooks import services
from webhooks.models import WebhookDelivery

ROOT = Path(__file__).resolve().parents[1]
COURSE = "social-media-orientation"
SECRET_KEY = "bench-webhooks-secret-key"


# --- the data ---------------------------------------------------------------------------------------


def populate(app: Any, events: int, url: str) -> tuple[str, list[int]]:
    """The tenant, its endpoint at `url` and `events` enrolled employees: (secret, enrolment ids)."""
    with app.app_context():
        tenant_id = db.session.execute(
            text(
                "INSERT INTO tenants (slug, name, settings, audit_seq, audit_head, created_at)"
                " VALUES ('bench', 'Bench Corp', '{}', 0, repeat('0', 64), now()) RETURNING id"
            )
        ).scalar_one()
        params = {"tenant_id": tenant_id, "n": events}
        db.session.execute(
            text(
                "INSERT INTO users (tenant_id, issuer, subject, employee_id, email, name, department,"
                " manager_email, locale, created_at, updated_at)"
                " SELECT :tenant_id, 'hr', 'E' || i, 'E' || i, 'e' || i || '@bench.example',"
                " 'Employee ' || i, 'Department ' || (i % 40), 'boss@bench.example', 'en', now(), now()"
                " FROM generate_series(1, :n) AS i"
            ),
            params,
        )
        enrolment_ids = list(
            db.session.scalars(
                text(
                    "INSERT INTO enrolments (tenant_id, user_id, course_id, source, cycle, enrolled_at,"
                    " assigned_at, due_at)"
                    " SELECT :tenant_id, u.id, (SELECT c.id FROM courses c WHERE c.slug = :course), 'hr', 1,"
                    " now(), now(), now() + interval '30 days' FROM users u WHERE u.tenant_id = :tenant_id"
                    " ORDER BY u.id RETURNING id"
                ),
                {**params, "course": COURSE},
            )
        )
        db.session.commit()
        _endpoint, secret = services.create_endpoint(
            db.session.get(Tenant, tenant_id),
            services.EndpointFields(url, "bench", ["completion.recorded"]),
            staff_id=None,
            ip_address=None,
        )
        db.session.commit()
        return secret, enrolment_ids


def record_completions(app: Any, enrolment_ids: list[int], batch: int = 500) -> float:
    """Each enrolment's completion through record_result (certificate and webhook queued by the
    hooks), committed every `batch`; seconds taken."""
    started = time.perf_counter()
    with app.app_context():
        _, version = publishing.course_by_slug(COURSE)
        for number, enrolment_id in enumerate(enrolment_ids, start=1):
            learning.record_result(
                learning.cycle_of(enrolment_id),
                passed=True,
                score=90,
                source_ref=f"bench:{enrolment_id}",
                actor="bench",
                version=version,
                attestation_id=None,
            )
            if number % batch == 0:
                db.session.commit()
        db.session.commit()
    return time.perf_counter() - started


def hold_messages(app: Any, due: bool) -> int:
    """Every webhook message due tomorrow (held), or now (released); how many."""
    with app.app_context():
        moment = "now() + interval '1 day'" if not due else "now()"
        statement = f"UPDATE outbox_messages SET next_try_at = {moment} WHERE kind = 'webhook'"
        count = db.session.execute(text(statement + " AND status = 'pending'")).rowcount
        db.session.commit()
        return count


def queued_bodies(app: Any) -> list[tuple[str, str]]:
    with app.app_context():
        return list(db.session.execute(select(WebhookDelivery.message_id, WebhookDelivery.body)))


# --- the runs ---------------------------------------------------------------------------------------


def plain_loop(url: str, secret: str, bodies: list[tuple[str, str]]) -> float:
    """The baseline: a signed POST of each body, one after another, on one keep-alive connection."""
    signer = Webhook(secret)
    session = requests.Session()
    started = time.perf_counter()
    for message_id, body in bodies:
        now = datetime.now(UTC)
        data = body.encode()
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signer.sign(message_id, now, data),
        }
        session.post(url, data=data, headers=headers, timeout=10).raise_for_status()
    return time.perf_counter() - started


def start_worker(database_url: str, poll_interval: float, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "TRAINING_CONFIG": "production",
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "TRAINING_PUBLIC_URL": PUBLIC_URL,
        "TRAINING_OUTBOUND_ALLOWED_HOSTS": '["127.0.0.1"]',
        "TRAINING_OUTBOUND_ALLOW_HTTP": "true",
        "TRAINING_LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "wsgi",
        "worker",
        "--poll-interval",
        str(poll_interval),
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_for(receiver: Receiver, path: str, count: int, limit: float) -> float:
    """Seconds until the receiver holds `count` requests on `path` (asked every 50 ms: cheap)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        if receiver.count(path) >= count:
            return time.perf_counter() - started
        time.sleep(0.05)
    raise SystemExit(f"the receiver got {receiver.count(path)} of {count} deliveries in {limit:g} s")


def verify(hits: list[dict[str, Any]], secret: str) -> int:
    """How many requests verify with the standardwebhooks package (the timestamp checked against the
    arrival time: verification happens after the run)."""
    verified = 0
    webhook = Webhook(secret)
    with mock.patch("standardwebhooks.webhooks.datetime") as clock:
        clock.fromtimestamp.side_effect = datetime.fromtimestamp
        for hit in hits:
            clock.now.return_value = datetime.fromtimestamp(hit["at"], UTC)
            headers = {
                "webhook-id": hit["id"],
                "webhook-timestamp": hit["timestamp"],
                "webhook-signature": hit["signature"],
            }
            webhook.verify(hit["body"].encode(), headers)
            verified += 1
    return verified


def idle_delays(app: Any, receiver: Receiver, enrolment_ids: list[int], seed: int) -> list[float]:
    """Seconds from each completion's commit to its receipt, the worker idle in between."""
    chance = random.Random(seed)
    delays = []
    with app.app_context():
        _, version = publishing.course_by_slug(COURSE)
        for enrolment_id in enrolment_ids:
            time.sleep(chance.uniform(0.3, 1.3))  # a random moment in the worker's polling
            result = learning.record_result(
                learning.cycle_of(enrolment_id),
                passed=True,
                score=90,
                source_ref=f"bench-delay:{enrolment_id}",
                actor="bench",
                version=version,
                attestation_id=None,
            )
            message_id = db.session.scalar(
                select(WebhookDelivery.message_id).where(
                    WebhookDelivery.event_key == f"completion.recorded:{result.id}"
                )
            )
            db.session.commit()
            committed = time.time()
            deadline = time.perf_counter() + 30
            while time.perf_counter() < deadline:
                arrived = [hit["at"] for hit in receiver.refresh() if hit["id"] == message_id]
                if arrived:
                    delays.append(arrived[0] - committed)
                    break
                time.sleep(0.02)
            else:
                raise SystemExit(f"{message_id} was not received within 30 s")
    return delays


def check_database(app: Any) -> dict[str, int]:
    with app.app_context():
        return dict(
            db.session.execute(
                select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
            ).all()
        )


# --- main -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--latency-samples", type=int, default=20)
    parser.add_argument("--poll-interval", type=float, default=1.0, help="the worker's (default: the CLI's)")
    parser.add_argument("--database-url", default=DEFAULT_URL.format(name="postwise_bench_webhooks"))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    problems: list[str] = []
    receiver = Receiver()
    worker = None
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as folder:
        try:
            say("Database, tenant, endpoint, employees...")
            app = migrated_app(
                args.database_url,
                SECRET_KEY=SECRET_KEY,
                INSTANCE_PATH=folder,
                OUTBOUND_ALLOWED_HOSTS=["127.0.0.1"],
                OUTBOUND_ALLOW_HTTP=True,
            )
            secret, enrolment_ids = populate(app, args.events + args.latency_samples, receiver.url("/hooks"))
            measured, later = enrolment_ids[: args.events], enrolment_ids[args.events :]
            say(f"Recording {args.events:,} completions (the hooks issue certificates, queue webhooks)...")
            record_seconds = record_completions(app, measured)
            held = hold_messages(app, due=False)
            bodies = queued_bodies(app)
            if held != args.events or len(bodies) != args.events:
                problems.append(
                    f"{held} messages and {len(bodies)} deliveries queued for {args.events} completions"
                )
            worker = start_worker(args.database_url, args.poll_interval, Path(folder) / "worker.log")
            time.sleep(3)  # the worker has started and is polling
            say("Baseline: a plain loop of signed POSTs...")
            receiver_cpu, loop_cpu = process_cpu(receiver.process.pid), time.process_time()
            baseline_seconds = plain_loop(receiver.url("/baseline"), secret, bodies)
            loop_cpu = time.process_time() - loop_cpu
            receiver_cpu_baseline = process_cpu(receiver.process.pid) - receiver_cpu
            say("The outbox worker delivering them...")
            receiver_cpu, worker_cpu = process_cpu(receiver.process.pid), process_cpu(worker.pid)
            released_at = time.perf_counter()
            hold_messages(app, due=True)
            worker_seconds = (
                time.perf_counter() - released_at + wait_for(receiver, "/hooks", args.events, 600)
            )
            worker_cpu = process_cpu(worker.pid) - worker_cpu
            receiver_cpu_worker = process_cpu(receiver.process.pid) - receiver_cpu
            time.sleep(1)  # anything sent twice would arrive now
            receiver.refresh()
            hooks = receiver.on("/hooks")
            ids = [hit["id"] for hit in hooks]
            if len(ids) != len(set(ids)) or set(ids) != {message_id for message_id, _ in bodies}:
                problems.append(
                    f"{len(ids)} requests for {len(set(ids))} webhook-ids of {len(bodies)} queued"
                )
            verified = verify(hooks, secret)
            statuses = check_database(app)
            if statuses.get("delivered") != args.events:
                problems.append(f"delivery rows: {statuses}")
            say(f"Delay from a completion to its receipt, idle worker ({len(later)} samples)...")
            delays = idle_delays(app, receiver, later, args.seed)
        finally:
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(30)
            receiver.stop()
    baseline_rate = args.events / baseline_seconds
    worker_rate = args.events / worker_seconds
    report = {
        "events": args.events,
        "recorded_per_s": round(args.events / record_seconds, 1),
        "baseline_per_s": round(baseline_rate, 1),
        "worker_per_s": round(worker_rate, 1),
        "ratio": ratio(worker_rate, baseline_rate),
        "cpu_ms_per_post_loop": round(loop_cpu * 1000 / args.events, 3),
        "cpu_ms_per_delivery_worker": round(worker_cpu * 1000 / args.events, 3),
        "cpu_ratio": ratio(loop_cpu, worker_cpu),
        "receiver_cpu_ms_per_request": [
            round(receiver_cpu_baseline * 1000 / args.events, 3),
            round(receiver_cpu_worker * 1000 / args.events, 3),
        ],
        "verified": verified,
        "received_once": len(set(ids)) == len(ids) == args.events,
        "poll_interval_s": args.poll_interval,
        "delay_p50_ms": round(percentile(delays, 50) * 1000, 1),
        "delay_max_ms": round(max(delays) * 1000, 1),
        "problems": problems,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"  completions recorded (hooks queue the webhook): {report['recorded_per_s']:>8} /s")
        print(f"  baseline, plain loop of signed POSTs:           {report['baseline_per_s']:>8} /s")
        print(f"  outbox worker deliveries:                       {report['worker_per_s']:>8} /s")
        print(f"  ratio worker / baseline:                        {fmt(report['ratio'])}x (aim >= 0.5x)")
        print(
            f"  CPU ms per request: loop {report['cpu_ms_per_post_loop']}, worker process "
            f"{report['cpu_ms_per_delivery_worker']} (ratio {fmt(report['cpu_ratio'])}x); receiver "
            f"{report['receiver_cpu_ms_per_request'][0]} / {report['receiver_cpu_ms_per_request'][1]}"
        )
        print(f"  each webhook-id received once: {report['received_once']}; verified: {verified:,}")
        print(
            f"  delay completion -> receipt, idle worker (poll {args.poll_interval:g} s): "
            f"p50 {report['delay_p50_ms']} ms, max {report['delay_max_ms']} ms"
        )
        for problem in problems:
            print(f"PROBLEM: {problem}")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
