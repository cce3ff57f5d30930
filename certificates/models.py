"""Certificates issued for completions, the tenant's branding and the credential signing keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from training_app.db import utcnow
from training_app.extensions import db


class Certificate(db.Model):
    """Proof of one completion. What it says is copied at issue, so it never changes afterwards."""

    __tablename__ = "certificates"
    __table_args__ = (Index("ix_certificates_tenant_issued", "tenant_id", "issued_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    completion_id: Mapped[int] = mapped_column(ForeignKey("completions.id", ondelete="CASCADE"), unique=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    course_version_id: Mapped[int] = mapped_column(ForeignKey("course_versions.id"))
    code: Mapped[str] = mapped_column(String(32), unique=True)  # grouped, e.g. 7KQ2-M9XD-4HPT-ZR3B
    credential_id: Mapped[str] = mapped_column(String(64), unique=True)  # urn:uuid:...
    subject_id: Mapped[str] = mapped_column(String(64))  # the learner in credentials, without personal data
    holder_name: Mapped[str] = mapped_column(String(200))
    holder_email: Mapped[str | None] = mapped_column(String(320))
    course_title: Mapped[str] = mapped_column(String(300))
    course_slug: Mapped[str] = mapped_column(String(100))
    policy_version: Mapped[str] = mapped_column(String(100))
    content_hash: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(16))
    score: Mapped[int]
    completed_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "valid"


class Branding(db.Model):
    """How a tenant's certificates look. One row per tenant; defaults apply until HR saves one."""

    __tablename__ = "certificate_branding"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    primary_colour: Mapped[str] = mapped_column(String(7), default="#1f3a5f")
    accent_colour: Mapped[str] = mapped_column(String(7), default="#b8860b")
    signatory_name: Mapped[str] = mapped_column(String(200), default="")
    signatory_title: Mapped[str] = mapped_column(String(200), default="")
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_mime: Mapped[str | None] = mapped_column(String(40))
    initials_only: Mapped[bool] = mapped_column(default=False)  # verification page shows "A. L."
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CredentialKey(db.Model):
    """The tenant's key for signing Open Badges credentials; its public JWK is published by kid."""

    __tablename__ = "credential_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    private_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
