"""The result of a cycle: recorded once, then handed to the result hooks in the same transaction.

Services take plain values and an explicit user; they flush and never commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext
from sqlalchemy import Row, bindparam, exists, select, update

from courses import hooks
from courses.models import Attestation, Completion, Course, CourseVersion, Enrolment
from courses.publishing import (
    PublishedVersion,
)
from training_app import audit
from training_app.db import insert_unless, utcnow
from training_app.errors import Conflict
from training_app.extensions import db, run_core
from training_app.models import User

# Tables for the Core statements below (built once at import: building one costs more than running it).
_enrolments, _attestations, _completions = Enrolment.__table__, Attestation.__table__, Completion.__table__
_users = User.__table__


@dataclass(frozen=True)
class CycleRef:
    """The enrolment cycle a result belongs to, read in one query."""

    enrolment_id: int
    tenant_id: int
    user_id: int
    course_id: int
    course_slug: str
    course_title: str
    cycle: int
    source: str  # the enrolment's (a staff preview's results are kept to itself)

    @property
    def is_preview(self) -> bool:
        return self.source == "preview"


@dataclass(frozen=True)
class RecordedResult:
    """A recorded cycle outcome, as the result hooks read it (certificates, LMS scores, webhooks)."""

    id: int
    tenant_id: int
    user_id: int
    enrolment_id: int
    course_id: int
    course_slug: str
    course_title: str
    course_version_id: int
    version_number: int
    version_label: str
    cycle: int
    status: str  # completed | failed
    score: int
    content_hash: str
    attestation_id: int | None
    completed_at: datetime
    expires_at: datetime | None
    learner_name: str | None  # read with the insert: hooks need not read the learner again
    learner_email: str | None
    attested_name: str | None  # the name and locale the learner signed the attestation with
    attested_locale: str | None
    course_titles: Mapping[str, str] = field(default_factory=dict)  # locale -> title, as the version has them

    def course_title_in(self, locale: str | None) -> str:
        """The course's title in `locale` as this version published it; else the course's own title."""
        return self.course_titles.get(locale or "") or self.course_title


def cycle_of(enrolment_id: int) -> CycleRef:
    return CycleRef(*run_core(_CYCLE_OF, {"enrolment_id": enrolment_id}).one())


def record_result(
    cycle: CycleRef,
    *,
    passed: bool,
    score: int,
    source_ref: str,
    actor: str,
    version: CourseVersion | PublishedVersion,
    attestation_id: int | None,
) -> RecordedResult:
    """Record the cycle's outcome and hand it to every registered hook, in this transaction.

    A staff preview's result is recorded for the preview's own pages and handed to no hook: it
    earns no certificate and is sent nowhere (no LMS score, no HR system).

    The caller gives the version and attestation the result was earned with (the quiz checked
    them when the attempt started). Core statements: this runs inside every passing quiz submit.
    """
    now = utcnow()
    days = version.manifest.get("recertify_every_days") or 0
    row = dict(
        tenant_id=cycle.tenant_id,
        user_id=cycle.user_id,
        enrolment_id=cycle.enrolment_id,
        course_id=cycle.course_id,
        course_version_id=version.id,
        cycle=cycle.cycle,
        status="completed" if passed else "failed",
        score=score,
        content_hash=version.content_hash,
        attestation_id=attestation_id,
        source_ref=source_ref,
        completed_at=now,
        expires_at=now + timedelta(days=days) if passed and days else None,
    )
    draft = {
        **{k: v for k, v in row.items() if k != "source_ref"},
        "course_slug": cycle.course_slug,
        "course_title": cycle.course_title,
        "version_number": version.number,
        "version_label": version.label,
        "course_titles": _titles(version.manifest),
    }
    recorded = _insert_result(row, passed=passed)
    if recorded is None:
        raise Conflict(gettext("This course is already completed for the current cycle."))
    completion_id = recorded.id
    audit.record_event(
        cycle.tenant_id,
        actor,
        "course.completed" if passed else "course.failed",
        subject=("completion", completion_id),
        data={
            "course": cycle.course_slug,
            "version": version.number,
            "cycle": cycle.cycle,
            "score": score,
            "content_hash": version.content_hash,
            "user_id": cycle.user_id,
        },
    )
    result = RecordedResult(
        id=completion_id,
        learner_name=recorded.learner_name,
        learner_email=recorded.learner_email,
        attested_name=recorded.attested_name,
        attested_locale=recorded.attested_locale,
        **draft,
    )
    if not cycle.is_preview:
        hooks.run_result_hooks(result)
    return result


def _titles(manifest: dict[str, Any]) -> dict[str, str]:
    titles = {manifest["default_locale"]: manifest["title"]}
    for locale, texts in manifest.get("translations", {}).items():
        titles[locale] = texts.get("title") or titles[manifest["default_locale"]]
    return titles


def _insert_result(row: dict[str, Any], *, passed: bool) -> Row | None:
    """Insert the result unless the cycle is already completed (None then); a pass also marks
    the enrolment: one statement on PostgreSQL (the update is a CTE of the insert), two on SQLite.
    """
    params = {f"new_{field}": value for field, value in row.items()}  # no enrolments column name
    if not passed:
        return run_core(_INSERT_UNLESS_COMPLETED, params).one_or_none()
    if db.session.connection().dialect.name == "postgresql":
        return run_core(_INSERT_AND_MARK_COMPLETED, params).one_or_none()
    recorded = run_core(_INSERT_UNLESS_COMPLETED, params).one_or_none()
    if recorded is not None:
        run_core(_MARK_ENROLMENT_COMPLETED, params)
    return recorded


# Built once: building a statement costs more CPU than running it.
_CYCLE_OF = (
    select(
        Enrolment.id,
        Enrolment.tenant_id,
        Enrolment.user_id,
        Enrolment.course_id,
        Course.slug,
        Course.title,
        Enrolment.cycle,
        Enrolment.source,
    )
    .join(Course, Course.id == Enrolment.course_id)
    .where(Enrolment.id == bindparam("enrolment_id"))
)
_RESULT_FIELDS = [c.name for c in _completions.c if c.name != "id"]
_LEARNER = _users.c.id == bindparam("new_user_id")
_ATTESTATION = _attestations.c.id == bindparam("new_attestation_id")
# The result is inserted only if the cycle has no completion yet, and returns what the certificate
# needs of the learner and of their attestation.
_INSERT_UNLESS_COMPLETED = insert_unless(
    _completions,
    _RESULT_FIELDS,
    _completions.c.enrolment_id == bindparam("new_enrolment_id"),
    _completions.c.cycle == bindparam("new_cycle"),
    _completions.c.status == "completed",
    param_prefix="new_",
).returning(
    _completions.c.id,
    select(_users.c.name).where(_LEARNER).scalar_subquery().label("learner_name"),
    select(_users.c.email).where(_LEARNER).scalar_subquery().label("learner_email"),
    select(_attestations.c.typed_name).where(_ATTESTATION).scalar_subquery().label("attested_name"),
    select(_attestations.c.locale).where(_ATTESTATION).scalar_subquery().label("attested_locale"),
)
_MARK_ENROLMENT_COMPLETED = (
    update(_enrolments)
    .where(_enrolments.c.id == bindparam("new_enrolment_id"))
    .values(completed_at=bindparam("new_completed_at"), expires_at=bindparam("new_expires_at"))
)
_RECORDED = _INSERT_UNLESS_COMPLETED.cte("recorded")
_INSERT_AND_MARK_COMPLETED = select(_RECORDED).add_cte(
    _MARK_ENROLMENT_COMPLETED.where(exists(select(_RECORDED.c.id))).cte("marked")
)


def recorded_result_of(completion: Completion) -> RecordedResult:
    """A result recorded earlier, as its hooks read it when it was recorded (for a sender that
    sends what happened before it was set up)."""
    version, course = completion.course_version, completion.course
    learner = db.session.get(User, completion.user_id)
    attestation = (
        db.session.get(Attestation, completion.attestation_id) if completion.attestation_id else None
    )
    return RecordedResult(
        id=completion.id,
        tenant_id=completion.tenant_id,
        user_id=completion.user_id,
        enrolment_id=completion.enrolment_id,
        course_id=completion.course_id,
        course_slug=course.slug,
        course_title=course.title,
        course_version_id=version.id,
        version_number=version.number,
        version_label=version.label,
        cycle=completion.cycle,
        status=completion.status,
        score=completion.score,
        content_hash=completion.content_hash,
        attestation_id=completion.attestation_id,
        completed_at=completion.completed_at,
        expires_at=completion.expires_at,
        learner_name=learner.name if learner else None,
        learner_email=learner.email if learner else None,
        attested_name=attestation.typed_name if attestation else None,
        attested_locale=attestation.locale if attestation else None,
        course_titles=_titles(version.manifest),
    )


def latest_result(
    enrolment: Enrolment, *, cycle: int | None = None, status: str | None = None
) -> Completion | None:
    query = select(Completion).where(Completion.enrolment_id == enrolment.id)
    if cycle is not None:
        query = query.where(Completion.cycle == cycle)
    if status is not None:
        query = query.where(Completion.status == status)
    return db.session.scalar(query.order_by(Completion.completed_at.desc(), Completion.id.desc()).limit(1))
