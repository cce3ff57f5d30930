"""What the learner sees of a course: the overview page's read model and its one-statement read.

Services take plain values and an explicit user; they flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select

from courses import hooks
from courses.models import Attestation, Completion, Course, CourseVersion, Enrolment, Lesson, LessonProgress
from courses.publishing import (
    PublishedLesson,
    PublishedVersion,
    latest_published,
    published_version,
)
from courses.services.enrolment import _not_enrolled
from training_app.errors import NotFound
from training_app.extensions import db, run_core
from training_app.models import User

# Tables for the Core statements below (built once at import: building one costs more than running it).
_enrolments, _courses, _versions = Enrolment.__table__, Course.__table__, CourseVersion.__table__
_attestations, _completions, _progress = Attestation.__table__, Completion.__table__, LessonProgress.__table__
_users = User.__table__


@dataclass(frozen=True)
class LessonState:
    slug: str
    title: str
    minutes: int
    position: int
    done: bool
    available: bool


@dataclass(frozen=True)
class AttestationSummary:
    id: int
    attested_at: datetime


@dataclass(frozen=True)
class ResultSummary:
    id: int
    cycle: int
    status: str
    score: int
    completed_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class EnrolmentSummary:
    """What the overview reads of an enrolment (plain columns, no ORM instance)."""

    id: int
    course_id: int
    cycle: int
    due_at: datetime | None
    last_lesson_slug: str | None


@dataclass(frozen=True)
class Overview:
    enrolment: Enrolment | EnrolmentSummary
    course_slug: str
    version: PublishedVersion
    locale: str
    title: str
    summary: str
    lessons: list[LessonState]
    minutes_left: int
    next_step: str  # lesson | attestation | quiz | done
    next_lesson: str | None
    attestation: AttestationSummary | None
    latest_result: ResultSummary | None
    links: list[hooks.OverviewLink]

    @property
    def lessons_done(self) -> int:
        return sum(1 for lesson in self.lessons if lesson.done)

    @property
    def percent_done(self) -> int:
        steps = len(self.lessons) + 2  # lessons, attestation, quiz
        done = self.lessons_done + (1 if self.attestation else 0) + (1 if self.next_step == "done" else 0)
        return round(100 * done / steps)


def content_locale(version: CourseVersion | PublishedVersion, preferred: str | None) -> str:
    """The learner's LMS locale when the course has it, otherwise the course default."""
    locales = version.manifest["locales"]
    if preferred:
        base = preferred.replace("_", "-").split("-")[0].lower()
        if base in locales:
            return base
    return version.manifest["default_locale"]


def course_text(version: CourseVersion | PublishedVersion, field: str, locale: str) -> str:
    return version.manifest["translations"].get(locale, {}).get(field) or version.manifest[field]


def overview(enrolment: Enrolment, locale_preference: str | None) -> Overview:
    version = latest_published(enrolment.course_id)
    return _overview(
        enrolment,
        enrolment.course.slug,
        version,
        completed_lessons(enrolment),
        attestation_summary(enrolment, version),
        latest_result_summary(enrolment),
        locale_preference,
    )


def learner_overview(user_id: int, course_slug: str) -> Overview | None:
    """The overview page of the learner's course, None if there is no such learner any more.

    The learner's locale, enrolment, latest version, lessons done, attestation and latest result
    in one statement (the user row, learner_enrolment and overview took seven). A read of
    committed rows: the page changes nothing, so there is nothing to flush first.
    """
    rows = run_core(_LEARNER_OVERVIEW, {"user_id": user_id, "course_slug": course_slug}).all()
    if not rows:
        return None
    row = rows[0]  # one row per lesson done (at least one row): the other columns are the same
    if row.id is None:
        raise _not_enrolled()
    if row.version_id is None:
        raise NotFound(f"There is no published course {course_slug!r}.")
    enrolment = EnrolmentSummary(row.id, row.course_id, row.cycle, row.due_at, row.last_lesson_slug)
    version = published_version(row.version_id, row.content_hash, row.published_at)
    attestation = None
    if row.attestation_id is not None and row.attested_number >= version.attest_from_number:
        attestation = AttestationSummary(row.attestation_id, row.attested_at)
    latest = None
    if row.result_id is not None:
        latest = ResultSummary(
            row.result_id, row.result_cycle, row.status, row.score, row.completed_at, row.expires_at
        )
    done = {row.lesson_slug for row in rows if row.lesson_slug is not None}
    return _overview(enrolment, course_slug, version, done, attestation, latest, row.learner_locale)


def _overview(
    enrolment: Enrolment | EnrolmentSummary,
    course_slug: str,
    version: PublishedVersion,
    done: set[str],
    attestation: AttestationSummary | None,
    latest: ResultSummary | None,
    locale_preference: str | None,
) -> Overview:
    locale = content_locale(version, locale_preference)
    lessons, previous_done = [], True
    for lesson in version.lessons:
        is_done = lesson.slug in done
        lessons.append(
            LessonState(
                lesson.slug,
                lesson_title(lesson, locale),
                lesson.minutes,
                lesson.position,
                is_done,
                previous_done or is_done,
            )
        )
        previous_done = previous_done and is_done
    completed_this_cycle = (
        latest is not None and latest.cycle == enrolment.cycle and latest.status == "completed"
    )
    next_lesson = next((s.slug for s in lessons if not s.done), None)
    if completed_this_cycle:
        next_step = "done"
    elif next_lesson:
        next_step = "lesson"
    elif attestation is None:
        next_step = "attestation"
    else:
        next_step = "quiz"
    return Overview(
        enrolment=enrolment,
        course_slug=course_slug,
        version=version,
        locale=locale,
        title=course_text(version, "title", locale),
        summary=course_text(version, "summary", locale),
        lessons=lessons,
        minutes_left=_minutes_left(version, lessons, next_step),
        next_step=next_step,
        next_lesson=_resume_lesson(enrolment, lessons),
        attestation=attestation,
        latest_result=latest,
        links=hooks.overview_links(enrolment, latest),
    )


def attestation_summary(enrolment: Enrolment, version: PublishedVersion) -> AttestationSummary | None:
    """current_attestation's answer for pages that only show it (plain columns, no ORM instances)."""
    row = db.session.execute(
        _ATTESTATION_OF_CYCLE, {"enrolment_id": enrolment.id, "cycle": enrolment.cycle}
    ).first()
    if row is None or row.number < version.attest_from_number:
        return None
    return AttestationSummary(row.id, row.attested_at)


def latest_result_summary(enrolment: Enrolment) -> ResultSummary | None:
    """latest_result's answer for pages that only show it (plain columns, no ORM instances)."""
    row = db.session.execute(_LATEST_RESULT, {"enrolment_id": enrolment.id}).first()
    return ResultSummary(*row) if row else None


def _latest_id(table: Table, order_by: tuple[Any, ...], *where: Any) -> Any:
    """The id of the first row of `table` in that order (correlated to the enclosing query)."""
    query = select(table.c.id).where(*where).order_by(*order_by).limit(1)
    return query.correlate_except(table).scalar_subquery()


_attested_version = _versions.alias("attested_version")
_LEARNER_OVERVIEW = (
    select(
        _enrolments.c.id,
        _enrolments.c.course_id,
        _enrolments.c.cycle,
        _enrolments.c.due_at,
        _enrolments.c.last_lesson_slug,
        _versions.c.id.label("version_id"),
        _versions.c.content_hash,
        _versions.c.published_at,
        _attestations.c.id.label("attestation_id"),
        _attestations.c.attested_at,
        _attested_version.c.number.label("attested_number"),
        _completions.c.id.label("result_id"),
        _completions.c.cycle.label("result_cycle"),
        _completions.c.status,
        _completions.c.score,
        _completions.c.completed_at,
        _completions.c.expires_at,
        _progress.c.lesson_slug,
        _users.c.locale.label("learner_locale"),
    )
    .select_from(
        _users.outerjoin(
            _enrolments.join(_courses, _courses.c.id == _enrolments.c.course_id),
            (_enrolments.c.user_id == _users.c.id) & (_courses.c.slug == bindparam("course_slug")),
        )
        .outerjoin(
            _versions,
            _versions.c.id
            == _latest_id(_versions, (_versions.c.number.desc(),), _versions.c.course_id == _courses.c.id),
        )
        .outerjoin(
            _attestations,
            _attestations.c.id
            == _latest_id(
                _attestations,
                (_attestations.c.attested_at.desc(),),
                _attestations.c.enrolment_id == _enrolments.c.id,
                _attestations.c.cycle == _enrolments.c.cycle,
            ),
        )
        .outerjoin(_attested_version, _attested_version.c.id == _attestations.c.course_version_id)
        .outerjoin(
            _completions,
            _completions.c.id
            == _latest_id(
                _completions,
                (_completions.c.completed_at.desc(), _completions.c.id.desc()),
                _completions.c.enrolment_id == _enrolments.c.id,
            ),
        )
        .outerjoin(
            _progress,
            (_progress.c.enrolment_id == _enrolments.c.id) & (_progress.c.cycle == _enrolments.c.cycle),
        )
    )
    .where(_users.c.id == bindparam("user_id"))
)
_ATTESTATION_OF_CYCLE = (
    select(Attestation.id, Attestation.attested_at, CourseVersion.number)
    .join(CourseVersion, CourseVersion.id == Attestation.course_version_id)
    .where(Attestation.enrolment_id == bindparam("enrolment_id"), Attestation.cycle == bindparam("cycle"))
    .order_by(Attestation.attested_at.desc())
    .limit(1)
)
_LATEST_RESULT = (
    select(
        Completion.id,
        Completion.cycle,
        Completion.status,
        Completion.score,
        Completion.completed_at,
        Completion.expires_at,
    )
    .where(Completion.enrolment_id == bindparam("enrolment_id"))
    .order_by(Completion.completed_at.desc(), Completion.id.desc())
    .limit(1)
)


def _minutes_left(version: PublishedVersion, lessons: list[LessonState], next_step: str) -> int:
    if next_step == "done":
        return 0
    lesson_minutes = sum(lesson.minutes for lesson in version.lessons)
    quiz_minutes = max(version.manifest["estimated_minutes"] - lesson_minutes, 0)
    return sum(lesson.minutes for lesson in lessons if not lesson.done) + quiz_minutes


def _resume_lesson(enrolment: Enrolment | EnrolmentSummary, lessons: list[LessonState]) -> str | None:
    """Where "Continue" goes: the first lesson not done (the last one opened when all are done)."""
    first_open = next((lesson.slug for lesson in lessons if not lesson.done), None)
    return first_open or enrolment.last_lesson_slug


def lesson_title(lesson: Lesson | PublishedLesson, locale: str) -> str:
    return lesson.titles.get(locale) or next(iter(lesson.titles.values()))


def completed_lessons(enrolment: Enrolment | EnrolmentSummary) -> set[str]:
    return set(
        db.session.scalars(_COMPLETED_LESSONS, {"enrolment_id": enrolment.id, "cycle": enrolment.cycle})
    )


_COMPLETED_LESSONS = select(LessonProgress.lesson_slug).where(
    LessonProgress.enrolment_id == bindparam("enrolment_id"), LessonProgress.cycle == bindparam("cycle")
)
