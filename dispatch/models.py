"""Dispatch packages (a SCORM 1.2 / 2004 or cmi5 zip an LMS imports), their one-time launch nonces,
and the launches they made."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from training_app.db import utcnow
from training_app.extensions import db

FORMATS = ("scorm12", "scorm2004", "cmi5")
FORMAT_LABELS = {"scorm12": "SCORM 1.2", "scorm2004": "SCORM 2004 4th edition", "cmi5": "cmi5"}
OPENS_IN = ("frame", "window")  # the training opens inside the package's page, or in a new window
# What the LMS's learner id is: HR's employee id, the learner's email, or the LMS's own user name
# (which no HR record holds: the person is then known by that LMS identity only).
LEARNER_ID_KINDS = ("employee_id", "email", "lms_user")


class DispatchPackage(db.Model):
    """One package HR downloaded for one LMS and course. `dispatch_id` is public (it is in the
    package); the secret that signs its launches is stored encrypted (dispatch.package_secrets),
    and after a rotation the previous one keeps working until `previous_secret_expires_at`."""

    __tablename__ = "dispatch_packages"
    __table_args__ = (
        CheckConstraint(f"format IN {FORMATS!r}", name="format"),
        CheckConstraint(f"opens_in IN {OPENS_IN!r}", name="opens_in"),
        CheckConstraint(f"learner_id_is IN {LEARNER_ID_KINDS!r}", name="learner_id_is"),
        Index("ix_dispatch_packages_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    dispatch_id: Mapped[str] = mapped_column(String(40), unique=True)
    course_slug: Mapped[str] = mapped_column(String(100))
    format: Mapped[str] = mapped_column(String(10))
    lms_name: Mapped[str] = mapped_column(String(100))  # learners of one LMS are one set of identities
    opens_in: Mapped[str] = mapped_column(String(10), default="frame")
    learner_id_is: Mapped[str] = mapped_column(String(12), default="employee_id")
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    secret_generation: Mapped[int] = mapped_column(default=1)
    previous_secret_ciphertext: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(100))


class DispatchNonce(db.Model):
    """A launch request's nonce, kept until its timestamp can no longer be accepted: a replay finds it."""

    __tablename__ = "dispatch_nonces"
    __table_args__ = (UniqueConstraint("package_id", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("dispatch_packages.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(index=True)


class DispatchLaunch(db.Model):
    """A verified launch: who the LMS said the learner is, the person and enrolment it opened, the
    token the package's page holds to follow the result (stored hashed), the one-time link that
    signs the learner in (hashed), and the result the page told us the LMS accepted."""

    __tablename__ = "dispatch_launches"
    __table_args__ = (Index("ix_dispatch_launches_package_user", "package_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("dispatch_packages.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"))
    lms_learner_id: Mapped[str] = mapped_column(String(255))
    registration: Mapped[str | None] = mapped_column(String(100))  # cmi5's registration
    frame_origins: Mapped[str | None] = mapped_column(Text)  # the LMS pages around the package's page
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    enter_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enter_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    reported_completion_id: Mapped[int | None] = mapped_column(
        ForeignKey("completions.id", ondelete="SET NULL")
    )
    reported_at: Mapped[datetime | None]
