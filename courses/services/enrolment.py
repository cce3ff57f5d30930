"""Enrolment: who takes which course, from which source, by when; a staff member's preview twin.

Services take plain values and an explicit user; they flush and never commit.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask_babel import gettext
from sqlalchemy import bindparam, delete, select

from courses.models import Course, CourseVersion, Enrolment
from courses.publishing import (
    PublishedVersion,
    published_course,
)
from training_app.db import insert_unless_conflict, utcnow
from training_app.errors import N_, Forbidden
from training_app.extensions import db, run_core, run_write
from training_app.models import User

# Tables for the Core statements below (built once at import: building one costs more than running it).
_enrolments = Enrolment.__table__


def enrol(
    user: User,
    course_slug: str,
    *,
    source: str,
    due_at: datetime | None = None,
    cycle_key: str | None = None,
) -> Enrolment:
    """Enrol the learner once per course; enrolling again keeps progress (and an earlier due date)."""
    course_id, version = published_course(course_slug)
    enrolment = db.session.scalar(_ENROLMENT, {"user_id": user.id, "course_id": course_id})
    if enrolment is not None:
        if due_at and (enrolment.due_at is None or due_at < enrolment.due_at):
            enrolment.due_at = due_at
        return enrolment
    enrolment = Enrolment(
        tenant_id=user.tenant_id,
        user_id=user.id,
        course_id=course_id,
        source=source,
        enrolled_at=utcnow(),
        assigned_at=utcnow(),
        cycle_key=cycle_key,
        due_at=due_at or default_due_at(user, version),
    )
    db.session.add(enrolment)
    db.session.flush()
    return enrolment


_ENROLMENT = select(Enrolment).where(
    Enrolment.user_id == bindparam("user_id"), Enrolment.course_id == bindparam("course_id")
)


def enrol_in_version(learner: User, course_id: int, version: PublishedVersion, *, source: str) -> int:
    """`enrol` for a caller that already read the course's latest version (an LMS launch): one
    statement. Returns the enrolment's id, the existing one if the learner is already enrolled (a
    concurrent launch of theirs may have enrolled them a moment ago)."""
    values = {
        "tenant_id": learner.tenant_id,
        "user_id": learner.id,
        "course_id": course_id,
        "source": source,
        "enrolled_at": utcnow(),
        "due_at": default_due_at(learner, version),
    }
    enrolment_id = run_write(_ENROL_ONCE, values).scalar()
    if enrolment_id is None:
        enrolment_id = run_core(_ENROLMENT_ID, {"user_id": learner.id, "course_id": course_id}).scalar_one()
    return enrolment_id


_ENROL_ONCE = insert_unless_conflict(_enrolments, "user_id", "course_id").returning(_enrolments.c.id)
_ENROLMENT_ID = select(_enrolments.c.id).where(
    _enrolments.c.user_id == bindparam("user_id"), _enrolments.c.course_id == bindparam("course_id")
)


def default_due_at(user: User, version: CourseVersion | PublishedVersion) -> datetime | None:
    days = version.manifest.get("due_within_days_of_hire")
    if not days:
        return None
    start = user.hire_date or utcnow().date()
    return datetime.combine(start + timedelta(days=days), time(23, 59, 59), tzinfo=UTC)


def learner_enrolment(user: User, course_slug: str) -> Enrolment:
    enrolment = db.session.scalar(_LEARNER_ENROLMENT, {"user_id": user.id, "course_slug": course_slug})
    if not enrolment:
        raise _not_enrolled()
    return enrolment


def _not_enrolled() -> Forbidden:
    return Forbidden(
        gettext(
            "You are not enrolled in this course. Open it from your company's learning platform (LMS), "
            "which enrols you automatically."
        ),
        title=N_("Not enrolled"),
    )


# Hot-path statements are built once: building one costs more CPU than running it.
_LEARNER_ENROLMENT = (
    select(Enrolment)
    .join(Course, Course.id == Enrolment.course_id)
    .where(Enrolment.user_id == bindparam("user_id"), Course.slug == bindparam("course_slug"))
)


PREVIEW_ISSUER = "preview"


def preview_learner(staff_tenant_id: int, staff_id: int, name: str, email: str) -> User:
    """The staff member's own learner twin in their tenant, used to preview courses as a learner."""
    subject = f"staff-{staff_id}"
    user = db.session.scalar(
        select(User).where(
            User.tenant_id == staff_tenant_id, User.issuer == PREVIEW_ISSUER, User.subject == subject
        )
    )
    if user is None:
        user = User(tenant_id=staff_tenant_id, issuer=PREVIEW_ISSUER, subject=subject)
        db.session.add(user)
    user.name, user.email = name, email
    db.session.flush()
    return user


def reset_preview(staff_tenant_id: int, staff_id: int, course_slug: str) -> bool:
    """The staff member's preview of the course starts again from nothing: the twin's enrolment
    and everything hanging from it (lessons, attestation, attempts, results) are deleted. A
    preview is never a record, so nothing of it is kept. False when there was no preview."""
    enrolment_id = db.session.scalar(
        select(Enrolment.id)
        .join(User, User.id == Enrolment.user_id)
        .join(Course, Course.id == Enrolment.course_id)
        .where(
            User.tenant_id == staff_tenant_id,
            User.issuer == PREVIEW_ISSUER,
            User.subject == f"staff-{staff_id}",
            Enrolment.source == "preview",
            Course.slug == course_slug,
        )
    )
    if enrolment_id is None:
        return False
    db.session.execute(delete(Enrolment).where(Enrolment.id == enrolment_id))  # the rest cascades
    return True
