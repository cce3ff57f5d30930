"""The console's webhook rules: endpoints (register, change, turn off and on, delete, rotate the
secret), replays and the tenant's setting. Every change is an audit event. Services take plain
values and flush, never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext
from sqlalchemy import delete, func, select, update

from training_app import audit, outbound, outbox
from training_app.db import utcnow
from training_app.errors import Conflict, ValidationFailed
from training_app.extensions import db
from training_app.models import OutboxMessage, Tenant
from training_app.tenancy import get_in_tenant
from webhooks import settings, signing
from webhooks.events import EVENT_TYPES, KIND
from webhooks.models import WebhookDelivery, WebhookEndpoint

MAX_ENDPOINTS = 20
MAX_GRACE_HOURS = 7 * 24
DEFAULT_GRACE_HOURS = 24


@dataclass(frozen=True)
class EndpointFields:
    url: str
    description: str
    event_types: list[str]


def tenant_endpoint(tenant_id: int, endpoint_id: int) -> WebhookEndpoint:
    return get_in_tenant(
        WebhookEndpoint, endpoint_id, tenant_id, gettext("There is no such webhook endpoint.")
    )


def tenant_delivery(tenant_id: int, delivery_id: int) -> WebhookDelivery:
    return get_in_tenant(
        WebhookDelivery, delivery_id, tenant_id, gettext("There is no such webhook delivery.")
    )


def endpoints_of(tenant_id: int) -> list[WebhookEndpoint]:
    return list(
        db.session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id).order_by(WebhookEndpoint.id)
        )
    )


def check_fields(fields: EndpointFields) -> EndpointFields:
    """The fields tidied, or ValidationFailed naming each problem: an https URL (http only where
    the operator allows it) whose host is not this machine, its network or a metadata service
    (unless the operator named it), and at least one known event type."""
    url = (fields.url or "").strip()
    errors: dict[str, str] = {}
    if len(url) > 2000:
        errors["url"] = gettext("The URL is too long (2,000 characters at most).")
    elif outbound.host_problem(url, outbound.policy()):
        errors["url"] = gettext(
            "Use an https:// address on the internet. Addresses of this server, of private networks "
            "and of link-local services (such as 169.254.169.254) are refused, unless the operator "
            "allowed that host (TRAINING_OUTBOUND_ALLOWED_HOSTS)."
        )
    chosen = [kind for kind in EVENT_TYPES if kind in set(fields.event_types or ())]
    if not chosen or len(chosen) != len(set(fields.event_types)):
        errors["event_types"] = gettext("Choose at least one of the listed events.")
    description = " ".join((fields.description or "").split())
    if len(description) > 200:
        errors["description"] = gettext("The description is too long (200 characters at most).")
    if errors:
        raise ValidationFailed(" ".join(errors.values()), errors=errors)
    return EndpointFields(url, description, chosen)


def create_endpoint(
    tenant: Tenant, fields: EndpointFields, *, staff_id: int, ip_address: str | None
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its secret (shown once)."""
    fields = check_fields(fields)
    count = db.session.scalar(select(func.count()).where(WebhookEndpoint.tenant_id == tenant.id))
    if count >= MAX_ENDPOINTS:
        raise Conflict(gettext("An organisation can have %(n)d webhook endpoints at most.", n=MAX_ENDPOINTS))
    now = utcnow()
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        tenant_id=tenant.id,
        url=fields.url,
        description=fields.description,
        event_types=fields.event_types,
        secret=secret,
        enabled=True,
        created_by=staff_id,
        created_at=now,
        updated_at=now,
    )
    db.session.add(endpoint)
    db.session.flush()
    _audit(endpoint, staff_id, "webhook.endpoint_created", ip_address, _described(endpoint))
    return endpoint, secret


def update_endpoint(
    endpoint: WebhookEndpoint, fields: EndpointFields, *, staff_id: int, ip_address: str | None
) -> WebhookEndpoint:
    fields = check_fields(fields)
    before = _described(endpoint)
    endpoint.url, endpoint.description, endpoint.event_types = (
        fields.url,
        fields.description,
        fields.event_types,
    )
    endpoint.updated_at = utcnow()
    db.session.flush()
    changed = {name: value for name, value in _described(endpoint).items() if before[name] != value}
    _audit(endpoint, staff_id, "webhook.endpoint_updated", ip_address, {"changed": changed, "before": before})
    return endpoint


def set_enabled(endpoint: WebhookEndpoint, enabled: bool, *, staff_id: int, ip_address: str | None) -> None:
    """Turn an endpoint off (nothing is queued for it, queued deliveries fail) or on again (events
    from now on; failed ones can be replayed)."""
    if endpoint.enabled == enabled:
        return
    now = utcnow()
    endpoint.enabled = enabled
    endpoint.updated_at = now
    if enabled:
        endpoint.disabled_at = endpoint.disabled_reason = endpoint.failing_since = None
    else:
        endpoint.disabled_at, endpoint.disabled_reason = now, "turned off in the console"
    db.session.flush()
    action = "webhook.endpoint_enabled" if enabled else "webhook.endpoint_disabled"
    _audit(endpoint, staff_id, action, ip_address, {"url": endpoint.url})


def delete_endpoint(endpoint: WebhookEndpoint, *, staff_id: int, ip_address: str | None) -> None:
    """The endpoint and its deliveries go; its messages still waiting in the outbox with them."""
    keys = select(WebhookDelivery.outbox_key).where(WebhookDelivery.endpoint_id == endpoint.id)
    db.session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.kind == KIND,
            OutboxMessage.status == "pending",
            OutboxMessage.idempotency_key.in_(keys),
        )
    )
    data = _described(endpoint)
    _audit(endpoint, staff_id, "webhook.endpoint_deleted", ip_address, data)
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    db.session.delete(endpoint)
    db.session.flush()


def rotate_secret(
    endpoint: WebhookEndpoint, *, grace_hours: int, staff_id: int, ip_address: str | None
) -> str:
    """A new secret signs from now on; the current one keeps signing beside it for `grace_hours`
    (0: at once no more), so receivers can switch without losing a delivery."""
    if not 0 <= grace_hours <= MAX_GRACE_HOURS:
        raise ValidationFailed(
            gettext("Keep the old secret for 0 to %(n)d hours.", n=MAX_GRACE_HOURS),
            errors={"grace_hours": gettext("between 0 and %(n)d", n=MAX_GRACE_HOURS)},
        )
    now = utcnow()
    secret = signing.new_secret()
    endpoint.previous_secret = endpoint.secret if grace_hours else None
    endpoint.previous_secret_until = now + timedelta(hours=grace_hours) if grace_hours else None
    endpoint.secret = secret
    endpoint.updated_at = now
    db.session.flush()
    _audit(
        endpoint,
        staff_id,
        "webhook.secret_rotated",
        ip_address,
        {"url": endpoint.url, "old_secret_signs_until": _iso(endpoint.previous_secret_until)},
    )
    return secret


def replay(delivery: WebhookDelivery, *, staff_id: int, ip_address: str | None) -> None:
    """Send a delivery again with the same `webhook-id` and body: a new attempt series, or, for one
    still being retried, its next attempt now."""
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
    _require_enabled(endpoint)
    if delivery.status in ("pending", "retrying"):
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.idempotency_key == delivery.outbox_key, OutboxMessage.status == "pending")
            .values(next_try_at=utcnow())
        )
    else:
        _queue_again([delivery])
    _audit(
        endpoint,
        staff_id,
        "webhook.delivery_replayed",
        ip_address,
        {"webhook_id": delivery.message_id, "event": delivery.event_type},
    )


def replay_failed(endpoint: WebhookEndpoint, *, staff_id: int, ip_address: str | None) -> int:
    """Every failed delivery of the endpoint sent again; how many."""
    _require_enabled(endpoint)
    failed = list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "failed")
            .order_by(WebhookDelivery.id)
        )
    )
    _queue_again(failed)
    _audit(
        endpoint, staff_id, "webhook.failed_replayed", ip_address, {"url": endpoint.url, "count": len(failed)}
    )
    return len(failed)


def change_settings(
    tenant: Tenant, *, disable_after_days: int, staff_id: int, ip_address: str | None
) -> None:
    before = settings.disable_after_days(tenant)
    settings.set_disable_after_days(tenant, disable_after_days)
    db.session.flush()
    audit.record_event(
        tenant.id,
        f"staff:{staff_id}",
        "webhook.settings_changed",
        data={"disable_after_days": disable_after_days, "before": before},
        ip_address=ip_address,
    )


def _queue_again(deliveries: list[WebhookDelivery]) -> None:
    messages = []
    for delivery in deliveries:
        delivery.replays += 1
        delivery.status = "pending"
        delivery.outbox_key = f"{KIND}:{delivery.message_id}:replay:{delivery.replays}"
        messages.append(({"delivery": delivery.message_id}, delivery.outbox_key, delivery.tenant_id))
    db.session.flush()
    outbox.enqueue_many(KIND, messages)


def _require_enabled(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise Conflict(gettext("The endpoint is turned off: turn it on first, then replay."))


def _described(endpoint: WebhookEndpoint) -> dict[str, object]:
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
    }


def _audit(
    endpoint: WebhookEndpoint, staff_id: int, action: str, ip_address: str | None, data: dict[str, object]
) -> None:
    audit.record_event(
        endpoint.tenant_id,
        f"staff:{staff_id}",
        action,
        subject=("webhook_endpoint", endpoint.id),
        data=data,
        ip_address=ip_address,
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
