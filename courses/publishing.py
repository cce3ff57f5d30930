"""Publishing course folders as immutable versions. Services flush, never commit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import g, has_app_context
from sqlalchemy import select

from courses import content
from courses.errors import ContentErrors
from courses.models import Course, CourseVersion, Lesson
from training_app.db import utcnow
from training_app.errors import NotFound
from training_app.extensions import db


@dataclass(frozen=True)
class PublishResult:
    version: CourseVersion
    created: bool


def publish(slug: str, *, material: bool, actor: str, root: Path = content.CONTENT_ROOT) -> PublishResult:
    """Snapshot the course folder as a new version, unless its content is already the latest.

    The first version of a course is always material: there is nothing earlier to keep.
    """
    folder = root / slug
    if not (folder / "course.yaml").exists():
        known = ", ".join(p.name for p in content.course_folders(root)) or "none"
        raise NotFound(f"There is no course folder {slug!r} in {root}. Known courses: {known}.")
    loaded = content.load_course(folder)
    course = _course_row(loaded)
    latest = latest_version(course.id)
    if latest is not None and latest.content_hash == loaded.content_hash:
        return PublishResult(latest, created=False)
    version = CourseVersion(
        course_id=course.id,
        number=(latest.number + 1) if latest else 1,
        content_hash=loaded.content_hash,
        material=material or latest is None,
        published_at=utcnow(),
        published_by=actor,
        manifest=loaded.manifest(),
        files=loaded.files,
        lessons=[_lesson_row(lesson, position) for position, lesson in enumerate(loaded.lessons, 1)],
    )
    db.session.add(version)
    db.session.flush()
    _forget_published_courses()
    return PublishResult(version, created=True)


def publish_all(*, material: bool, actor: str, root: Path = content.CONTENT_ROOT) -> list[PublishResult]:
    courses, errors = content.load_all(root)
    if errors:
        raise ContentErrors(errors)
    return [publish(course.slug, material=material, actor=actor, root=root) for course in courses]


def _course_row(loaded: content.CourseContent) -> Course:
    course = db.session.scalar(select(Course).where(Course.slug == loaded.slug))
    if course is None:
        course = Course(slug=loaded.slug, title=loaded.title, audience=loaded.audience)
        db.session.add(course)
    course.title, course.audience = loaded.title, loaded.audience
    db.session.flush()
    return course


def _lesson_row(lesson: content.LessonContent, position: int) -> Lesson:
    texts = {loc: {"title": t.title, "html": t.html} for loc, t in lesson.texts.items()}
    titles = {loc: t.title for loc, t in lesson.texts.items()}
    return Lesson(slug=lesson.slug, position=position, minutes=lesson.minutes, titles=titles, texts=texts)


def latest_version(course_id: int) -> CourseVersion | None:
    return db.session.scalar(
        select(CourseVersion)
        .where(CourseVersion.course_id == course_id)
        .order_by(CourseVersion.number.desc())
        .limit(1)
    )


def latest_material_number(course_id: int, up_to: int) -> int:
    """The newest material version at or before `up_to`: attestations older than it no longer count."""
    number = db.session.scalar(
        select(CourseVersion.number)
        .where(
            CourseVersion.course_id == course_id,
            CourseVersion.material.is_(True),
            CourseVersion.number <= up_to,
        )
        .order_by(CourseVersion.number.desc())
        .limit(1)
    )
    return number or 1


def published_courses() -> list[tuple[Course, CourseVersion]]:
    """Every course with its latest version, by title."""
    courses = db.session.scalars(select(Course).order_by(Course.title)).all()
    pairs = [(course, latest_version(course.id)) for course in courses]
    return [(course, version) for course, version in pairs if version is not None]


def course_by_slug(slug: str) -> tuple[Course, CourseVersion]:
    """The course and its latest version, looked up once per request (pages ask several times)."""
    memo = g.setdefault("published_courses", {}) if has_app_context() else {}
    if slug not in memo:
        row = db.session.execute(
            select(Course, CourseVersion)
            .join(CourseVersion, CourseVersion.course_id == Course.id)
            .where(Course.slug == slug)
            .order_by(CourseVersion.number.desc())
            .limit(1)
        ).first()
        if row is None:
            raise NotFound(f"There is no published course {slug!r}.")
        memo[slug] = (row[0], row[1])
    return memo[slug]


def version_by_id(version_id: int) -> CourseVersion:
    """A version by id, kept for the rest of the request (the session only holds weak references)."""
    memo = g.setdefault("course_versions", {}) if has_app_context() else {}
    if version_id not in memo:
        memo[version_id] = db.session.get(CourseVersion, version_id)
    return memo[version_id]


def _forget_published_courses() -> None:
    if has_app_context():
        g.pop("published_courses", None)
