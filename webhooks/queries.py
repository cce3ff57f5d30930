"""What the console's webhook pages read: deliveries by endpoint, counts by status."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from training_app.extensions import db
from training_app.models import OutboxMessage
from webhooks.models import WebhookDelivery, WebhookEndpoint

PAGE_SIZE = 50


@dataclass(frozen=True)
class DeliveryRow:
    delivery: WebhookDelivery
    next_try_at: datetime | None  # of an attempt still to come


@dataclass(frozen=True)
class DeliveryPage:
    rows: list[DeliveryRow]
    page: int
    has_more: bool


def delivery_summaries(tenant_id: int) -> dict[int, dict[str, int]]:
    """For each endpoint of the tenant: how many deliveries it has in each status."""
    rows = db.session.execute(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count())
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookEndpoint.tenant_id == tenant_id)
        .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.status)
    )
    summaries: dict[int, dict[str, int]] = {}
    for endpoint_id, status, count in rows:
        summaries.setdefault(endpoint_id, {})[status] = count
    return summaries


def deliveries_page(endpoint_id: int, status: str | None, *, page: int) -> DeliveryPage:
    """The endpoint's deliveries, newest first, with when a queued attempt is due."""
    query = (
        select(WebhookDelivery, OutboxMessage.next_try_at)
        .outerjoin(
            OutboxMessage,
            (OutboxMessage.idempotency_key == WebhookDelivery.outbox_key)
            & (OutboxMessage.status == "pending"),
        )
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    )
    if status:
        query = query.where(WebhookDelivery.status == status)
    rows = [DeliveryRow(delivery, next_try_at) for delivery, next_try_at in db.session.execute(query)]
    return DeliveryPage(rows[:PAGE_SIZE], page, len(rows) > PAGE_SIZE)


def pretty_body(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body
