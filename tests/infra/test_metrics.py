"""Prometheus metrics at /metrics: who may scrape them, what each process counts, what the database
says at scrape time, and the counts of several gunicorn workers added up (multiprocess mode)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from tests.conftest import settings_for
from tests.infra.test_outbox import wait_until, worker_env
from tests.journeys import answer_key, start, submit
from tests.launch.conftest import driver, learner_claims, platform, registered  # noqa: F401
from tests.launch.test_multi_process import ToolProcess
from training_app import create_app, metrics, outbox
from training_app.config import ConfigError
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import OutboxMessage

TOKEN = "metrics-token-for-the-tests-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]
WORKER = [sys.executable, "-m", "flask", "--app", "wsgi", "worker"]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client) -> Samples:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return parse(response.get_data(as_text=True))


@pytest.fixture
def app_settings(app_settings):
    return {**app_settings, "METRICS_TOKEN": TOKEN}


# --- who may scrape ---------------------------------------------------------------------------------


def test_metrics_are_off_until_a_token_or_a_network_is_set(make_app):
    off = make_app(METRICS_TOKEN=None)
    assert off.test_client().get("/metrics", headers=AUTH).status_code == 404


def test_a_scrape_needs_the_bearer_token(client):
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "postwise_" not in refused.get_data(as_text=True)
    for wrong in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer "):
        assert client.get("/metrics", headers={"Authorization": wrong}).status_code == 401, wrong
    allowed = client.get("/metrics", headers=AUTH)
    assert allowed.status_code == 200
    assert allowed.mimetype == "text/plain" and "version=0.0.4" in allowed.headers["Content-Type"]
    assert allowed.headers["Cache-Control"] == "no-store"


def test_an_allow_list_answers_its_networks_only(make_app):
    networks = make_app(METRICS_ALLOWED_NETWORKS="10.0.0.0/8, 192.168.1.7")
    client = networks.test_client()
    assert client.get("/metrics").status_code == 404  # from 127.0.0.1
    for inside in ("10.20.30.40", "192.168.1.7", "::ffff:10.0.0.1"):
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": inside}).status_code == 200, inside
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.168.1.8"}).status_code == 404

    both = make_app(METRICS_ALLOWED_NETWORKS=["10.0.0.0/8"], METRICS_TOKEN=TOKEN).test_client()
    inside = {"REMOTE_ADDR": "10.0.0.9"}
    assert both.get("/metrics", environ_base=inside).status_code == 401
    assert both.get("/metrics", environ_base=inside, headers=AUTH).status_code == 200
    assert both.get("/metrics", headers=AUTH).status_code == 404


def test_a_bad_network_or_a_short_token_stops_the_start(tmp_path):
    settings = settings_for(f"sqlite:///{tmp_path / 'x.db'}", tmp_path / "instance")
    with pytest.raises(ConfigError, match=r"METRICS_ALLOWED_NETWORKS: .*10\.0\.0\.300"):
        create_app({**settings, "METRICS_ALLOWED_NETWORKS": "10.0.0.300/8"})
    with pytest.raises(ConfigError, match="METRICS_TOKEN must be at least 16 characters"):
        create_app({**settings, "METRICS_TOKEN": "short"})


# --- what a process counts --------------------------------------------------------------------------


def test_requests_are_counted_and_timed_by_endpoint_method_and_status(client):
    before = scrape(client)
    for _ in range(2):
        assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    client.open("/healthz", method="BREW")
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("postwise_http_requests_total", endpoint="health.healthz", method="GET", status="200") == 2
    assert delta("postwise_http_requests_total", endpoint="unmatched", method="GET", status="404") == 1
    assert delta("postwise_http_requests_total", endpoint="unmatched", method="other", status="405") == 1
    count = "postwise_http_request_duration_seconds_count"
    assert delta(count, endpoint="health.healthz", method="GET") == 2
    assert (
        delta(
            "postwise_http_request_duration_seconds_bucket",
            endpoint="health.healthz",
            method="GET",
            le="+Inf",
        )
        == 2
    )


def test_a_passed_quiz_is_one_completion_counted_when_it_commits(app, client, learner):
    before = scrape(client)
    attempt_id = start(client)
    assert "You passed" in submit(client, attempt_id, answer_key(app, attempt_id, right=9)).get_data(
        as_text=True
    )
    after = scrape(client)
    name = "postwise_course_results_total"
    assert value(after, name, status="completed") - value(before, name, status="completed") == 1
    assert value(after, name, status="failed") == value(before, name, status="failed")


def test_a_count_waits_for_the_commit_and_a_rollback_forgets_it(app):
    counter = metrics.RESULTS.labels("completed")
    with app.app_context():
        start_value = counter._value.get()
        metrics.count_after_commit(metrics.RESULTS, "completed")
        assert counter._value.get() == start_value  # not yet
        db.session.rollback()
        db.session.commit()
        assert counter._value.get() == start_value  # the rolled-back one is gone

        savepoint = db.session.begin_nested()
        metrics.count_after_commit(metrics.RESULTS, "completed")
        savepoint.commit()
        assert counter._value.get() == start_value
        db.session.commit()  # the transaction
        assert counter._value.get() == start_value + 1


def test_a_launch_is_counted(app, client, driver, registered):  # noqa: F811
    before = value(scrape(client), "postwise_launches_total")
    assert driver.launch(learner_claims(registered)).status == 200
    assert value(scrape(client), "postwise_launches_total") == before + 1


def test_delivery_failures_and_deliveries_are_counted_by_kind(app, client, receiver):
    before = scrape(client)
    receiver.fail_next = 1
    with app.app_context():
        outbox.enqueue("http_post", {"url": receiver.url}, idempotency_key="metrics:1")
        outbox.enqueue(
            "http_post", {"url": receiver.url, "json": {}}, idempotency_key="metrics:2", max_attempts=1
        )
        db.session.commit()
        receiver.fail_next = 1
        outbox.run_worker(once=True)  # the first fails (retried later), the second is delivered
        db.session.execute(update(OutboxMessage).values(next_try_at=utcnow()))
        db.session.commit()
        outbox.run_worker(once=True)
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("postwise_outbox_delivery_failures_total", kind="http_post", final="false") == 1
    assert delta("postwise_outbox_delivery_failures_total", kind="http_post", final="true") == 0
    assert delta("postwise_outbox_deliveries_total", kind="http_post") == 2
    assert receiver.keys() == {"metrics:1": 2, "metrics:2": 1}


def test_a_message_out_of_attempts_is_a_final_failure(app, client, receiver):
    before = scrape(client)
    receiver.fail_next = 1
    with app.app_context():
        outbox.enqueue("http_post", {"url": receiver.url}, idempotency_key="metrics:dead", max_attempts=1)
        db.session.commit()
        outbox.run_worker(once=True)
    after = scrape(client)
    name = "postwise_outbox_delivery_failures_total"
    assert (
        value(after, name, kind="http_post", final="true")
        - value(before, name, kind="http_post", final="true")
        == 1
    )


# --- what the database says at scrape time --------------------------------------------------------------


def test_outbox_depth_age_lag_retrying_and_dead_by_kind(app, client):
    now = utcnow()
    with app.app_context():
        for n in range(3):
            outbox.enqueue("http_post", {"url": "http://127.0.0.1:9/"}, idempotency_key=f"depth:{n}")
        outbox.enqueue("email", {"to": "a@example.com"}, idempotency_key="depth:mail")
        outbox.enqueue("http_post", {"url": "http://127.0.0.1:9/"}, idempotency_key="depth:dead")
        db.session.flush()
        messages = {m.idempotency_key: m for m in db.session.query(OutboxMessage)}
        oldest = messages["depth:0"]
        oldest.created_at, oldest.next_try_at = now - timedelta(minutes=10), now - timedelta(minutes=4)
        retrying = messages["depth:1"]
        retrying.last_error, retrying.attempts = "answered 500", 1
        retrying.next_try_at = now + timedelta(minutes=5)  # not due: no lag of its own
        messages["depth:dead"].status = "dead"
        messages["depth:dead"].last_error = "answered 410"
        db.session.commit()
    samples = scrape(client)
    assert value(samples, "postwise_database_up") == 1
    assert value(samples, "postwise_outbox_pending_messages", kind="http_post") == 3
    assert value(samples, "postwise_outbox_pending_messages", kind="email") == 1
    assert value(samples, "postwise_outbox_retrying_messages", kind="http_post") == 1
    assert value(samples, "postwise_outbox_dead_messages", kind="http_post") == 1
    assert value(samples, "postwise_outbox_dead_messages", kind="email") == 0
    age = value(samples, "postwise_outbox_oldest_pending_age_seconds", kind="http_post")
    lag = value(samples, "postwise_outbox_delivery_lag_seconds", kind="http_post")
    assert 600 <= age < 600 + 120 and 240 <= lag < 240 + 120
    assert 0 <= value(samples, "postwise_outbox_oldest_pending_age_seconds", kind="email") < 120
    # Every registered kind has its series, zero when it has nothing waiting.
    assert ("postwise_outbox_pending_messages", (("kind", "webhook"),)) in samples
    assert value(samples, "postwise_outbox_pending_messages", kind="webhook") == 0


def test_a_database_that_does_not_answer_is_reported_not_a_failed_scrape(tmp_path):
    down = create_app(
        settings_for(
            "postgresql+psycopg://postgres@127.0.0.1:9/none", tmp_path / "instance", METRICS_TOKEN=TOKEN
        )
    )
    samples = scrape(down.test_client())
    assert value(samples, "postwise_database_up") == 0
    assert not any(name.startswith("postwise_outbox_pending") for name, _ in samples)


def test_redis_is_reported_when_configured(make_app):
    assert ("postwise_redis_up", ()) not in scrape(make_app(METRICS_TOKEN=TOKEN).test_client())
    up = make_app(METRICS_TOKEN=TOKEN, REDIS_URL="redis://127.0.0.1:6379/15")
    assert value(scrape(up.test_client()), "postwise_redis_up") == 1
    down = make_app(METRICS_TOKEN=TOKEN, REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    assert value(scrape(down.test_client()), "postwise_redis_up") == 0


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- several gunicorn workers -------------------------------------------------------------------------


@pytest.mark.slow
def test_gunicorn_workers_counts_are_added_up_in_every_scrape(app, tmp_path):
    """Two workers, PROMETHEUS_MULTIPROC_DIR set: whichever worker answers a scrape reports every
    request of both (./gunicorn.conf.py empties the folder at start)."""
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"stale file of an earlier run")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "TRAINING_CONFIG": "testing",
        "TRAINING_INSTANCE_PATH": str(tmp_path / "instance-gunicorn"),
        "TRAINING_LOG_LEVEL": "WARNING",
        "TRAINING_METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
    }
    server = ToolProcess("metrics", env, tmp_path, workers=2).spawn()
    try:
        server.wait_ready()
        hits = 40
        for _ in range(hits):  # a connection each: the workers take turns accepting them
            assert requests.get(f"{server.url}/healthz", timeout=30).status_code == 200
        pids = {path.stem.split("_")[-1] for path in folder.glob("counter_*.db")}
        assert len(pids) == 2, f"both workers should have answered: {sorted(folder.iterdir())}"
        counts = set()
        for _ in range(6):
            response = requests.get(f"{server.url}/metrics", headers=AUTH, timeout=30)
            assert response.status_code == 200
            samples = parse(response.text)
            counts.add(
                value(
                    samples,
                    "postwise_http_requests_total",
                    endpoint="health.healthz",
                    method="GET",
                    status="200",
                )
            )
        # /healthz of the readiness wait are counted too; every scrape, whichever worker, says the same.
        assert len(counts) == 1 and counts.pop() >= hits
        assert value(samples, "postwise_database_up") == 1
    finally:
        server.terminate()
        server.wait()
    assert not (folder / "counter_999999.db").exists()


@pytest.mark.slow
def test_the_outbox_worker_serves_its_own_counters(app, receiver):
    port = closed_port()
    with app.app_context():
        outbox.enqueue("http_post", {"url": receiver.url}, idempotency_key="worker-metrics:1")
        db.session.commit()
    worker = subprocess.Popen(
        [*WORKER, "--poll-interval", "0.05", "--metrics-port", str(port)],
        cwd=ROOT,
        env=worker_env(app),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: len(receiver.requests) == 1, 60, "the delivery")
        samples: Samples = {}

        def counted() -> bool:
            nonlocal samples
            try:
                samples = parse(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
            except requests.RequestException:
                return False
            return value(samples, "postwise_outbox_deliveries_total", kind="http_post") == 1

        wait_until(counted, 30, "the worker's counter")
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
