"""Launch requests as a package's page makes them: signed with the package's secret."""

from __future__ import annotations

import secrets
import time
from typing import Any

from dispatch import signatures

LMS_ORIGIN = "https://lms.acme.example"


def launch_body(
    dispatch_id: str,
    secret: str,
    learner_id: str = "E101",
    learner_name: str = "Lovelace, Ada",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
    registration: str | None = None,
) -> dict[str, Any]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(18)
    text = signatures.signed_text(dispatch_id, learner_id, learner_name, stamp, nonce)
    return {
        "dispatch_id": dispatch_id,
        "learner_id": learner_id,
        "learner_name": learner_name,
        "timestamp": stamp,
        "nonce": nonce,
        "signature": signatures.sign(secret, text),
        "registration": registration,
        "frame_origins": [LMS_ORIGIN],
    }


def post_launch(client, body: dict[str, Any]):
    return client.post(
        "/dispatch/api/launches", json=body, headers={"Origin": LMS_ORIGIN, "Accept": "application/json"}
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json", "Origin": LMS_ORIGIN}
