"""The learner's path: enrolment, lessons, attestation and the result of a cycle.

Services take plain values and an explicit user; they flush and never commit.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any

from flask_babel import gettext, ngettext
from sqlalchemy import Row, Select, Table, bindparam, exists, select, update

from courses import hooks
from courses.models import Attestation, Completion, Course, CourseVersion, Enrolment, Lesson, LessonProgress
from courses.publishing import (
    PublishedLesson,
    PublishedVersion,
    course_by_slug,
    latest_material_number,
    latest_published,
    published_course,
    published_version,
)
from training_app import audit
from training_app.db import insert_unless, insert_unless_conflict, utcnow
from training_app.errors import N_, Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from training_app.extensions import db, run_core, run_write
from training_app.models import User


class LessonLocked(DomainError):
    status = 409
    code = "lesson_locked"
    title = N_("Finish the earlier lessons first")


class StepNotReady(DomainError):
    status = 409
    code = "step_not_ready"
    title = N_("Not yet")


# Tables for the Core statements below (built once at import: building one costs more than running it).
_enrolments, _courses, _versions = Enrolment.__table__, Course.__table__, CourseVersion.__table__
_attestations, _completions, _progress = Attestation.__table__, Completion.__table__, LessonProgress.__table__
_users = User.__table__


# --- enrolment ----------------------------------------------------------------------------------


def enrol(user: User, course_slug: str, *, source: str, due_at: datetime | None = None) -> Enrolment:
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


# --- what the learner sees ----------------------------------------------------------------------


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


@dataclass(frozen=True)
class LessonPage:
    lesson: Lesson
    title: str
    html: str
    position: int
    count: int
    previous_slug: str | None
    next_slug: str | None
    done: bool
    locale: str
    course_title: str


def open_lesson(enrolment: Enrolment, lesson_slug: str, locale_preference: str | None) -> LessonPage:
    """The lesson, if the learner has reached it; remembers it as where to resume."""
    _, version = course_by_slug(enrolment.course.slug)
    lessons = version.lessons
    index = next((i for i, lesson in enumerate(lessons) if lesson.slug == lesson_slug), None)
    locale = content_locale(version, locale_preference)
    course_title = course_text(version, "title", locale)
    if index is None:
        raise NotFound(
            gettext(
                "The course “%(course)s” has no lesson %(lesson)s. "
                "Go back to the course overview to pick a lesson.",
                course=course_title,
                lesson=repr(lesson_slug),
            )
        )
    done = completed_lessons(enrolment)
    blocking = next((lesson for lesson in lessons[:index] if lesson.slug not in done), None)
    if blocking is not None:
        raise LessonLocked(
            gettext(
                "Lessons are taken in order. Finish “%(lesson)s” "
                "first; your progress is saved after each lesson.",
                lesson=lesson_title(blocking, locale),
            ),
            errors={"next_lesson": blocking.slug},
        )
    lesson = lessons[index]
    enrolment.last_lesson_slug = lesson.slug
    enrolment.started_at = enrolment.started_at or utcnow()
    text = lesson.texts.get(locale) or lesson.texts[version.manifest["default_locale"]]
    return LessonPage(
        lesson=lesson,
        title=text["title"],
        html=text["html"],
        position=index + 1,
        count=len(lessons),
        previous_slug=lessons[index - 1].slug if index > 0 else None,
        next_slug=lessons[index + 1].slug if index + 1 < len(lessons) else None,
        done=lesson.slug in done,
        locale=locale,
        course_title=course_title,
    )


def complete_lesson(enrolment: Enrolment, lesson_slug: str) -> str | None:
    """Mark the lesson done (idempotent); returns the next lesson's slug, or None after the last."""
    page = open_lesson(enrolment, lesson_slug, None)
    if not page.done:
        _, version = course_by_slug(enrolment.course.slug)
        db.session.add(
            LessonProgress(
                enrolment_id=enrolment.id,
                cycle=enrolment.cycle,
                lesson_slug=lesson_slug,
                course_version_id=version.id,
            )
        )
        db.session.flush()
    return page.next_slug


# --- attestation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttestationPage:
    version: CourseVersion
    locale: str
    course_title: str
    policy_title: str
    policy_html: str
    statement: str
    expected_name: str
    current: Attestation | None


def attestation_page(enrolment: Enrolment, user: User, locale_preference: str | None) -> AttestationPage:
    _, version = course_by_slug(enrolment.course.slug)
    _require_lessons_done(enrolment, version)
    locale = content_locale(version, locale_preference)
    policy = next(lesson for lesson in version.lessons if lesson.slug == version.manifest["policy_lesson"])
    text = policy.texts.get(locale) or policy.texts[version.manifest["default_locale"]]
    return AttestationPage(
        version=version,
        locale=locale,
        course_title=course_text(version, "title", locale),
        policy_title=text["title"],
        policy_html=text["html"],
        statement=course_text(version, "attestation_statement", locale),
        expected_name=user.name,
        current=current_attestation(enrolment, version),
    )


def attest(
    enrolment: Enrolment,
    user: User,
    *,
    confirmed: bool,
    typed_name: str,
    locale_preference: str | None,
    ip_address: str | None,
    user_agent: str | None,
) -> Attestation:
    page = attestation_page(enrolment, user, locale_preference)
    errors = {}
    if not confirmed:
        errors["confirm"] = gettext("Tick the box to confirm that you have read and will follow the policy.")
    name_problem = check_typed_name(typed_name, user.name)
    if name_problem:
        errors["typed_name"] = name_problem
    if errors:
        raise ValidationFailed(" ".join(errors.values()), errors=errors)
    attestation = Attestation(
        tenant_id=enrolment.tenant_id,
        user_id=user.id,
        enrolment_id=enrolment.id,
        cycle=enrolment.cycle,
        course_version_id=page.version.id,
        content_hash=page.version.content_hash,
        policy_text_hash=hashlib.sha256(page.policy_html.encode()).hexdigest(),
        statement=page.statement,
        typed_name=" ".join(typed_name.split()),
        locale=page.locale,
        attested_at=utcnow(),
        ip_address=ip_address,
        user_agent=(user_agent or "")[:500] or None,
    )
    db.session.add(attestation)
    db.session.flush()
    audit.record_event(
        enrolment.tenant_id,
        f"learner:{user.id}",
        "attestation.signed",
        subject=("attestation", attestation.id),
        data={
            "course": enrolment.course.slug,
            "version": page.version.number,
            "cycle": enrolment.cycle,
            "content_hash": page.version.content_hash,
            "locale": page.locale,
        },
        ip_address=ip_address,
    )
    return attestation


def check_typed_name(typed: str, expected: str) -> str | None:
    typed_clean = normalise_name(typed)
    if len(typed_clean) < 2:
        return gettext("Type your full name to sign.")
    if len(typed) > 200:
        return gettext("That name is too long (200 characters at most).")
    if expected.strip() and typed_clean != normalise_name(expected):
        return gettext(
            "The name you typed does not match the name your company's system has for you "
            "(“%(name)s”). Type your full name exactly as shown.",
            name=expected,
        )
    return None


def normalise_name(name: str) -> str:
    """Compare names ignoring case, accents' composition, punctuation spacing and extra spaces."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", name)).strip().casefold()


def current_attestation(enrolment: Enrolment, version: CourseVersion) -> Attestation | None:
    """The attestation of this cycle, unless a material version was published after it."""
    attestation = db.session.scalar(
        select(Attestation)
        .where(Attestation.enrolment_id == enrolment.id, Attestation.cycle == enrolment.cycle)
        .order_by(Attestation.attested_at.desc())
        .limit(1)
    )
    if attestation is None:
        return None
    needed = latest_material_number(enrolment.course_id, version.number)
    return attestation if attestation.course_version.number >= needed else None


def _require_lessons_done(enrolment: Enrolment, version: CourseVersion) -> None:
    done = completed_lessons(enrolment)
    missing = [lesson for lesson in version.lessons if lesson.slug not in done]
    if missing:
        learner = db.session.get(User, enrolment.user_id)
        locale = content_locale(version, learner.locale if learner else None)
        raise StepNotReady(
            ngettext(
                "Finish the lessons first: %(num)d to go, starting with “%(lesson)s”.",
                "Finish the lessons first: %(num)d to go, starting with “%(lesson)s”.",
                len(missing),
                lesson=lesson_title(missing[0], locale),
            ),
            errors={"next_lesson": missing[0].slug},
        )


def ready_for_quiz(enrolment: Enrolment) -> tuple[CourseVersion, Attestation]:
    """What the quiz needs before it may start: every lesson done and a current attestation."""
    _, version = course_by_slug(enrolment.course.slug)
    _require_lessons_done(enrolment, version)
    attestation = current_attestation(enrolment, version)
    if attestation is None:
        raise StepNotReady(
            gettext("Sign the policy attestation before the quiz."), errors={"next_step": "attestation"}
        )
    return version, attestation


# --- the result of a cycle ----------------------------------------------------------------------


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
    # What the hooks' companions returned with the insert, by label (hooks.ResultCompanion);
    # empty where they did not run, and the hook then runs its own statements.
    companions: dict[str, Any] = field(default_factory=dict)


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
    }
    recorded, companions = _insert_result(row, draft, passed=passed, with_hooks=not cycle.is_preview)
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
        companions=companions,
        **draft,
    )
    if not cycle.is_preview:
        hooks.run_result_hooks(result)
    return result


def _insert_result(
    row: dict[str, Any], draft: dict[str, Any], *, passed: bool, with_hooks: bool
) -> tuple[Row | None, dict[str, Any]]:
    """Insert the result unless the cycle is already completed; a pass also marks the enrolment.

    One statement on PostgreSQL (the enrolment's update and the hooks' companions are CTEs of
    the insert), two on SQLite. None when the cycle already had its completion; with it, what
    the companions returned (nothing where they did not run).
    """
    params = {f"new_{field}": value for field, value in row.items()}  # no enrolments column name
    if not passed:
        return run_core(_INSERT_UNLESS_COMPLETED, params).one_or_none(), {}
    if with_hooks and db.session.connection().dialect.name == "postgresql":
        companions = hooks.result_companions()
        statement, labels = _insert_completion_with(companions)
        result_as_drafted = SimpleNamespace(**draft)
        for companion in companions:
            params.update(companion.params(result_as_drafted))
        recorded = run_core(statement, params).one_or_none()
        return recorded, {label: getattr(recorded, label) for label in labels} if recorded else {}
    recorded = run_core(_INSERT_UNLESS_COMPLETED, params).one_or_none()
    if recorded is not None:
        run_core(_MARK_ENROLMENT_COMPLETED, params)
    return recorded, {}


@functools.cache
def _insert_completion_with(companions: tuple[hooks.ResultCompanion, ...]) -> tuple[Select, tuple[str, ...]]:
    """The passed result's statement on PostgreSQL with the hooks' companions, built once."""
    recorded = _INSERT_UNLESS_COMPLETED.cte("recorded")
    marked = _MARK_ENROLMENT_COMPLETED.where(exists(select(recorded.c.id))).cte("marked")
    ctes, columns = [marked], []
    for companion in companions:
        more_ctes, more_columns = companion.build(recorded)
        ctes += more_ctes
        columns += more_columns
    statement = select(recorded, *columns).add_cte(*ctes)
    return statement, tuple(column.name for column in columns)


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
    .values(completed_at=bindparam("new_completed_at"))
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


# --- staff preview ------------------------------------------------------------------------------

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


# --- recertification ------------------------------------------------------------------------------


def start_new_cycle(enrolment: Enrolment, *, source: str, due_at: datetime | None, actor: str) -> Enrolment:
    """Retraining: the learner takes the course again (progress, attestation and quiz start afresh).

    Earlier cycles keep their attestations, results and certificates: the history stays.
    """
    enrolment.cycle += 1
    enrolment.source = source
    enrolment.due_at = due_at
    enrolment.started_at = None
    enrolment.completed_at = None
    enrolment.last_lesson_slug = None
    db.session.flush()
    audit.record_event(
        enrolment.tenant_id,
        actor,
        "enrolment.new_cycle",
        subject=("enrolment", enrolment.id),
        data={
            "course": enrolment.course.slug,
            "cycle": enrolment.cycle,
            "source": source,
            "due_at": due_at.isoformat() if due_at else None,
        },
    )
    return enrolment


def due_for_recertification(within_days: int) -> list[tuple[Enrolment, Completion]]:
    """Enrolments whose current certificate expires within `within_days` (or already has)."""
    horizon = utcnow() + timedelta(days=within_days)
    rows = db.session.execute(
        select(Enrolment, Completion)
        .join(Completion, (Completion.enrolment_id == Enrolment.id) & (Completion.cycle == Enrolment.cycle))
        .where(
            Enrolment.source != "preview",
            Completion.status == "completed",
            Completion.expires_at.is_not(None),
            Completion.expires_at <= horizon,
        )
    ).all()
    return [(enrolment, completion) for enrolment, completion in rows]
