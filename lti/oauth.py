"""Access tokens for the LMS's services (AGS, NRPS): client_credentials with a signed JWT assertion.

Tokens are cached in the database until shortly before they expire, so every worker and
instance reuses them; a 401 from a service drops the cached token so the next call gets a new one.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import jwt
import requests
from sqlalchemy import delete, select

from lti import keys
from lti.models import AccessToken, Platform
from training_app.db import utcnow
from training_app.extensions import db
from training_app.outbox import DeliveryError

EXPIRY_MARGIN = timedelta(seconds=30)
ASSERTION_LIFETIME = 300
_http = requests.Session()


def scope_key(scopes: list[str]) -> str:
    return " ".join(sorted(set(scopes)))


def access_token(platform: Platform, scopes: list[str]) -> str:
    key = scope_key(scopes)
    cached = db.session.scalar(
        select(AccessToken)
        .where(
            AccessToken.platform_id == platform.id,
            AccessToken.scopes == key,
            AccessToken.expires_at > utcnow() + EXPIRY_MARGIN,
        )
        .order_by(AccessToken.expires_at.desc())
        .limit(1)
    )
    if cached is not None:
        return cached.token
    token, expires_in = request_token(platform, scopes)
    db.session.add(
        AccessToken(
            platform_id=platform.id,
            scopes=key,
            token=token,
            expires_at=utcnow() + timedelta(seconds=expires_in),
        )
    )
    db.session.flush()
    return token


def forget_token(platform: Platform, scopes: list[str]) -> None:
    db.session.execute(
        delete(AccessToken).where(
            AccessToken.platform_id == platform.id, AccessToken.scopes == scope_key(scopes)
        )
    )


def client_assertion(platform: Platform) -> str:
    key = keys.active_key(platform.tenant_id)
    now = int(time.time())
    claims = {
        "iss": platform.client_id,
        "sub": platform.client_id,
        "aud": platform.token_audience or platform.auth_token_url,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, keys.private_key_object(key), algorithm="RS256", headers={"kid": key.kid})


def request_token(platform: Platform, scopes: list[str]) -> tuple[str, int]:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": client_assertion(platform),
        "scope": " ".join(scopes),
    }
    try:
        response = _http.post(
            platform.auth_token_url, data=form, timeout=15, headers={"Accept": "application/json"}
        )
    except requests.RequestException as exc:
        raise DeliveryError(
            f"could not reach the LMS token endpoint {platform.auth_token_url}: {exc}"
        ) from None
    if response.status_code != 200:
        retry = response.status_code >= 500 or response.status_code == 429
        raise DeliveryError(
            f"the LMS token endpoint answered {response.status_code}: {response.text[:500]}", retry=retry
        )
    try:
        body = response.json()
        return body["access_token"], int(body.get("expires_in") or 0)
    except (ValueError, KeyError) as exc:
        raise DeliveryError(f"the LMS token endpoint answered without an access_token: {exc}") from None
