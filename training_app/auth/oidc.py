"""OpenID Connect with Authlib's Flask client, one client per tenant, every request through the
outbound policy (training_app.outbound).

- Discovery: `<issuer>/.well-known/openid-configuration`, checked when an administrator saves the
  connection (`discover`) and cached per process for an hour (`metadata_for`), with the provider's
  key set once it has been read.
- State, nonce and PKCE verifier: Authlib keeps a marker in the browser's session and the data in
  `sso_login_states` (`LoginStateStore`), read once: a callback needs both the browser that started
  the sign-in and a state no one has used yet.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import timedelta
from typing import Any

import requests
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App
from authlib.integrations.requests_client import OAuth2Session
from flask_babel import gettext
from sqlalchemy import delete

from training_app import outbound
from training_app.auth.models import SsoConnection, SsoLoginState
from training_app.db import utcnow
from training_app.extensions import db

DISCOVERY_PATH = "/.well-known/openid-configuration"
SCOPES = "openid email profile"
STATE_LIFETIME = 600  # seconds from "Sign in with ..." to the callback
METADATA_LIFETIME = 3600
HTTP_TIMEOUT = 10.0
# The discovery document's fields a client needs (the rest, possibly large, is not kept).
KEPT_METADATA = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "id_token_signing_alg_values_supported",
    "code_challenge_methods_supported",
)


class DiscoveryFailed(Exception):
    """The issuer's discovery document cannot be used; the message says what to fix."""


class PolicedOAuth2Session(OAuth2Session):
    """Authlib's requests session, sent only where the outbound policy allows, with a timeout."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("default_timeout", HTTP_TIMEOUT)
        super().__init__(*args, **kwargs)
        outbound.apply_policy(self, outbound.policy())


class TenantOidcClient(FlaskOAuth2App):
    client_cls = PolicedOAuth2Session


class _ShortLivedStates(FlaskIntegration):
    expires_in = STATE_LIFETIME


class LoginStateStore:
    """Authlib's cache interface over `sso_login_states`, in the request's transaction. `get`
    deletes what it returns: a sign-in's state is read once, whatever happens next."""

    def get(self, key: str) -> str | None:
        row = db.session.execute(
            delete(SsoLoginState)
            .where(SsoLoginState.key_hash == _hashed(key), SsoLoginState.expires_at > utcnow())
            .returning(SsoLoginState.data)
        ).first()
        return row[0] if row else None

    def set(self, key: str, value: str, expires_in: int) -> None:
        now = utcnow()
        db.session.execute(delete(SsoLoginState).where(SsoLoginState.expires_at <= now))
        db.session.add(
            SsoLoginState(key_hash=_hashed(key), data=value, expires_at=now + timedelta(seconds=expires_in))
        )
        db.session.flush()

    def delete(self, key: str) -> None:
        db.session.execute(delete(SsoLoginState).where(SsoLoginState.key_hash == _hashed(key)))


def _hashed(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def client_for(connection: SsoConnection, client_secret: str) -> TenantOidcClient:
    """The tenant's Authlib client, built for this request from its saved connection."""
    name = f"sso-{connection.tenant_id}"
    metadata = metadata_for(connection.issuer)
    return TenantOidcClient(
        _ShortLivedStates(name, cache=LoginStateStore()),
        name=name,
        client_id=connection.client_id,
        client_secret=client_secret,
        client_kwargs={"scope": SCOPES, "code_challenge_method": "S256"},
        **metadata,
    )


def remember_key_set(client: TenantOidcClient) -> None:
    """Keep the provider's keys that a sign-in read, so the next one need not read them again."""
    jwks = client.server_metadata.get("jwks")
    cached = _metadata.get(client.server_metadata.get("issuer", ""))
    if jwks and cached:
        cached[1]["jwks"] = jwks


_metadata: dict[str, tuple[float, dict[str, Any]]] = {}
_metadata_lock = threading.Lock()


def metadata_for(issuer: str) -> dict[str, Any]:
    """The issuer's discovery document, read at most once an hour per process."""
    now = time.monotonic()
    cached = _metadata.get(issuer)
    if cached and now - cached[0] < METADATA_LIFETIME:
        return dict(cached[1])
    metadata = discover(issuer)
    with _metadata_lock:
        _metadata[issuer] = (now, metadata)
    return dict(metadata)


def forget_metadata(issuer: str) -> None:
    with _metadata_lock:
        _metadata.pop(issuer, None)


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + DISCOVERY_PATH


def discover(issuer: str) -> dict[str, Any]:
    """The checked discovery document (Authlib's server metadata); DiscoveryFailed says why not."""
    url = discovery_url(issuer)
    policy = outbound.policy()
    problem = policy.url_problem(url)
    if problem:
        raise _unusable(problem)
    try:
        response = outbound.session().get(url, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})
    except outbound.DestinationRefused as refused:
        raise _unusable(str(refused)) from None
    except requests.RequestException as exc:
        raise DiscoveryFailed(
            gettext("%(url)s could not be reached (%(error)s).", url=url, error=type(exc).__name__)
        ) from None
    if response.status_code != 200:
        raise DiscoveryFailed(
            gettext(
                "%(url)s answered %(status)d, not an OpenID Connect discovery document.",
                url=url,
                status=response.status_code,
            )
        )
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise DiscoveryFailed(gettext("%(url)s did not answer with a JSON discovery document.", url=url))
    return _checked(issuer, document, policy)


def _unusable(problem: str) -> DiscoveryFailed:
    return DiscoveryFailed(gettext("The issuer URL cannot be used: %(problem)s.", problem=problem))


def _checked(issuer: str, document: dict[str, Any], policy: outbound.DestinationPolicy) -> dict[str, Any]:
    named = str(document.get("issuer") or "")
    if named.rstrip("/") != issuer.rstrip("/"):
        raise DiscoveryFailed(
            gettext(
                "The provider calls itself %(named)s, not %(issuer)s: enter its issuer exactly "
                "as it names it.",
                named=named or "?",
                issuer=issuer,
            )
        )
    for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = document.get(field)
        if not isinstance(value, str) or policy.url_problem(value):
            raise DiscoveryFailed(
                gettext("The discovery document's %(field)s is missing or cannot be used.", field=field)
            )
    userinfo = document.get("userinfo_endpoint")
    if userinfo is not None and (not isinstance(userinfo, str) or policy.url_problem(userinfo)):
        raise DiscoveryFailed(gettext("The discovery document's userinfo_endpoint cannot be used."))
    if "code" not in (document.get("response_types_supported") or ["code"]):
        raise DiscoveryFailed(gettext("The provider does not offer the authorization code flow."))
    methods = document.get("code_challenge_methods_supported")
    if methods is not None and "S256" not in methods:
        raise DiscoveryFailed(gettext("The provider does not offer PKCE with S256."))
    kept = {key: document[key] for key in KEPT_METADATA if key in document}
    kept["_loaded_at"] = time.time()  # Authlib: already loaded, do not read it again
    return kept
