"""The launch request's signature and its one-time nonce.

The package's page signs, with the package's secret (HMAC-SHA256, base64url without padding),
these fields joined by newlines:

    postwise-dispatch-launch-v1 / dispatch id / learner id / learner name / timestamp / nonce

A field holding a newline (or any control character) is refused before the signature is checked,
so no two launches share a signed text. The timestamp (Unix seconds) must be within
MAX_SKEW of the server's clock, and the nonce is stored until that window has passed: a
replayed request finds its nonce and is refused, a late one fails the timestamp check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, delete

from dispatch.models import DispatchNonce
from training_app.db import insert_unless_conflict, utcnow
from training_app.extensions import run_write

VERSION = "postwise-dispatch-launch-v1"
MAX_SKEW = timedelta(minutes=5)
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
TIMESTAMP = re.compile(r"[0-9]{1,12}")


def signed_text(dispatch_id: str, learner_id: str, learner_name: str, timestamp: str, nonce: str) -> bytes:
    return "\n".join((VERSION, dispatch_id, learner_id, learner_name, timestamp, nonce)).encode()


def sign(secret: str, text: bytes) -> str:
    digest = hmac.new(secret.encode(), text, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signature_matches(secrets: list[str], text: bytes, signature: str) -> bool:
    """Whether any accepted secret made this signature (compared in constant time, each one tried)."""
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(sign(secret, text), signature)
    return matched


def timestamp_fresh(timestamp: str, now: datetime) -> bool:
    if not TIMESTAMP.fullmatch(timestamp or ""):
        return False
    moment = datetime.fromtimestamp(int(timestamp), UTC)
    return abs(now - moment) <= MAX_SKEW


def use_nonce(package_id: int, nonce: str, now: datetime) -> bool:
    """Record the nonce; False if this package's launch already used it (a replay)."""
    values = {"package_id": package_id, "nonce": nonce, "expires_at": now + 2 * MAX_SKEW}
    return run_write(_USE_NONCE, values).scalar() is not None


_USE_NONCE = insert_unless_conflict(DispatchNonce.__table__, "package_id", "nonce").returning(
    DispatchNonce.__table__.c.id
)
_PURGE = delete(DispatchNonce.__table__).where(DispatchNonce.__table__.c.expires_at < bindparam("now"))


def purge_expired_nonces() -> int:
    """Outbox housekeeping: nonces whose timestamp window has passed can no longer be replayed."""
    return run_write(_PURGE, {"now": utcnow()}).rowcount
