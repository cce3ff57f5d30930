"""Quiz attempts and extra attempts granted by HR."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from training_app.db import utcnow
from training_app.extensions import db

ATTEMPT_STATUSES = ("open", "submitted", "expired")


class QuizAttempt(db.Model):
    """One sitting of a quiz: the questions and option order drawn, the answers, the grade."""

    __tablename__ = "quiz_attempts"
    __table_args__ = (
        UniqueConstraint("enrolment_id", "cycle", "number"),
        CheckConstraint(f"status IN {ATTEMPT_STATUSES!r}", name="status"),
        # At most one open attempt per learner and course, enforced by the database.
        Index(
            "uq_quiz_attempts_one_open",
            "enrolment_id",
            unique=True,
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"))
    cycle: Mapped[int]
    number: Mapped[int]
    course_version_id: Mapped[int] = mapped_column(ForeignKey("course_versions.id"))
    attestation_id: Mapped[int | None] = mapped_column(ForeignKey("attestations.id"))  # current at start
    quiz_id: Mapped[str] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20), default="open")
    questions: Mapped[list[Any]]  # [{"id": "o04", "options": ["c", "a", "b"]}, ...] as drawn
    answers: Mapped[dict[str, Any] | None]  # question id -> [option ids]
    points: Mapped[dict[str, Any] | None]  # question id -> fraction earned
    score: Mapped[int | None]
    passed: Mapped[bool | None]
    pass_mark: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    closed_reason: Mapped[str | None] = mapped_column(Text)


class AttemptGrant(db.Model):
    """An extra attempt HR granted a learner who ran out of attempts (also in the audit log)."""

    __tablename__ = "quiz_attempt_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"), index=True)
    cycle: Mapped[int]
    granted_by: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    reason: Mapped[str] = mapped_column(String(500))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
