"""Shared models: tenants, people, the outbox and the audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from training_app.db import utcnow
from training_app.extensions import db

STAFF_ROLES = ("hr_admin", "auditor")
# A role in words (translated where shown: `_(account.role_label)`; the catalog has both).
ROLE_LABELS = {"hr_admin": "HR administrator", "auditor": "Auditor (read-only)"}
OUTBOX_STATUSES = ("pending", "delivered", "dead")


class Tenant(db.Model):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    audit_seq: Mapped[int] = mapped_column(default=0)
    audit_head: Mapped[str] = mapped_column(String(64), default="0" * 64)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


HR_ISSUER = "hr"  # the identity of an employee HR imported who has not launched from an LMS yet


class User(UserMixin, db.Model):
    """A person who trains: an employee HR imported (`issuer` "hr", `subject` their employee id),
    a learner known through the LMS (`issuer` + `subject`), or both once they launch (people.
    identities links them: one person, one history, whatever the door). Other LMS identities of
    the same person are in `person_identities`."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "issuer", "subject"),
        Index(
            "uq_users_tenant_employee_id",
            "tenant_id",
            "employee_id",
            unique=True,
            postgresql_where=text("employee_id IS NOT NULL"),
            sqlite_where=text("employee_id IS NOT NULL"),
        ),
        Index("ix_users_tenant_email", "tenant_id", "email"),
        Index("ix_users_tenant_lower_email", "tenant_id", func.lower(Column("email"))),
        Index("ix_users_tenant_manager_email", "tenant_id", "manager_email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    department: Mapped[str | None] = mapped_column(String(120), index=True)
    employee_id: Mapped[str | None] = mapped_column(String(64))
    manager_email: Mapped[str | None] = mapped_column(String(320))
    hire_date: Mapped[date | None]
    end_date: Mapped[date | None]  # a leaver's last day (from HR)
    locale: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    is_staff = False

    def get_id(self) -> str:
        return f"learner:{self.id}"


class PersonIdentity(db.Model):
    """Another LMS identity (issuer + subject) of a person whose `users` row holds their first."""

    __tablename__ = "person_identities"
    __table_args__ = (UniqueConstraint("tenant_id", "issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffAccount(UserMixin, db.Model):
    """HR and administrators who sign in with a password to audit their tenant.

    An email is unique within a tenant (one person may work for two tenants). `session_version`
    is part of the signed session's identity: raising it (sign-out, deactivation, a new role or
    password) ends every session signed before.
    """

    __tablename__ = "staff_accounts"
    __table_args__ = (
        CheckConstraint(f"role IN {STAFF_ROLES!r}", name="role"),
        UniqueConstraint("tenant_id", "email", name="uq_staff_accounts_tenant_email"),
        Index("ix_staff_accounts_email", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    is_staff = True

    def get_id(self) -> str:
        return f"staff:{self.id}:{self.session_version}"

    def end_sessions(self) -> None:
        """Every session signed for this account so far stops working at its next request."""
        self.session_version = (self.session_version or 0) + 1

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def can_manage(self) -> bool:
        return self.role == "hr_admin"

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)


class AuditCheckpoint(db.Model):
    """Where the tenant's chain was last verified in full and found intact (seq, hash, when), and
    what the latest full verification found wrong, if it did (training_app.audit_verification)."""

    __tablename__ = "audit_checkpoints"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
    events: Mapped[int]
    verified_at: Mapped[datetime | None]
    problem: Mapped[str | None] = mapped_column(Text)
    problem_found_at: Mapped[datetime | None]


class RateLimitCounter(db.Model):
    """A fixed-window rate-limit counter (training_app.rate_limits), shared by every process."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the limiter's key
    hits: Mapped[int]
    expires_at: Mapped[float] = mapped_column(Float, index=True)  # epoch seconds


class OutboxMessage(db.Model):
    """Something to deliver outside the process, written in the transaction that caused it."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(f"status IN {OUTBOX_STATUSES!r}", name="status"),
        Index("ix_outbox_due", "status", "next_try_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=8)
    next_try_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class AuditEvent(db.Model):
    """Append-only; `hash` covers the row and the previous row's hash (a chain per tenant)."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("tenant_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    seq: Mapped[int]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100), index=True)
    subject_type: Mapped[str | None] = mapped_column(String(60))
    subject_id: Mapped[str | None] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
