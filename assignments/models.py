"""Reminders sent to people about their assignments (the assignments are courses.models.Enrolment)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from training_app.db import utcnow
from training_app.extensions import db


class Reminder(db.Model):
    """One reminder email to one person on one day (at most one a day), about their due assignments.

    Delivered by the outbox (kind `email`, idempotency key `outbox_key`): its delivery status is the
    outbox message's.
    """

    __tablename__ = "reminders"
    __table_args__ = (UniqueConstraint("user_id", "sent_on"), UniqueConstraint("outbox_key"))

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sent_on: Mapped[date]
    kind: Mapped[str] = mapped_column(String(20))  # before | due | after
    enrolment_ids: Mapped[list[Any]]
    recipients: Mapped[dict[str, Any]]  # {"to": [...], "cc": [...]}
    outbox_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TickMark(db.Model):
    """How far in time the tick has looked for a kind of moment that passes by itself (an assignment
    becoming overdue, a certificate expiring): each tick looks at (until, now] and moves `until`, so
    every moment is announced once, however often or rarely the tick runs."""

    __tablename__ = "tick_marks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    until: Mapped[datetime]
