"""The console's webhook pages: register (secret shown once), list, change, turn off and on,
delete, replay one or every failed delivery, the tenant's setting; SSRF refusals; every write
audited; auditors read only."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.helpers import FormClient, text_of
from tests.webhooks.conftest import attest, employee, make_due, register, run_worker
from training_app.extensions import db
from training_app.models import AuditEvent, Tenant
from webhooks import services, settings
from webhooks.models import WebhookDelivery, WebhookEndpoint

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{40,}")


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_registering_shows_the_secret_once_and_it_verifies_the_deliveries(app, acme, hooks, hr):
    form = {"url": hooks.url, "description": "Workday", "event_types": ["attestation.recorded"]}
    page = hr.submit("/console/webhooks/new", form)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    [secret] = SECRET.findall(page.get_data(as_text=True))
    with app.app_context():
        endpoint = db.session.scalar(select(WebhookEndpoint))
        assert endpoint.url == hooks.url and endpoint.event_types == ["attestation.recorded"]
    for url in (
        "/console/webhooks/",
        f"/console/webhooks/{endpoint.id}",
        f"/console/webhooks/{endpoint.id}/edit",
    ):
        shown = hr.get(url)
        assert shown.status_code == 200 and not SECRET.search(shown.get_data(as_text=True)), url
    assert hooks.url in text_of(hr.get("/console/webhooks/"))
    attest(app, employee(app, acme))
    run_worker(app)
    [hit] = hooks.accepted()
    assert hit.verified(secret)["type"] == "attestation.recorded"
    assert audit_actions(app)[-2:] == ["webhook.endpoint_created", "attestation.signed"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/hooks",
        "http://192.168.1.20/hooks",
        "http://[::1]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "ftp://hr.example.com/hooks",
        "https://user:secret@hr.example.com/hooks",
    ],
)
def test_an_address_of_this_machine_its_network_or_a_metadata_service_is_refused(app, acme, make_app, url):
    strict = make_app(OUTBOUND_ALLOWED_HOSTS=[])  # no internal host named by the operator
    hr = FormClient(strict)
    hr.login("hr@acme.example", factories.PASSWORD)
    form = {"url": url, "event_types": ["completion.recorded"]}
    response = hr.submit("/console/webhooks/new", form)
    assert response.status_code == 422
    assert "Addresses of this server, of private networks" in text_of(response)
    assert count(app, WebhookEndpoint) == 0
    assert "webhook.endpoint_created" not in audit_actions(app)


def test_production_refuses_plain_http_and_a_named_host_is_allowed(app, acme, make_app):
    production = make_app(
        CONFIG="production",
        PUBLIC_URL="https://training.example.com",
        OUTBOUND_ALLOW_HTTP=False,
        OUTBOUND_ALLOWED_HOSTS=["hr.internal.example"],
    )
    with production.app_context():
        for url in ("http://hr.example.com/hooks", "https://127.0.0.1/hooks", "https://169.254.169.254/"):
            with pytest.raises(services.ValidationFailed):
                services.check_fields(services.EndpointFields(url, "", ["completion.recorded"]))
        named = services.check_fields(
            services.EndpointFields("https://hr.internal.example/hooks", "", ["completion.recorded"])
        )
        assert named.url == "https://hr.internal.example/hooks"


def test_a_delivery_to_a_refused_address_is_not_sent(app, acme, hooks, make_app):
    """Registered while the operator allowed 127.0.0.1; the worker's configuration no longer does."""
    register(app, acme, hooks.url, ["attestation.recorded"])
    attest(app, employee(app, acme))
    run_worker(make_app(OUTBOUND_ALLOWED_HOSTS=[]))
    with app.app_context():
        delivery = db.session.scalar(select(WebhookDelivery))
    assert delivery.status == "failed" and delivery.last_error == (
        "not sent: 127.0.0.1 is not an address this service may connect to"
    )
    assert hooks.hits == []


def test_wrong_fields_are_refused_with_what_to_fix(app, acme, hooks, hr):
    response = hr.submit("/console/webhooks/new", {"url": hooks.url, "event_types": ["user.deleted"]})
    assert response.status_code == 422 and "Choose at least one of the listed events" in text_of(response)
    response = hr.submit("/console/webhooks/new", {"url": hooks.url})
    assert response.status_code == 422
    response = hr.submit(
        "/console/webhooks/new",
        {"url": hooks.url, "description": "x" * 201, "event_types": ["certificate.issued"]},
    )
    assert response.status_code == 422 and "too long" in text_of(response)
    assert count(app, WebhookEndpoint) == 0


def test_changing_turning_off_and_on_and_deleting_are_audited(app, acme, hooks, hr):
    endpoint_id, _ = register(app, acme, hooks.url)
    page = f"/console/webhooks/{endpoint_id}"
    edited = hr.submit(
        f"{page}/edit",
        {"url": hooks.url + "/v2", "description": "SAP", "event_types": ["certificate.issued"]},
    )
    assert edited.status_code == 303
    endpoint = db_endpoint(app, endpoint_id)
    assert endpoint.url.endswith("/v2") and endpoint.event_types == ["certificate.issued"]
    assert hr.post_form(f"{page}/disable", {}).status_code == 303
    assert not db_endpoint(app, endpoint_id).enabled
    assert "off" in text_of(hr.get(page))
    assert hr.post_form(f"{page}/enable", {}).status_code == 303
    assert db_endpoint(app, endpoint_id).enabled
    assert hr.post_form(f"{page}/delete", {}).status_code == 422  # the box was not ticked
    assert hr.post_form(f"{page}/delete", {"confirm": "y"}).status_code == 303
    assert count(app, WebhookEndpoint) == 0
    assert audit_actions(app)[-5:] == [
        "webhook.endpoint_created",
        "webhook.endpoint_updated",
        "webhook.endpoint_disabled",
        "webhook.endpoint_enabled",
        "webhook.endpoint_deleted",
    ]
    with app.app_context():
        updated = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.endpoint_updated"))
        assert updated.actor == f"staff:{acme.admin_id}" and updated.subject_id == str(endpoint_id)
        assert set(updated.data["changed"]) == {"url", "description", "event_types"}


def db_endpoint(app, endpoint_id: int) -> WebhookEndpoint:
    with app.app_context():
        return db.session.get(WebhookEndpoint, endpoint_id)


def test_replaying_one_delivery_sends_it_again_with_the_same_webhook_id(app, acme, hooks, hr):
    endpoint_id, secret = register(app, acme, hooks.url, ["attestation.recorded"])
    attest(app, employee(app, acme))
    run_worker(app)
    with app.app_context():
        delivery = db.session.scalar(select(WebhookDelivery))
    page = hr.get(f"/console/webhooks/{endpoint_id}")
    assert delivery.message_id in text_of(page) and "200" in text_of(page)
    assert hr.post_form(f"/console/webhooks/deliveries/{delivery.id}/replay", {}).status_code == 303
    run_worker(app)
    first, again = hooks.accepted()
    assert first.webhook_id == again.webhook_id == delivery.message_id and first.body == again.body
    again.verified(secret)
    with app.app_context():
        replayed = db.session.get(WebhookDelivery, delivery.id)
        assert replayed.status == "delivered" and replayed.attempts == 2 and replayed.replays == 1
    assert audit_actions(app)[-1] == "webhook.delivery_replayed"
    detail = hr.get(f"/console/webhooks/deliveries/{delivery.id}")
    assert detail.status_code == 200 and "attestation.recorded" in text_of(detail)


def test_replaying_every_failed_delivery_of_an_endpoint(app, acme, hooks, hr):
    endpoint_id, secret = register(app, acme, hooks.url, ["attestation.recorded"])
    hooks.answers = [410, 410]
    attest(app, employee(app, acme))
    attest(app, employee(app, acme, "Grace Hopper", "E002"))
    run_worker(app)
    assert hooks.accepted() == []
    failed = hr.get(f"/console/webhooks/{endpoint_id}?status=failed")
    assert text_of(failed).count("410") >= 2
    response = hr.post_form(f"/console/webhooks/{endpoint_id}/replay-failed", {})
    assert response.status_code == 303
    make_due(app)
    run_worker(app)
    assert sorted(hooks.accepted_ids().values()) == [1, 1]
    for hit in hooks.accepted():
        hit.verified(secret)
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.failed_replayed"))
        assert event.data["count"] == 2


def test_replay_waits_until_the_endpoint_is_turned_on(app, acme, hooks, hr):
    endpoint_id, _ = register(app, acme, hooks.url, ["attestation.recorded"])
    attest(app, employee(app, acme))
    run_worker(app)
    hr.post_form(f"/console/webhooks/{endpoint_id}/disable", {})
    response = hr.post_form(f"/console/webhooks/{endpoint_id}/replay-failed", {})
    assert response.status_code == 409 and "turn it on first" in text_of(response)


def test_the_days_before_an_endpoint_is_turned_off_are_the_tenants_setting(app, acme, hr):
    assert hr.post_form("/console/webhooks/settings", {"disable_after_days": "5"}).status_code == 303
    with app.app_context():
        assert settings.disable_after_days(db.session.get(Tenant, acme.id)) == 5
    for wrong in ("0", "31", "many", ""):
        response = hr.post_form("/console/webhooks/settings", {"disable_after_days": wrong})
        assert response.status_code == 422 and "between 1 and 30" in text_of(response), wrong
    with app.app_context():
        assert settings.disable_after_days(db.session.get(Tenant, acme.id)) == 5
    assert audit_actions(app).count("webhook.settings_changed") == 1


def test_an_auditor_sees_the_endpoints_but_changes_nothing(app, acme, hooks):
    endpoint_id, _ = register(app, acme, hooks.url)
    with app.app_context():
        factories.staff(db.session.get(Tenant, acme.id), "auditor@acme.example", "auditor")
        db.session.commit()
    auditor = FormClient(app)
    auditor.login("auditor@acme.example", factories.PASSWORD)
    assert auditor.get("/console/webhooks/").status_code == 200
    page = auditor.get(f"/console/webhooks/{endpoint_id}")
    assert page.status_code == 200 and "Make a new secret" not in text_of(page)
    for action in ("disable", "rotate", "replay-failed", "delete"):
        response = auditor.post_form(
            f"/console/webhooks/{endpoint_id}/{action}", {"confirm": "y", "grace_hours": "1"}
        )
        assert response.status_code == 403, action
    assert auditor.get("/console/webhooks/new").status_code == 403
    assert db_endpoint(app, endpoint_id).enabled
