"""The learning half: published course versions, enrolments, progress, attestations, results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from training_app.db import utcnow
from training_app.extensions import db

# Why the person must take the course (this cycle): an LMS launch (LTI, or a SCORM/cmi5 dispatch
# package), HR, a rule (hire date, the leaders' module), a recertification, a material policy
# change; a staff preview; demo data.
ENROLMENT_SOURCES = (
    "lti",
    "dispatch",
    "hr",
    "hire_rule",
    "leaders_rule",
    "recertification",
    "policy_change",
    "preview",
    "demo",
)
RESULT_STATUSES = ("completed", "failed")


class Course(db.Model):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    audience: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CourseVersion(db.Model):
    """An immutable snapshot of a course folder, as learners see it once published."""

    __tablename__ = "course_versions"
    __table_args__ = (UniqueConstraint("course_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    material: Mapped[bool]
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str] = mapped_column(String(100))
    manifest: Mapped[dict[str, Any]]
    # relative path -> text (course.yaml, lessons, quiz bank): large, read only to parse the bank
    files: Mapped[dict[str, Any]] = mapped_column(deferred=True)

    course: Mapped[Course] = relationship(lazy="joined")
    # Loaded when a page needs them (the quiz and the result hooks do not).
    lessons: Mapped[list[Lesson]] = relationship(order_by="Lesson.position", cascade="all, delete-orphan")

    @property
    def label(self) -> str:
        return version_label(self.number, self.published_at)


class Lesson(db.Model):
    __tablename__ = "lessons"
    __table_args__ = (UniqueConstraint("course_version_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_version_id: Mapped[int] = mapped_column(ForeignKey("course_versions.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(100))
    position: Mapped[int]
    minutes: Mapped[int]
    titles: Mapped[dict[str, Any]]  # locale -> title (overviews list every lesson's title)
    texts: Mapped[dict[str, Any]] = mapped_column(deferred=True)  # locale -> {"title", "html"}


class Enrolment(db.Model):
    """A person's assignment to a course: must complete it (this cycle) by `due_at`.

    `cycle` starts again on retraining (recertification, a material policy change); the fields of
    the current cycle are reset then, and the history is in the results and the audit log.
    `cycle_key` names what opened the cycle, so the scheduler never opens it twice (e.g.
    `renews:<completion id>`, `window:2027`, `policy:<version number>`). A waived or ended
    assignment is kept, never deleted; the status is computed by assignments.status.
    """

    __tablename__ = "enrolments"
    __table_args__ = (
        UniqueConstraint("user_id", "course_id"),
        CheckConstraint(f"source IN {ENROLMENT_SOURCES!r}", name="source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(20))
    cycle: Mapped[int] = mapped_column(default=1)
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]  # of the current cycle
    # The certificate expiries the status rule reads (assignments.status) without the results:
    # the current cycle's passed result's, and the latest earlier cycle's passed result's.
    expires_at: Mapped[datetime | None]
    previous_expires_at: Mapped[datetime | None]
    last_lesson_slug: Mapped[str | None] = mapped_column(String(100))
    assigned_at: Mapped[datetime | None]  # when the current cycle was assigned
    cycle_key: Mapped[str | None] = mapped_column(String(100))
    waived_at: Mapped[datetime | None]
    waived_by: Mapped[str | None] = mapped_column(String(100))
    waiver_reason: Mapped[str | None] = mapped_column(Text)
    ended_at: Mapped[datetime | None]  # the person left: their assignments stop

    course: Mapped[Course] = relationship(lazy="joined")


class LessonProgress(db.Model):
    __tablename__ = "lesson_progress"
    __table_args__ = (UniqueConstraint("enrolment_id", "cycle", "lesson_slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"))
    cycle: Mapped[int]
    lesson_slug: Mapped[str] = mapped_column(String(100))
    course_version_id: Mapped[int] = mapped_column(ForeignKey("course_versions.id"))
    completed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attestation(db.Model):
    """The learner's signed confirmation of the policy summary of one course version."""

    __tablename__ = "attestations"
    __table_args__ = (Index("ix_attestations_enrolment_cycle", "enrolment_id", "cycle"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"))
    cycle: Mapped[int]
    course_version_id: Mapped[int] = mapped_column(ForeignKey("course_versions.id"))
    content_hash: Mapped[str] = mapped_column(String(64))
    policy_text_hash: Mapped[str] = mapped_column(String(64))
    statement: Mapped[str] = mapped_column(Text)
    typed_name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(16))
    attested_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))

    course_version: Mapped[CourseVersion] = relationship(lazy="joined")


class Completion(db.Model):
    """The result of a cycle: completed (passed) or failed (out of attempts). Append-only."""

    __tablename__ = "completions"
    __table_args__ = (
        CheckConstraint(f"status IN {RESULT_STATUSES!r}", name="status"),
        Index("ix_completions_tenant_completed", "tenant_id", "completed_at"),
        # the overview's latest result and the passed submit's once-per-cycle check
        Index("ix_completions_enrolment_cycle", "enrolment_id", "cycle"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    course_version_id: Mapped[int] = mapped_column(ForeignKey("course_versions.id"))
    cycle: Mapped[int]
    status: Mapped[str] = mapped_column(String(20))
    score: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    attestation_id: Mapped[int | None] = mapped_column(ForeignKey("attestations.id"))
    source_ref: Mapped[str | None] = mapped_column(String(100))  # e.g. "quiz_attempt:42"
    completed_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]

    course: Mapped[Course] = relationship(lazy="joined")
    course_version: Mapped[CourseVersion] = relationship(lazy="joined")


def version_label(number: int, published_at: datetime) -> str:
    """How a version is named to people (pages, certificates, exports): "v2 · 2026-11-27"."""
    return f"v{number} · {published_at:%Y-%m-%d}"
