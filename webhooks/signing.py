"""Standard Webhooks signatures (https://www.standardwebhooks.com/): `webhook-id`,
`webhook-timestamp` (of the attempt, in seconds) and `webhook-signature`, a space-separated list of
`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per secret in use. Signed with the
`standardwebhooks` package, so any Standard Webhooks library verifies what it signs.

A secret is `whsec_` + base64 of 32 random bytes. After a rotation the previous secret signs too
until its grace period ends, so receivers can switch at their own pace.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from math import floor

from standardwebhooks import Webhook

from webhooks.models import WebhookEndpoint

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secrets_in_use(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The current secret, then the previous one while its grace period lasts."""
    in_use = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        in_use.append(endpoint.previous_secret)
    return in_use


def headers(message_id: str, body: bytes, signing_secrets: list[str], now: datetime) -> dict[str, str]:
    signatures = " ".join(Webhook(secret).sign(message_id, now, body) for secret in signing_secrets)
    return {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(floor(now.timestamp())),
        "webhook-signature": signatures,
    }
