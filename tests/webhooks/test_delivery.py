"""Delivery: retries while the receiver is down (nothing lost, each webhook-id accepted once),
slow receivers, final answers, redirects, secret rotation, and endpoints that keep failing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.webhooks.conftest import attest, employee, make_due, outbox_of, register, run_worker
from training_app import outbox
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import AuditEvent, OutboxMessage
from webhooks.models import WebhookDelivery, WebhookEndpoint


def deliveries(app) -> list[WebhookDelivery]:
    with app.app_context():
        return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def endpoint_row(app, endpoint_id: int) -> WebhookEndpoint:
    with app.app_context():
        return db.session.get(WebhookEndpoint, endpoint_id)


def three_events(app, acme) -> None:
    """Three learners sign the attestation: three attestation.recorded events."""
    for number, name in enumerate(("Ada Lovelace", "Grace Hopper", "Alan Turing"), start=1):
        attest(app, employee(app, acme, name, f"E00{number}"))


@pytest.mark.parametrize("round_size", [1, 50])
def test_deliveries_wait_while_the_receiver_is_down_and_arrive_once_when_it_is_back(
    app, acme, hooks, round_size
):
    """The same outcomes whether a worker's round holds one message or all of them."""
    app.config["OUTBOX_BATCH_SIZE"] = round_size
    _, secret = register(app, acme, hooks.url, ["attestation.recorded"])
    hooks.stop()  # nothing listens on its port
    three_events(app, acme)
    for _ in range(2):
        run_worker(app)
        make_due(app)
    waiting = deliveries(app)
    assert [d.status for d in waiting] == ["retrying"] * 3 and all(d.attempts == 2 for d in waiting)
    assert all("could not connect" in d.last_error and d.last_status_code is None for d in waiting)
    hooks.answers = [503]  # back, but the first answer is an error
    hooks.start()
    run_worker(app)
    make_due(app)
    run_worker(app)
    assert sorted(hooks.accepted_ids().values()) == [1, 1, 1]  # each webhook-id accepted once
    assert set(hooks.accepted_ids()) == {d.message_id for d in waiting}  # nothing lost
    for hit in hooks.accepted():
        assert hit.verified(secret)["type"] == "attestation.recorded"
    done = deliveries(app)
    assert [d.status for d in done] == ["delivered"] * 3
    assert sorted(d.attempts for d in done) == [3, 3, 4] and {d.last_status_code for d in done} == {200}
    assert endpoint_row(app, done[0].endpoint_id).failing_since is None


def test_every_attempt_is_signed_afresh_with_the_same_webhook_id(app, acme, hooks):
    _, secret = register(app, acme, hooks.url, ["attestation.recorded"])
    hooks.answers = [500]
    attest(app, employee(app, acme))
    run_worker(app)
    make_due(app)
    run_worker(app)
    first, second = hooks.hits
    assert first.webhook_id == second.webhook_id and first.body == second.body
    assert second.verified(secret)["data"]["employee_id"] == "E001"


def test_a_slow_receiver_times_out_and_is_retried(app, acme, hooks):
    app.config["WEBHOOK_TIMEOUT_SECONDS"] = 0.2
    register(app, acme, hooks.url, ["attestation.recorded"])
    hooks.delay = 1.0
    attest(app, employee(app, acme))
    run_worker(app)
    [delivery] = deliveries(app)
    assert delivery.status == "retrying" and delivery.last_error == "no answer within 0.2 s"
    assert delivery.last_duration_ms < 1000
    [message] = outbox_of(app)
    assert message.status == "pending" and message.next_try_at > utcnow()


def test_a_client_error_is_final(app, acme, hooks):
    register(app, acme, hooks.url, ["attestation.recorded"])
    hooks.answers = [400]
    attest(app, employee(app, acme))
    run_worker(app)
    [delivery] = deliveries(app)
    assert delivery.status == "failed" and delivery.last_status_code == 400
    assert [m.status for m in outbox_of(app)] == ["dead"]


def test_a_redirect_is_not_followed_and_fails_the_delivery(app, acme, hooks):
    """The receiver answers 302 to an internal address: the delivery fails with the answer, and the
    address is never contacted."""
    from tests.webhooks.receiver import HookReceiver

    internal = HookReceiver().start()
    try:
        register(app, acme, hooks.url, ["attestation.recorded"])
        hooks.answers, hooks.location = [302], internal.url
        attest(app, employee(app, acme))
        run_worker(app)
        [delivery] = deliveries(app)
        assert delivery.status == "failed" and delivery.last_status_code == 302
        assert "not followed" in delivery.last_error
        assert internal.hits == []
    finally:
        internal.stop()


def test_after_a_rotation_both_secrets_verify_until_the_grace_period_ends(app, acme, hooks, hr):
    endpoint_id, old_secret = register(app, acme, hooks.url, ["attestation.recorded"])
    page = hr.post_form(f"/console/webhooks/{endpoint_id}/rotate", {"grace_hours": "24"})
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    new_secret = endpoint_row(app, endpoint_id).secret
    assert new_secret != old_secret and new_secret in page.get_data(as_text=True)
    attest(app, employee(app, acme))
    run_worker(app)
    [during] = hooks.accepted()
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert all(part.startswith("v1,") for part in during.headers["webhook-signature"].split(" "))
    during.verified(old_secret)
    during.verified(new_secret)
    with app.app_context():  # the grace period is over
        db.session.get(WebhookEndpoint, endpoint_id).previous_secret_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
    attest(app, employee(app, acme, "Grace Hopper", "E002"))
    run_worker(app)
    after = hooks.accepted()[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    after.verified(new_secret)
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(after.body, after.headers)


def test_rotating_with_no_grace_stops_the_old_secret_at_once(app, acme, hooks, hr):
    endpoint_id, old_secret = register(app, acme, hooks.url, ["attestation.recorded"])
    assert hr.post_form(f"/console/webhooks/{endpoint_id}/rotate", {"grace_hours": "0"}).status_code == 200
    attest(app, employee(app, acme))
    run_worker(app)
    [hit] = hooks.accepted()
    hit.verified(endpoint_row(app, endpoint_id).secret)
    with pytest.raises(WebhookVerificationError):
        hit.verified(old_secret)


def test_an_endpoint_failing_for_the_tenants_days_is_turned_off_and_the_admins_told(app, acme, hooks):
    endpoint_id, _ = register(app, acme, hooks.url, ["attestation.recorded"])
    hooks.answers = [500, 500]
    attest(app, employee(app, acme))
    run_worker(app)
    started = endpoint_row(app, endpoint_id).failing_since
    assert started is not None and endpoint_row(app, endpoint_id).enabled
    with app.app_context():  # the failures began three days ago (the default)
        db.session.get(WebhookEndpoint, endpoint_id).failing_since = started - timedelta(days=3)
        db.session.commit()
    make_due(app)
    with app.app_context():  # deliver the webhook only: the email stays queued to be looked at
        worker = outbox.worker_id()
        outbox.deliver_round([d for d in outbox.claim_due(worker, 10) if d.kind == "webhook"], worker)
    off = endpoint_row(app, endpoint_id)
    assert not off.enabled and "3 day(s)" in off.disabled_reason
    [email] = [m for m in outbox_of(app, "email")]
    assert email.payload["to"] == ["hr@acme.example"] and hooks.url in email.payload["subject"]
    assert f"/console/webhooks/{endpoint_id}" in email.payload["text"]
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.endpoint_disabled"))
        assert event.actor == "system" and event.subject_id == str(endpoint_id)
    # turned off: nothing new is queued for it, and what was queued is not sent
    attest(app, employee(app, acme, "Grace Hopper", "E002"))
    assert len(deliveries(app)) == 1
    assert len(hooks.hits) == 2


def test_a_queued_delivery_of_a_turned_off_endpoint_fails_without_being_sent(app, acme, hooks):
    endpoint_id, _ = register(app, acme, hooks.url, ["attestation.recorded"])
    attest(app, employee(app, acme))
    with app.app_context():
        db.session.get(WebhookEndpoint, endpoint_id).enabled = False
        db.session.commit()
    run_worker(app)
    [delivery] = deliveries(app)
    assert delivery.status == "failed" and "turned off" in delivery.last_error and hooks.hits == []
    assert [m.status for m in outbox_of(app)] == ["dead"]


def test_a_deleted_endpoint_takes_its_queued_messages_with_it(app, acme, hooks, hr):
    endpoint_id, _ = register(app, acme, hooks.url, ["attestation.recorded"])
    attest(app, employee(app, acme))
    response = hr.post_form(f"/console/webhooks/{endpoint_id}/delete", {"confirm": "y"})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "webhook")) is None
    assert run_worker(app) == 0 and hooks.hits == []


def test_a_round_slowed_down_by_its_receiver_leaves_the_rest_for_the_next(app, acme, hooks):
    """Half the lease (here 0.5 s) is a round's time to send: what is left is not tried, not failed."""
    app.config["OUTBOX_LEASE_SECONDS"] = 1
    register(app, acme, hooks.url, ["attestation.recorded"])
    hooks.delay = 0.4
    three_events(app, acme)
    run_worker(app)
    rows = deliveries(app)
    assert [d.status for d in rows] == ["delivered", "delivered", "pending"]
    assert rows[2].attempts == 0 and rows[2].last_error is None
    waiting = [m for m in outbox_of(app) if m.status == "pending"]
    assert len(waiting) == 1 and "time ran out" in waiting[0].last_error
    hooks.delay = 0
    make_due(app)
    run_worker(app)
    assert [d.status for d in deliveries(app)] == ["delivered"] * 3
    assert sorted(hooks.accepted_ids().values()) == [1, 1, 1]


def test_an_endpoint_deleted_while_its_deliveries_are_sent_stops_nothing(app, acme, hooks, monkeypatch):
    """HR deletes the endpoint while the worker waits on the receiver: the worker carries on, and
    nothing of the endpoint is left."""
    from webhooks import delivery as sending
    from webhooks import services

    endpoint_id, _ = register(app, acme, hooks.url, ["attestation.recorded"])
    attest(app, employee(app, acme))
    real_post = sending.post

    def post_then_delete(*args, **kwargs):
        attempt = real_post(*args, **kwargs)
        with app.app_context():  # another request's session
            endpoint = db.session.get(WebhookEndpoint, endpoint_id)
            services.delete_endpoint(endpoint, staff_id=acme.admin_id, ip_address=None)
            db.session.commit()
        return attempt

    monkeypatch.setattr(sending, "post", post_then_delete)
    run_worker(app)
    assert len(hooks.accepted()) == 1
    assert deliveries(app) == [] and outbox_of(app) == []
