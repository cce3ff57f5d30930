"""The learner's path: enrolment, lessons, attestation and the result of a cycle.

Services take plain values and an explicit user; they flush and never commit.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from flask_babel import gettext, ngettext
from sqlalchemy import select

from courses import hooks
from courses.models import Attestation, Completion, Course, CourseVersion, Enrolment, Lesson, LessonProgress
from courses.publishing import course_by_slug, latest_material_number
from training_app import audit
from training_app.db import utcnow
from training_app.errors import N_, Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from training_app.extensions import db
from training_app.models import User


class LessonLocked(DomainError):
    status = 409
    code = "lesson_locked"
    title = N_("Finish the earlier lessons first")


class StepNotReady(DomainError):
    status = 409
    code = "step_not_ready"
    title = N_("Not yet")


# --- enrolment ----------------------------------------------------------------------------------


def enrol(user: User, course_slug: str, *, source: str, due_at: datetime | None = None) -> Enrolment:
    """Enrol the learner once per course; enrolling again keeps progress (and an earlier due date)."""
    course, version = course_by_slug(course_slug)
    enrolment = db.session.scalar(
        select(Enrolment).where(Enrolment.user_id == user.id, Enrolment.course_id == course.id)
    )
    if enrolment is not None:
        if due_at and (enrolment.due_at is None or due_at < enrolment.due_at):
            enrolment.due_at = due_at
        return enrolment
    enrolment = Enrolment(
        tenant_id=user.tenant_id,
        user_id=user.id,
        course_id=course.id,
        source=source,
        enrolled_at=utcnow(),
        due_at=due_at or default_due_at(user, version),
    )
    db.session.add(enrolment)
    db.session.flush()
    return enrolment


def default_due_at(user: User, version: CourseVersion) -> datetime | None:
    days = version.manifest.get("due_within_days_of_hire")
    if not days:
        return None
    start = user.hire_date or utcnow().date()
    return datetime.combine(start + timedelta(days=days), time(23, 59, 59), tzinfo=UTC)


def learner_enrolment(user: User, course_slug: str) -> Enrolment:
    enrolment = db.session.scalar(
        select(Enrolment)
        .join(Course, Course.id == Enrolment.course_id)
        .where(Enrolment.user_id == user.id, Course.slug == course_slug)
    )
    if not enrolment:
        raise Forbidden(
            gettext(
                "You are not enrolled in this course. Open it from your company's learning platform (LMS), "
                "which enrols you automatically."
            ),
            title=N_("Not enrolled"),
        )
    return enrolment


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
class Overview:
    enrolment: Enrolment
    version: CourseVersion
    locale: str
    title: str
    summary: str
    lessons: list[LessonState]
    minutes_left: int
    next_step: str  # lesson | attestation | quiz | done
    next_lesson: str | None
    attestation: Attestation | None
    latest_result: Completion | None
    links: list[hooks.OverviewLink]

    @property
    def lessons_done(self) -> int:
        return sum(1 for lesson in self.lessons if lesson.done)

    @property
    def percent_done(self) -> int:
        steps = len(self.lessons) + 2  # lessons, attestation, quiz
        done = self.lessons_done + (1 if self.attestation else 0) + (1 if self.next_step == "done" else 0)
        return round(100 * done / steps)


def content_locale(version: CourseVersion, preferred: str | None) -> str:
    """The learner's LMS locale when the course has it, otherwise the course default."""
    locales = version.manifest["locales"]
    if preferred:
        base = preferred.replace("_", "-").split("-")[0].lower()
        if base in locales:
            return base
    return version.manifest["default_locale"]


def course_text(version: CourseVersion, field: str, locale: str) -> str:
    return version.manifest["translations"].get(locale, {}).get(field) or version.manifest[field]


def overview(enrolment: Enrolment, locale_preference: str | None) -> Overview:
    _, version = course_by_slug(enrolment.course.slug)
    locale = content_locale(version, locale_preference)
    done = completed_lessons(enrolment)
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
    attestation = current_attestation(enrolment, version)
    latest = latest_result(enrolment)
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


def _minutes_left(version: CourseVersion, lessons: list[LessonState], next_step: str) -> int:
    if next_step == "done":
        return 0
    lesson_minutes = sum(lesson.minutes for lesson in version.lessons)
    quiz_minutes = max(version.manifest["estimated_minutes"] - lesson_minutes, 0)
    return sum(lesson.minutes for lesson in lessons if not lesson.done) + quiz_minutes


def _resume_lesson(enrolment: Enrolment, lessons: list[LessonState]) -> str | None:
    """Where "Continue" goes: the first lesson not done (the last one opened when all are done)."""
    first_open = next((lesson.slug for lesson in lessons if not lesson.done), None)
    return first_open or enrolment.last_lesson_slug


def lesson_title(lesson: Lesson, locale: str) -> str:
    return lesson.titles.get(locale) or next(iter(lesson.titles.values()))


def completed_lessons(enrolment: Enrolment) -> set[str]:
    return set(
        db.session.scalars(
            select(LessonProgress.lesson_slug).where(
                LessonProgress.enrolment_id == enrolment.id, LessonProgress.cycle == enrolment.cycle
            )
        )
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


def record_result(
    enrolment: Enrolment,
    *,
    passed: bool,
    score: int,
    source_ref: str,
    actor: str,
    version: CourseVersion | None = None,
    attestation_id: int | None = None,
) -> Completion:
    """Record the cycle's outcome and hand it to every registered hook, in this transaction.

    The quiz passes the version and attestation its attempt started with (checked then);
    other callers get them checked now.
    """
    if version is None or attestation_id is None:
        version, attestation = ready_for_quiz(enrolment)
        attestation_id = attestation.id
    if latest_result(enrolment, cycle=enrolment.cycle, status="completed") is not None:
        raise Conflict(gettext("This course is already completed for the current cycle."))
    now = utcnow()
    days = version.manifest.get("recertify_every_days") or 0
    completion = Completion(
        course=enrolment.course,
        course_version=version,
        tenant_id=enrolment.tenant_id,
        user_id=enrolment.user_id,
        enrolment_id=enrolment.id,
        course_id=enrolment.course_id,
        course_version_id=version.id,
        cycle=enrolment.cycle,
        status="completed" if passed else "failed",
        score=score,
        content_hash=version.content_hash,
        attestation_id=attestation_id,
        source_ref=source_ref,
        completed_at=now,
        expires_at=now + timedelta(days=days) if passed and days else None,
    )
    db.session.add(completion)
    if passed:
        enrolment.completed_at = now
    db.session.flush()
    audit.record_event(
        enrolment.tenant_id,
        actor,
        "course.completed" if passed else "course.failed",
        subject=("completion", completion.id),
        data={
            "course": enrolment.course.slug,
            "version": version.number,
            "cycle": enrolment.cycle,
            "score": score,
            "content_hash": version.content_hash,
            "user_id": enrolment.user_id,
        },
    )
    hooks.run_result_hooks(completion)
    return completion


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
            Completion.status == "completed",
            Completion.expires_at.is_not(None),
            Completion.expires_at <= horizon,
        )
    ).all()
    return [(enrolment, completion) for enrolment, completion in rows]
