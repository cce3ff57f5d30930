"""People's own records beyond `users` (training_app.models): learner sign-in links, SCIM accounts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from training_app.db import utcnow
from training_app.extensions import db


class SignInLink(db.Model):
    """A one-time sign-in link sent by email to a learner without an LMS link (people.sign_in)."""

    __tablename__ = "sign_in_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the token; never the token
    course_slug: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ScimAccount(db.Model):
    """What an identity provider calls a person over SCIM (people.scim): its userName and
    externalId for them, and when it deleted them. A deleted person keeps their row and history
    (they are a leaver); SCIM answers 404 for them until the provider creates them again."""

    __tablename__ = "scim_accounts"
    __table_args__ = (
        Index("uq_scim_accounts_tenant_user_name", "tenant_id", func.lower(Column("user_name")), unique=True),
        Index("ix_scim_accounts_tenant_external_id", "tenant_id", "external_id"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_name: Mapped[str | None] = mapped_column(String(320))
    external_id: Mapped[str | None] = mapped_column(String(255))
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
