"""The outbox against a real HTTP receiver on 127.0.0.1, with real worker processes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import count_rows
from training_app import outbox
from training_app.extensions import db
from training_app.models import OutboxMessage

ROOT = Path(__file__).resolve().parents[2]


def enqueue_posts(app, url: str, count: int = 1, **payload_extra) -> None:
    with app.app_context():
        for n in range(count):
            outbox.enqueue(
                "http_post", {"url": url, "json": {"n": n}, **payload_extra}, idempotency_key=f"test:{n}"
            )
        db.session.commit()


def message(app, key: str = "test:0") -> OutboxMessage:
    with app.app_context():
        return db.session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))


def run_once(app) -> int:
    with app.app_context():
        return outbox.run_worker(once=True)


def make_due(app) -> None:
    with app.app_context():
        db.session.execute(OutboxMessage.__table__.update().values(next_try_at=outbox.utcnow()))
        db.session.commit()


def test_a_message_is_delivered_with_its_idempotency_key(app, receiver):
    enqueue_posts(app, receiver.url + "/hook", headers={"X-Signature": "abc"})
    assert run_once(app) == 1
    [request] = receiver.requests
    assert request.path == "/hook" and request.body == {"n": 0}
    assert request.headers["Idempotency-Key"] == "test:0"
    assert request.headers["X-Signature"] == "abc"
    delivered = message(app)
    assert delivered.status == "delivered" and delivered.delivered_at is not None and delivered.attempts == 1


def test_a_message_rolled_back_with_its_transaction_is_never_sent(app, receiver):
    with app.app_context():
        outbox.enqueue("http_post", {"url": receiver.url}, idempotency_key="rolled-back")
        db.session.rollback()
        assert count_rows("outbox_messages") == 0
    assert run_once(app) == 0 and receiver.requests == []


def test_the_same_idempotency_key_is_enqueued_once(app, receiver):
    enqueue_posts(app, receiver.url)
    enqueue_posts(app, receiver.url)
    with app.app_context():
        assert count_rows("outbox_messages") == 1


def test_retry_after_the_receiver_fails_then_recovers(app, receiver):
    receiver.fail_next = 2
    enqueue_posts(app, receiver.url)
    run_once(app)
    failed = message(app)
    assert failed.status == "pending" and failed.attempts == 1
    assert "answered 500" in failed.last_error and failed.next_try_at > failed.created_at
    for _ in range(2):
        make_due(app)
        run_once(app)
    delivered = message(app)
    assert delivered.status == "delivered" and delivered.attempts == 3
    assert [r.headers["X-Test-Answer"] for r in receiver.requests] == ["500", "500", "200"]
    assert set(receiver.keys()) == {"test:0"}


def test_backoff_grows_exponentially_with_jitter(app):
    with app.app_context():
        base = app.config["OUTBOX_BACKOFF_SECONDS"]
        for attempt in range(1, 6):
            delays = {outbox.backoff_seconds(attempt) for _ in range(20)}
            assert all(base * 2 ** (attempt - 1) * 0.5 <= d <= base * 2 ** (attempt - 1) for d in delays)
            assert len(delays) > 1  # jitter


@pytest.fixture
def app_settings(app_settings):
    return {**app_settings, "OUTBOX_MAX_ATTEMPTS": 3}


def test_dead_letter_after_the_limit_then_manual_retry_from_the_cli(app, receiver):
    receiver.fail_next = 99
    enqueue_posts(app, receiver.url)
    for _ in range(3):
        make_due(app)
        run_once(app)
    dead = message(app)
    assert dead.status == "dead" and dead.attempts == 3
    assert "answered 500" in dead.last_error and "receiver refused" in dead.last_error
    listing = app.test_cli_runner().invoke(args=["outbox", "list", "--status", "dead"])
    assert f"#{dead.id}\thttp_post" in listing.output
    receiver.fail_next = 0
    result = app.test_cli_runner().invoke(args=["outbox", "retry", str(dead.id)])
    assert result.exit_code == 0 and "pending again" in result.output
    run_once(app)
    assert message(app).status == "delivered"
    again = app.test_cli_runner().invoke(args=["outbox", "retry", str(dead.id)])
    assert again.exit_code != 0 and "only dead messages can be retried" in again.output


def test_a_client_error_goes_to_dead_letter_at_once_with_the_answer_kept(app, receiver):
    receiver.fail_next, receiver.fail_status = 1, 422
    enqueue_posts(app, receiver.url)
    run_once(app)
    dead = message(app)
    assert dead.status == "dead" and dead.attempts == 1 and "answered 422" in dead.last_error


def test_a_rate_limited_answer_is_retried(app, receiver):
    receiver.fail_next, receiver.fail_status = 1, 429
    enqueue_posts(app, receiver.url)
    run_once(app)
    assert message(app).status == "pending"


def test_a_handler_that_raises_leaves_the_message_pending_with_the_error(app):
    def broken(_delivery):
        raise KeyError("missing field")

    outbox.register_handler("test_broken", broken)
    with app.app_context():
        outbox.enqueue("test_broken", {}, idempotency_key="broken:1")
        db.session.commit()
    run_once(app)
    kept = message(app, "broken:1")
    assert kept.status == "pending" and "KeyError" in kept.last_error and kept.attempts == 1


def test_a_timeout_leaves_the_message_pending_with_the_error(app, receiver):
    receiver.delay = 1.0
    enqueue_posts(app, receiver.url, timeout=0.2)
    run_once(app)
    kept = message(app)
    assert kept.status == "pending" and "timed out after 0.2s" in kept.last_error


def test_an_unreachable_receiver_is_retried(app):
    enqueue_posts(app, "http://127.0.0.1:9/nothing-listens-here")
    run_once(app)
    kept = message(app)
    assert kept.status == "pending" and "could not reach" in kept.last_error


def test_an_unknown_kind_is_refused_when_enqueued(app):
    with app.app_context(), pytest.raises(ValueError, match="no outbox handler for kind 'fax'"):
        outbox.enqueue("fax", {}, idempotency_key="x")


# --- real worker processes -----------------------------------------------------------------


def worker_env(app, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "test",
        "TRAINING_CONFIG": "testing",
        "TRAINING_OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",  # the receiver and the LMS emulator
        "TRAINING_INSTANCE_PATH": app.instance_path,
        "TRAINING_LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


def start_worker(app, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--poll-interval", "0.05"],
        cwd=ROOT,
        env=worker_env(app, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_a_worker_killed_mid_delivery_does_not_strand_the_message(app, receiver):
    receiver.delay = 2.0
    enqueue_posts(app, receiver.url)
    doomed = start_worker(app, TRAINING_OUTBOX_LEASE_SECONDS="3")
    try:
        wait_until(lambda: len(receiver.requests) == 1, 30, "the first delivery to start")
        doomed.send_signal(signal.SIGKILL)
    finally:
        doomed.communicate(timeout=10)
    stranded = message(app)
    assert stranded.status == "pending" and stranded.locked_until is not None
    receiver.delay = 0
    # Before the lease runs out nobody else takes it; after, the next worker delivers it.
    assert run_once(app) == 0
    wait_until(lambda: message(app).locked_until < outbox.utcnow(), 10, "the lease to expire")
    assert run_once(app) == 1
    assert message(app).status == "delivered"
    assert receiver.keys() == {"test:0": 2}  # delivered again, with the same key to deduplicate on


@pytest.mark.slow
@pytest.mark.parametrize("total", [1000])
def test_two_worker_processes_deliver_every_message_exactly_once(app, receiver, total, dialect):
    # A receiver that takes 3 ms per message keeps the first worker busy long enough for the
    # second to start, even on a loaded machine: both must share the work. (Set the variable to 0
    # to measure the outbox's own throughput: `OUTBOX_RECEIVER_DELAY=0 pytest -s -k exactly`.)
    receiver.delay = float(os.environ.get("OUTBOX_RECEIVER_DELAY", "0.003"))
    enqueue_posts(app, receiver.url, count=total)
    started = time.monotonic()
    workers = [start_worker(app, TRAINING_OUTBOX_BATCH_SIZE="20") for _ in range(2)]
    try:
        wait_until(lambda: len(receiver.requests) >= total, 180, f"{total} deliveries")
        elapsed = time.monotonic() - started
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=30) for worker in workers]
    keys = receiver.keys()
    assert len(keys) == total and set(keys.values()) == {1}, "a message was delivered twice or lost"
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(OutboxMessage.status == "delivered")) == total
        deliverers = db.session.scalars(select(OutboxMessage.locked_by).distinct()).all()
    assert len(deliverers) == 2, f"both workers should have delivered: {outputs}"
    print(
        f"\n{dialect}: {total} messages in {elapsed:.2f}s = {total / elapsed:.0f} messages/s with 2 workers"
    )
