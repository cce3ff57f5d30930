"""PostgreSQL restarts while requests are in flight: requests answer a clear 503 with Retry-After
meanwhile (never a 500), nothing is half-written, and the app processes and the outbox worker go on
by themselves when it is back; every quiz submitted is stored once and announced once or more with
the same webhook-id (at-least-once).

The PostgreSQL that restarts is the test's own cluster (tests/faults/postgres_cluster.py), so the
test runs in CI beside the others. The same scenario against the machine's shared cluster (restarted
with pg_ctlcluster: every other test's connections break) runs only when FAULTS_RESTART_POSTGRES=1,
alone: `FAULTS_RESTART_POSTGRES=1 .venv/bin/python -m pytest -p no:xdist --db postgresql
tests/faults/test_database_restart.py -k shared`.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests
from flask import has_request_context, request
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from certificates.models import Certificate
from courses.models import Completion
from tests import factories
from tests.conftest import DEFAULT_PG, _migrate, _publish_courses, build_app, settings_for
from tests.databases import libpq_dsn
from tests.faults.live import LiveLearner, process_env
from tests.faults.postgres_cluster import PrivateCluster, SharedCluster, shared_cluster_version
from tests.helpers import text_of
from tests.infra.test_outbox import start_worker, wait_until
from tests.journeys import ready_for_quiz
from tests.launch.test_multi_process import ToolProcess
from tests.webhooks.conftest import Org, hooks, register  # noqa: F401
from tests.webhooks.receiver import HookReceiver
from training_app.extensions import db
from training_app.models import AuditEvent, OutboxMessage, StaffAccount, Tenant

LEARNERS = 16
SUBMITTERS = 4
DOWN_SECONDS = 3.0


# --- a commit the database does not answer -----------------------------------------------------------


def _connection_lost() -> OperationalError:
    return OperationalError(
        "COMMIT", {}, psycopg.OperationalError("server closed the connection unexpectedly"), True
    )


def test_a_commit_the_database_does_not_answer_is_a_503_and_nothing_is_stored(app, client):
    """A successful sign-in (its audit event and login time are written) whose COMMIT fails because
    the connection is lost: the answer is the 503 page (or JSON) with Retry-After, not a 500."""
    with app.app_context():
        factories.staff(factories.tenant("acme"), "hr@acme.example")
        db.session.commit()

    def lose_the_connection(_session) -> None:
        if has_request_context() and request.path == "/login" and request.method == "POST":
            raise _connection_lost()

    event.listen(Session, "before_commit", lose_the_connection)
    try:
        page = client.login("hr@acme.example", factories.PASSWORD)
        answer = client.submit(
            "/login",
            {"email": "hr@acme.example", "password": factories.PASSWORD},
            headers={"Accept": "application/json"},
        )
    finally:
        event.remove(Session, "before_commit", lose_the_connection)
    # Retry-After: 5 (Flask-Limiter, which counts sign-ins, rewrites it as seconds from now: 4 or 5)
    assert page.status_code == 503 and 4 <= int(page.headers["Retry-After"]) <= 5
    assert "cannot reach its database right now" in text_of(page)
    assert answer.status_code == 503 and answer.json["code"] == "service_unavailable"
    with app.app_context():  # the sign-ins wrote their audit events and login time: none was kept
        assert db.session.scalars(select(AuditEvent.action)).all() == []
        assert db.session.scalar(select(StaffAccount.last_login_at)) is None
    assert client.login("hr@acme.example", factories.PASSWORD).status_code == 302  # and then it works


# --- PostgreSQL restarts under load ------------------------------------------------------------------


@dataclass
class Database:
    url: str
    stop: object
    start: object


@pytest.fixture(
    params=[
        "private cluster",
        pytest.param(
            "shared cluster",
            marks=pytest.mark.skipif(
                os.environ.get("FAULTS_RESTART_POSTGRES") != "1" or shared_cluster_version() is None,
                reason="restarts the machine's PostgreSQL: set FAULTS_RESTART_POSTGRES=1 and run it alone",
            ),
        ),
    ]
)
def restartable(request, backend) -> Iterator[Database]:
    if request.param == "private cluster":
        cluster = PrivateCluster().create()
        try:
            yield Database(cluster.create_database("postwise"), cluster.stop, cluster.start)
        finally:
            cluster.destroy()
        return
    shared = SharedCluster(shared_cluster_version() or "")
    admin = libpq_dsn(os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG))
    name = f"postwise_faults_restart_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG).rsplit("/", 1)[0]
    try:
        yield Database(f"{base}/{name}", shared.stop, shared.start)
    finally:
        shared.start()  # if the test stopped it and failed
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgresql_only
@pytest.mark.slow
def test_postgresql_restarts_under_load_503s_meanwhile_and_everything_recovers_by_itself(
    restartable,
    hooks,  # noqa: F811
    tmp_path: Path,
):
    _migrate(restartable.url)
    _publish_courses(restartable.url)
    app = build_app(settings_for(restartable.url, tmp_path / "instance"))
    try:
        _run_the_scenario(app, restartable, hooks, tmp_path)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _run_the_scenario(app, database: Database, receiver: HookReceiver, tmp_path: Path) -> None:
    with app.app_context():
        tenant = factories.tenant("acme")
        admin = factories.staff(tenant, "hr@acme.example")
        people = [factories.learner(tenant, f"Learner{n} Tester") for n in range(LEARNERS)]
        for person in people:
            ready_for_quiz(person)
        db.session.commit()
        org, user_ids = Org(tenant.id, tenant.slug, admin.id), [p.id for p in people]
    register(app, org, receiver.url, ["completion.recorded"])

    server = ToolProcess("app", process_env(app, tmp_path / "instance-app"), tmp_path, workers=2).spawn()
    worker = start_worker(
        app,
        SECRET_KEY=app.config["SECRET_KEY"],
        TRAINING_OUTBOX_LEASE_SECONDS="4",
        TRAINING_OUTBOX_BATCH_SIZE="5",
    )
    learners: list[LiveLearner] = []
    try:
        server.wait_ready()
        learners = [LiveLearner(app, server.url, user_id).start_attempt() for user_id in user_ids]
        statuses: list[int] = []
        retry_afters: set[str] = set()
        unexpected: list[str] = []
        lock = threading.Lock()
        queue = list(learners)
        passed: set[int] = set()

        def submit_until_stored() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    learner = queue.pop(0)
                try:
                    answer = learner.submit()
                except requests.RequestException as exc:  # the app process itself must never fail
                    with lock:
                        unexpected.append(f"{learner.user_id}: {exc}")
                        queue.append(learner)
                    continue
                with lock:
                    statuses.append(answer.status_code)
                    if answer.status_code == 303:
                        passed.add(learner.user_id)
                    else:
                        if answer.status_code == 503:
                            retry_afters.add(answer.headers.get("Retry-After", ""))
                        else:
                            unexpected.append(f"{learner.user_id}: {answer.status_code} {answer.text[:300]}")
                        queue.append(learner)  # the learner tries again
                time.sleep(0.1)

        submitters = [threading.Thread(target=submit_until_stored) for _ in range(SUBMITTERS)]
        for thread in submitters:
            thread.start()
        wait_until(lambda: len(passed) >= 3, 120, "the first submissions")
        database.stop()  # a fast shutdown: in-flight transactions are rolled back, sessions ended
        down_since = time.monotonic()
        readiness = []
        while time.monotonic() - down_since < DOWN_SECONDS:
            readiness.append(requests.get(f"{server.url}/readyz", timeout=30).status_code)
            time.sleep(0.2)
        database.start()
        for thread in submitters:
            thread.join(240)
        assert not any(thread.is_alive() for thread in submitters), "submissions never recovered"

        assert not unexpected, (unexpected[:3], server.log()[-6000:])
        assert set(statuses) <= {303, 503} and 503 in statuses, Counter(statuses)
        assert retry_afters == {"5"}
        assert set(readiness) == {503}
        assert passed == set(user_ids)
        assert requests.get(f"{server.url}/readyz", timeout=30).status_code == 200  # no restart needed

        for learner in learners:
            page = learner.result_page()
            assert page.status_code == 200 and "You passed with 90/100" in page.text

        # The outbox worker lived through it and announces every completion.
        expected_ids = _webhook_ids(app)
        assert len(expected_ids) == LEARNERS
        wait_until(lambda: set(receiver.accepted_ids()) >= expected_ids, 180, "every completion's webhook")
        # Received is not yet recorded: the worker writes a round's outcomes after its last POST.
        wait_until(lambda: _webhooks_delivered(app) == LEARNERS, 60, "every delivery recorded")
        assert worker.poll() is None, "the outbox worker stopped with the database"
    finally:
        for learner in learners:
            learner.close()
        worker.terminate()
        worker_output = worker.communicate(timeout=60)
        server.terminate()
        server.wait()
    assert worker.returncode == 0, worker_output

    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Completion)) == LEARNERS
        assert db.session.scalar(select(func.count(func.distinct(Completion.user_id)))) == LEARNERS
        assert db.session.scalar(select(func.count()).select_from(Certificate)) == LEARNERS
        webhooks_queued = db.session.scalars(
            select(OutboxMessage.status).where(OutboxMessage.kind == "webhook")
        )
        assert list(webhooks_queued) == ["delivered"] * LEARNERS
        assert db.session.scalar(select(Tenant.slug)) == "acme"
    accepted = receiver.accepted_ids()
    assert set(accepted) == expected_ids
    # At-least-once: a round in the worker's hands when the server went down may be sent again,
    # with the same webhook-id; never more than one round (5 messages).
    assert sum(accepted.values()) - LEARNERS <= 5, accepted


def _webhooks_delivered(app) -> int:
    with app.app_context():
        delivered = db.session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == "webhook", OutboxMessage.status == "delivered")
        )
        db.session.remove()
    return delivered or 0


def _webhook_ids(app) -> set[str]:
    with app.app_context():
        payloads = db.session.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.kind == "webhook")
        ).all()
    return {payload["delivery"] for payload in payloads}
