"""Calls to the LMS's services (AGS, NRPS): client_credentials tokens with a signed JWT assertion.

Tokens are cached in the database until shortly before they expire, so every worker and
instance reuses them; a 401 from a service drops the cached token and the call is tried once
more with a fresh one.

No database transaction is held open while we wait for the LMS: its token endpoint fetches our
JWKS from our web server during the call, and on SQLite an open transaction holds the one write
lock that request needs. The unit of work's owner (the outbox job, the instructor report's
request) hands every call that waits its `before_waiting` (training_app.extensions.
commit_before_waiting), called just before the wait; this module itself never commits.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from flask import current_app
from sqlalchemy import delete, select

from lti import keys
from lti.models import AccessToken, Platform
from training_app import outbound
from training_app.db import utcnow
from training_app.extensions import db
from training_app.http_delivery import send_http
from training_app.outbox import DeliveryError

BeforeWaiting = Callable[[], None]  # ends the owner's transaction before a wait on the LMS
EXPIRY_MARGIN = timedelta(seconds=30)
ASSERTION_LIFETIME = 300
NEXT_LINK = re.compile(r'<([^>]+)>\s*;(?:[^,<]*;)?\s*rel="?next"?')


@dataclass(frozen=True)
class ServiceClient:
    """What a service call needs from the registration, read once so no ORM object is reloaded."""

    platform_id: int
    client_id: str
    token_url: str
    audience: str
    kid: str
    signing_key: RSAPrivateKey


def client_for(platform: Platform) -> ServiceClient:
    key = keys.active_key(platform.tenant_id)
    return ServiceClient(
        platform_id=platform.id,
        client_id=platform.client_id,
        token_url=platform.auth_token_url,
        audience=platform.token_audience or platform.auth_token_url,
        kid=key.kid,
        signing_key=keys.private_key_object(key),
    )


def timeout() -> float:
    return float(current_app.config["OUTBOX_HTTP_TIMEOUT"])


def scope_key(scopes: list[str]) -> str:
    return " ".join(sorted(set(scopes)))


def access_token(client: ServiceClient, scopes: list[str], before_waiting: BeforeWaiting) -> str:
    """A cached token for these scopes, or a new one from the LMS (then cached)."""
    key = scope_key(scopes)
    cached = db.session.scalar(
        select(AccessToken.token)
        .where(
            AccessToken.platform_id == client.platform_id,
            AccessToken.scopes == key,
            AccessToken.expires_at > utcnow() + EXPIRY_MARGIN,
        )
        .order_by(AccessToken.expires_at.desc())
        .limit(1)
    )
    if cached is not None:
        return cached
    before_waiting()
    token, expires_in = request_token(client, scopes)
    db.session.execute(
        delete(AccessToken).where(
            AccessToken.platform_id == client.platform_id,
            AccessToken.scopes == key,
            AccessToken.expires_at <= utcnow(),
        )
    )
    db.session.add(
        AccessToken(
            platform_id=client.platform_id,
            scopes=key,
            token=token,
            expires_at=utcnow() + timedelta(seconds=expires_in),
        )
    )
    db.session.flush()
    return token


def forget_token(client: ServiceClient, scopes: list[str]) -> None:
    db.session.execute(
        delete(AccessToken).where(
            AccessToken.platform_id == client.platform_id, AccessToken.scopes == scope_key(scopes)
        )
    )


def client_assertion(client: ServiceClient) -> str:
    now = int(time.time())
    claims = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": client.audience,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, client.signing_key, algorithm="RS256", headers={"kid": client.kid})


def request_token(client: ServiceClient, scopes: list[str]) -> tuple[str, int]:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": client_assertion(client),
        "scope": " ".join(scopes),
    }
    try:
        response = outbound.session().post(
            client.token_url, data=form, timeout=timeout(), headers={"Accept": "application/json"}
        )
    except requests.RequestException as exc:
        raise DeliveryError(f"could not reach the LMS token endpoint {client.token_url}: {exc}") from None
    except outbound.DestinationRefused as exc:
        raise DeliveryError(f"the LMS token endpoint {client.token_url}: {exc}", retry=False) from None
    if response.status_code != 200:
        retry = response.status_code >= 500 or response.status_code == 429
        raise DeliveryError(
            f"the LMS token endpoint answered {response.status_code}: {response.text[:500]}", retry=retry
        )
    try:
        body = response.json()
        return body["access_token"], int(body.get("expires_in") or 0)
    except (ValueError, KeyError, TypeError) as exc:
        raise DeliveryError(f"the LMS token endpoint answered without an access_token: {exc!r}") from None


def service_request(
    client: ServiceClient,
    scopes: list[str],
    method: str,
    url: str,
    *,
    before_waiting: BeforeWaiting,
    json_body: Any = None,
    content_type: str | None = None,
    accept: str = "application/json",
) -> requests.Response:
    """Call a service with a cached token; on 401 get a fresh token and try once more."""
    data = None if json_body is None else json.dumps(json_body).encode()
    for attempt in (1, 2):
        token = access_token(client, scopes, before_waiting)
        headers = {"Authorization": f"Bearer {token}", "Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        before_waiting()
        response = send_http(url, data=data, headers=headers, timeout=timeout(), method=method)
        if response.status_code != 401 or attempt == 2:
            break
        forget_token(client, scopes)
    return response


def next_page(response: requests.Response) -> str | None:
    """The `Link: <...>; rel="next"` URL of a paged answer (NRPS members, AGS line items)."""
    match = NEXT_LINK.search(response.headers.get("Link", ""))
    return match.group(1) if match else None
