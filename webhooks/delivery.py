"""Delivering webhooks: the outbox's batch handler of kind `webhook` (training_app.outbox).

A worker's round reads its deliveries in one query, sends them one after another outside any
transaction, and writes every outcome with the outbox's in one commit (one commit per message made
the database, not the receiver, the limit: bench/webhooks.py).

Each attempt signs the stored body afresh (the timestamp is the attempt's; the `webhook-id` is the
delivery's, the same on every attempt and replay) and POSTs it through the app's outbound session
(training_app.outbound: no loopback, private or link-local destination unless an operator named
the host). A redirect is not followed: a 3xx is a failed delivery. A receiver that does not answer
within TRAINING_WEBHOOK_TIMEOUT_SECONDS (10) fails the attempt; only the first 64 KiB of an answer
are read; a round stops sending once half the outbox lease has passed (slow receivers), leaving
the rest for the next. 2xx is delivered; 5xx, 408, 425 and 429, a timeout or a refused connection
are retried by the outbox with backoff; any other answer is final.

The attempt's outcome is written on the delivery row. An endpoint failing for the tenant's number
of days is turned off, and its HR administrators are told by email.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from flask import current_app
from flask_babel import gettext
from sqlalchemy import select, update

from training_app import audit, mail, outbound
from training_app.db import utcnow
from training_app.extensions import commit_before_waiting, db
from training_app.http_delivery import RETRYABLE_STATUSES
from training_app.models import OutboxMessage, StaffAccount, Tenant
from training_app.outbox import Delivery, DeliveryError
from training_app.urls import external_url
from webhooks import settings, signing
from webhooks.models import WebhookDelivery, WebhookEndpoint

MAX_ANSWER_BYTES = 64 * 1024
SHOWN_ANSWER_CHARS = 500


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    error: str | None  # None: delivered
    retry: bool
    duration_ms: int


def deliver_round(jobs: list[Delivery]) -> list[DeliveryError | None]:
    """The outbox's batch handler: the round's deliveries read in one query, sent one after another
    outside any transaction, their outcomes written in the outbox's one commit."""
    found = _load(jobs)
    outcomes: list[DeliveryError | None] = [None] * len(jobs)
    to_send = []
    for index, job in enumerate(jobs):
        row = found.get(job.id)
        if row is None:
            outcomes[index] = DeliveryError("the webhook endpoint or this delivery was deleted", retry=False)
        elif not row[1].enabled:
            turned_off = Attempt(None, "not sent: the endpoint is turned off", False, 0)
            _record(row[0], utcnow(), turned_off, final=True)
            outcomes[index] = DeliveryError("the webhook endpoint is turned off", retry=False)
        else:
            to_send.append((index, job, *row))
    commit_before_waiting()  # no transaction (SQLite's write lock) held while receivers answer
    deadline = time.monotonic() + current_app.config["OUTBOX_LEASE_SECONDS"] / 2
    results: dict[int, list[tuple[datetime, Attempt]]] = {}
    endpoints: dict[int, WebhookEndpoint] = {}
    for index, job, delivery, endpoint, max_attempts in to_send:
        if time.monotonic() > deadline:  # slow receivers used up the round: the rest wait for the next
            outcomes[index] = DeliveryError("not tried: the round's time ran out before it")
            continue
        now = utcnow()
        attempt = _attempt(delivery, endpoint, now)
        _record(delivery, now, attempt, final=not attempt.retry or job.attempt >= max_attempts)
        results.setdefault(endpoint.id, []).append((now, attempt))
        endpoints[endpoint.id] = endpoint
        if attempt.error is not None:
            outcomes[index] = DeliveryError(attempt.error, retry=attempt.retry)
    for endpoint_id, attempts in results.items():
        _note_health(endpoints[endpoint_id], attempts)
    return outcomes


def _load(jobs: list[Delivery]) -> dict[int, tuple[WebhookDelivery, WebhookEndpoint, int]]:
    """By outbox message id: the delivery, its endpoint and the message's allowed attempts."""
    by_message = {job.payload["delivery"]: job.id for job in jobs}
    rows = db.session.execute(
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.message_id.in_(list(by_message)))
    ).all()
    allowed = dict(
        db.session.execute(
            select(OutboxMessage.id, OutboxMessage.max_attempts).where(
                OutboxMessage.id.in_([j.id for j in jobs])
            )
        ).all()
    )
    return {
        by_message[delivery.message_id]: (delivery, endpoint, allowed.get(by_message[delivery.message_id], 1))
        for delivery, endpoint in rows
    }


def _attempt(delivery: WebhookDelivery, endpoint: WebhookEndpoint, now: datetime) -> Attempt:
    """Signed now (the timestamp is the attempt's), with every secret in use."""
    body = delivery.body.encode()
    headers = signing.headers(delivery.message_id, body, signing.secrets_in_use(endpoint, now), now)
    return post(endpoint.url, body, headers, settings.timeout_seconds())


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Attempt:
    started = time.perf_counter()

    def done(status: int | None, error: str | None, retry: bool) -> Attempt:
        return Attempt(status, error, retry, round((time.perf_counter() - started) * 1000))

    try:
        response = outbound.session().post(
            url, data=body, headers=headers, timeout=timeout, allow_redirects=False, stream=True
        )
    except outbound.DestinationRefused as refused:
        return done(None, f"not sent: {refused}", False)
    except requests.Timeout:
        return done(None, f"no answer within {timeout:g} s", True)
    except requests.RequestException as exc:
        return done(None, f"could not connect: {type(exc).__name__}", True)
    with response:
        status = response.status_code
        try:
            answer = _beginning_of(response)
        except requests.RequestException:
            answer = ""
    if 200 <= status < 300:
        return done(status, None, False)
    if 300 <= status < 400:
        where = response.headers.get("Location", "")[:200]
        return done(status, f"answered {status} (a redirect to {where!r} is not followed)", False)
    retry = status >= 500 or status in RETRYABLE_STATUSES
    return done(status, f"answered {status}: {answer[:SHOWN_ANSWER_CHARS]}".rstrip(": "), retry)


def _beginning_of(response: requests.Response) -> str:
    """The answer's first 64 KiB; a longer answer's connection is dropped rather than read."""
    read = b""
    for chunk in response.iter_content(8192):
        read += chunk
        if len(read) >= MAX_ANSWER_BYTES:
            break
    return read[:MAX_ANSWER_BYTES].decode(errors="replace").strip()


def _record(delivery: WebhookDelivery, now: datetime, attempt: Attempt, *, final: bool) -> None:
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = attempt.status_code
    delivery.last_duration_ms = attempt.duration_ms
    delivery.last_error = attempt.error[:2000] if attempt.error else None
    if attempt.error is None:
        delivery.status, delivery.delivered_at = "delivered", now
    else:
        delivery.status = "failed" if final else "retrying"


def _note_health(endpoint: WebhookEndpoint, attempts: list[tuple[datetime, Attempt]]) -> None:
    """The round's attempts at one endpoint, in order: a success clears `failing_since`, the first
    failure after a success sets it; failing for the tenant's number of days turns the endpoint off
    (once, whichever worker gets there first)."""
    since = endpoint.failing_since
    for moment, attempt in attempts:
        since = None if attempt.error is None else (since or moment)
    if since != endpoint.failing_since:
        db.session.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id).values(failing_since=since)
        )
    if since is None:
        return
    now, last = attempts[-1]
    tenant = db.session.get(Tenant, endpoint.tenant_id)
    days = settings.disable_after_days(tenant)
    if now - since < timedelta(days=days):
        return
    reason = f"every delivery failed for {days} day(s) since {since:%Y-%m-%d %H:%M} UTC"
    turned_off = db.session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint.id, WebhookEndpoint.enabled.is_(True))
        .values(enabled=False, disabled_at=now, disabled_reason=reason)
    ).rowcount
    if not turned_off:
        return
    audit.record_event(
        tenant.id,
        "system",
        "webhook.endpoint_disabled",
        subject=("webhook_endpoint", endpoint.id),
        data={"url": endpoint.url, "reason": reason, "last_error": last.error},
    )
    _tell_admins(tenant, endpoint, since, days, last, now)


def _tell_admins(
    tenant: Tenant, endpoint: WebhookEndpoint, since: datetime, days: int, attempt: Attempt, now: datetime
) -> None:
    admins = db.session.scalars(
        select(StaffAccount).where(
            StaffAccount.tenant_id == tenant.id,
            StaffAccount.role == "hr_admin",
            StaffAccount.active.is_(True),
        )
    ).all()
    link = external_url("webhooks.endpoint", endpoint_id=endpoint.id)
    subject = gettext("A webhook endpoint was turned off: %(url)s", url=endpoint.url)
    text = gettext(
        "Every delivery to the webhook endpoint %(url)s of %(organisation)s has failed since "
        "%(since)s UTC (%(days)d day(s)), so it was turned off: no events are sent to it now.\n\n"
        "Last error: %(error)s\n\n"
        "Once the receiver works again, turn the endpoint back on and replay its failed "
        "deliveries here: %(link)s\n",
        url=endpoint.url,
        organisation=tenant.name,
        since=f"{since:%Y-%m-%d %H:%M}",
        days=days,
        error=attempt.error or "",
        link=link,
    )
    for admin in admins:
        mail.enqueue_email(
            tenant_id=tenant.id,
            to=[admin.email],
            subject=subject,
            text=text,
            key=f"webhook-disabled:{endpoint.id}:{now.isoformat()}:{admin.id}",
        )
