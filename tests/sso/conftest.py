"""Fixtures for staff single sign-on: a real OpenID Connect provider (node's oidc-provider) on
127.0.0.1, Acme and Globex with staff, and Acme's connection to the provider."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from sqlalchemy import select

from tests import factories
from tests.conftest import settings_for
from tests.helpers import FormClient
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider
from training_app.auth import oidc, sso
from training_app.extensions import db
from training_app.models import AuditEvent, Tenant

APP_URL = "http://localhost"  # the tests' PUBLIC_URL: redirect URIs are built from it
REDIRECT_URIS = [f"{APP_URL}/login/sso/{slug}/callback" for slug in ("acme", "globex")]


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """The provider as oidc-provider ships it: the ID token names only `sub`, the email comes
    from the userinfo endpoint."""
    provider = OidcProvider(REDIRECT_URIS).start()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def oidc_provider_with_claims_in_id_token() -> Iterator[OidcProvider]:
    """The provider as Okta and Entra ID behave: the email claims are in the ID token."""
    provider = OidcProvider(REDIRECT_URIS, claims_in_id_token=True).start()
    yield provider
    provider.stop()


@pytest.fixture
def app_settings(database_url, tmp_path):
    # The provider listens on plain http on 127.0.0.1: allowed by name, as an operator would allow
    # an internal identity provider (training_app.outbound).
    return settings_for(
        database_url, tmp_path / "instance", OUTBOUND_ALLOWED_HOSTS=["127.0.0.1"], OUTBOUND_ALLOW_HTTP=True
    )


@pytest.fixture
def people(app):
    with app.app_context():
        return {k: getattr(v, "id", v) for k, v in factories.two_tenants_with_staff().items()}


def connect(app, provider: OidcProvider, slug: str = "acme", **overrides) -> None:
    """The tenant's connection to the provider, saved through the service (as the console does)."""
    fields = {
        "provider_name": "Test IdP",
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **overrides,
    }
    with app.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
        sso.save_connection(
            tenant,
            sso.ConnectionFields(**fields),
            actor="test",
            signed_in_with_sso=True,
        )
        db.session.commit()


@pytest.fixture
def acme_sso(app, people, oidc_provider) -> OidcProvider:
    connect(app, oidc_provider)
    return oidc_provider


@pytest.fixture(autouse=True)
def fresh_discovery_cache(monkeypatch):
    monkeypatch.setattr(oidc, "_metadata", {})


def authorization_url(client: FormClient, slug: str = "acme") -> str:
    start = client.get(f"/login/sso/{slug}/start")
    assert start.status_code == 302, start.get_data(as_text=True)[:500]
    return start.headers["Location"]


def callback_url(provider: OidcProvider, client: FormClient, slug: str = "acme", tamper=None) -> str:
    """Start a sign-in in the app, pass the provider (which signs in `login_as`'s account), and
    return the app's callback URL it sends the browser to, not yet opened."""
    url = authorization_url(client, slug)
    if tamper:
        url = tamper(url)
    return provider.authorize(url, until=f"{APP_URL}/login/sso/")


def sign_in_with_sso(provider: OidcProvider, client: FormClient, slug: str = "acme", tamper=None):
    return client.get(callback_url(provider, client, slug, tamper))


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def events(app, action: str, tenant_id: int | None = None) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).where(AuditEvent.action == action)
        if tenant_id is not None:
            query = query.where(AuditEvent.tenant_id == tenant_id)
        return list(db.session.scalars(query.order_by(AuditEvent.id)))
