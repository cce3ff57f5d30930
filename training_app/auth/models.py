"""Staff single sign-on (OpenID Connect): each tenant's identity provider, and sign-ins under way."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from training_app.db import utcnow
from training_app.extensions import db


class SsoConnection(db.Model):
    """A tenant's OpenID Connect provider (one per tenant). The client secret is kept encrypted
    (training_app.auth.sso.seal_secret): it must be sent to the provider in clear, so it cannot be
    hashed, and the key lives outside the database (SECRET_KEY)."""

    __tablename__ = "sso_connections"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    provider_name: Mapped[str] = mapped_column(String(80))  # "Okta": the button says "Sign in with Okta"
    issuer: Mapped[str] = mapped_column(String(500))  # exactly as the discovery document names it
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret_sealed: Mapped[str] = mapped_column(Text)
    allowed_email_domain: Mapped[str | None] = mapped_column(String(255))
    password_sign_in: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))


class SsoLoginState(db.Model):
    """What a sign-in started in one browser needs at its callback (PKCE verifier, nonce, redirect
    URI), for ten minutes. The browser's session names it; reading it deletes it, so a state (and
    the code sent with it) works once."""

    __tablename__ = "sso_login_states"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of Authlib's key
    data: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(index=True)
