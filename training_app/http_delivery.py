"""Delivering over HTTP from the outbox: the one message kind shipped with the foundation (a JSON
POST to a URL, `http_post`), and the request and answer rules every HTTP handler shares (lti's
scores and token requests, webhooks): sent through the outbound policy; 2xx delivered; 5xx, 408,
425 and 429 retried; any other answer final."""

from __future__ import annotations

from typing import Any

import requests
from flask import current_app

from training_app import outbound
from training_app.outbox import Delivery, DeliveryError

RETRYABLE_STATUSES = {408, 425, 429}


def post_json(delivery: Delivery) -> None:
    payload = delivery.payload
    headers = {"Content-Type": "application/json", "Idempotency-Key": delivery.idempotency_key}
    headers.update(payload.get("headers") or {})
    timeout = float(payload.get("timeout") or current_app.config["OUTBOX_HTTP_TIMEOUT"])
    response = send_http(payload["url"], json_body=payload.get("json"), headers=headers, timeout=timeout)
    raise_for_delivery_status(response)


def send_http(
    url: str,
    *,
    json_body: Any = None,
    data: Any = None,
    headers: dict[str, str],
    timeout: float,
    method: str = "POST",
) -> requests.Response:
    try:
        return outbound.session().request(
            method, url, json=json_body, data=data, headers=headers, timeout=timeout
        )
    except outbound.DestinationRefused as exc:
        raise DeliveryError(f"not sent to {url}: {exc}", retry=False) from None
    except requests.Timeout:
        raise DeliveryError(f"timed out after {timeout:g}s posting to {url}") from None
    except requests.RequestException as exc:
        raise DeliveryError(f"could not reach {url}: {type(exc).__name__}: {exc}") from None


def raise_for_delivery_status(response: requests.Response) -> None:
    """2xx delivered; 5xx, 408, 425 and 429 retried; any other answer is final (dead letter)."""
    status = response.status_code
    if 200 <= status < 300:
        return
    answer = f"{response.request.method} {response.url} answered {status}: {response.text[:1000]}"
    retry = status >= 500 or status in RETRYABLE_STATUSES
    raise DeliveryError(answer, retry=retry)
