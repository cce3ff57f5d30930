"""An outbox worker process killed with SIGKILL in the middle of deliveries (PostgreSQL, real worker
processes started as operators start them: `flask --app wsgi worker`).

What the product promises (README, Production deployment; training_app.outbox): delivery is
at-least-once, every message carries an idempotency key (`Idempotency-Key`, a webhook's
`webhook-id`), and a message whose worker died is delivered once its lease runs out. So after the
kill every message is delivered, and a message arrives twice only if it was in the dead worker's
hands (claimed, its outcome not yet written), with the same key both times: at most the one message
of a one-at-a-time kind it was sending, and the unfinished round of a kind delivered by rounds
(webhooks).
"""

from __future__ import annotations

import signal

import pytest
from sqlalchemy import select

from tests.infra.test_outbox import start_worker, wait_until
from tests.webhooks.conftest import acme, attest, employee, hooks, register  # noqa: F401
from training_app import outbox
from training_app.extensions import db
from training_app.models import OutboxMessage

pytestmark = [pytest.mark.postgresql_only, pytest.mark.slow]

POSTS, WEBHOOKS = 40, 12


def queue_posts(app, url: str) -> set[str]:
    keys = {f"fault:post:{n}" for n in range(POSTS)}
    with app.app_context():
        for key in sorted(keys):
            outbox.enqueue("http_post", {"url": url, "json": {"key": key}}, idempotency_key=key)
        db.session.commit()
    return keys


def in_the_hands_of(app, worker_pid: int) -> dict[int, str]:
    """Messages the worker had claimed and not finished: id -> kind."""
    with app.app_context():
        rows = db.session.execute(
            select(OutboxMessage.id, OutboxMessage.kind).where(
                OutboxMessage.status == "pending", OutboxMessage.locked_by.like(f"%:{worker_pid}")
            )
        ).all()
        db.session.rollback()
    return dict(rows)


def messages(app) -> list[OutboxMessage]:
    with app.app_context():
        return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_a_worker_killed_mid_delivery_loses_nothing_and_repeats_only_what_it_held(
    app,
    acme,  # noqa: F811
    hooks,  # noqa: F811
    receiver,
):
    receiver.delay = hooks.delay = 0.05  # a slow receiver: the kill lands while deliveries are under way
    _, secret = register(app, acme, hooks.url, ["attestation.recorded"])
    for number in range(WEBHOOKS):
        attest(app, employee(app, acme, f"Learner {number}", f"E{number:03}"))
    post_keys = queue_posts(app, receiver.url)
    webhook_ids = {m.payload["delivery"] for m in messages(app) if m.kind == "webhook"}  # the webhook-ids
    assert len(webhook_ids) == WEBHOOKS
    settings = {
        "SECRET_KEY": app.config["SECRET_KEY"],  # webhook secrets are sealed with it
        "TRAINING_OUTBOX_LEASE_SECONDS": "4",
        "TRAINING_OUTBOX_BATCH_SIZE": "10",
    }

    doomed = start_worker(app, **settings)
    try:
        wait_until(lambda: len(receiver.requests) >= 12, 120, "deliveries to be under way")
        doomed.send_signal(signal.SIGKILL)
    finally:
        doomed.communicate(timeout=30)
    held = in_the_hands_of(app, doomed.pid)
    assert held, "the worker was killed between rounds: nothing was in its hands"
    survivors = [start_worker(app, **settings) for _ in range(2)]
    try:
        wait_until(lambda: set(receiver.keys()) >= post_keys, 180, "every POST")
        wait_until(lambda: set(hooks.accepted_ids()) >= webhook_ids, 180, "every webhook")
        wait_until(lambda: all(m.status == "delivered" for m in messages(app)), 60, "every outcome")
    finally:
        for worker in survivors:
            worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=60) for worker in survivors]
    assert all(worker.returncode == 0 for worker in survivors), outputs

    rows = {m.id: m for m in messages(app)}
    assert {m.status for m in rows.values()} == {"delivered"}
    assert all(not m.locked_by.endswith(f":{doomed.pid}") for m in rows.values() if m.id in held)

    # POSTs: each key arrived; twice only for the one the dead worker was sending.
    received = receiver.keys()
    assert set(received) == post_keys
    repeated = {key for key, times in received.items() if times > 1}
    held_keys = {rows[i].idempotency_key for i, kind in held.items() if kind == "http_post"}
    assert repeated <= held_keys and len(repeated) <= 1 and set(received.values()) <= {1, 2}

    # Webhooks: each webhook-id accepted, verified; twice only for the dead worker's round.
    accepted = hooks.accepted_ids()
    assert set(accepted) == webhook_ids and set(accepted.values()) <= {1, 2}
    held_webhook_ids = {rows[i].payload["delivery"] for i, kind in held.items() if kind == "webhook"}
    repeated_hooks = {webhook_id for webhook_id, times in accepted.items() if times > 1}
    assert repeated_hooks <= held_webhook_ids, (repeated_hooks, held_webhook_ids)
    for hit in hooks.accepted():
        assert hit.verified(secret)["type"] == "attestation.recorded"
