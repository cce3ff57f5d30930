"""Publishing course folders as immutable versions. Services flush, never commit."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import g, has_app_context
from sqlalchemy import bindparam, select

from courses import content
from courses.errors import ContentError, ContentErrors
from courses.models import Course, CourseVersion, Lesson, version_label
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
    if latest is not None:
        _check_edition(loaded, latest, material=material)
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


def changed_since_published(slug: str, root: Path = content.CONTENT_ROOT) -> bool:
    """The course has a published version and its folder now holds other content: publishing it
    needs the material-or-minor decision."""
    course = db.session.scalar(select(Course).where(Course.slug == slug))
    latest = latest_version(course.id) if course else None
    return latest is not None and latest.content_hash != content.load_course(root / slug).content_hash


def readiness() -> str | None:
    """What /readyz says while no course is published (every launch would answer 404)."""
    if db.session.scalar(select(CourseVersion.id).limit(1)) is None:
        return "no course is published; run `flask --app wsgi courses publish --all`"
    return None


def _check_edition(loaded: content.CourseContent, latest: CourseVersion, *, material: bool) -> None:
    """An edition number only goes up, and a new edition is material: its learners sign again."""
    published = latest.manifest.get("edition", 1)  # versions published before editions were edition 1
    where = loaded.folder / "course.yaml"
    if loaded.edition < published:
        raise ContentError(
            where,
            "edition",
            f"is {loaded.edition}, but v{latest.number} already published edition {published}; "
            "an edition number only goes up",
        )
    if loaded.edition > published and not material:
        raise ContentError(
            where,
            "edition",
            f"edition {loaded.edition} is new (v{latest.number} is edition {published}): a new edition "
            "changes the policy's substance, so publish it with --material",
        )


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


# --- published versions as plain values, kept per process ---------------------------------------


@dataclass(frozen=True)
class PublishedLesson:
    slug: str
    position: int
    minutes: int
    titles: dict[str, str]  # locale -> title


@dataclass(frozen=True)
class PublishedVersion:
    """A published version and its lessons' titles: what overviews read (never mutate its dicts)."""

    id: int
    course_id: int
    number: int
    content_hash: str
    material: bool
    published_at: datetime
    manifest: dict[str, Any]
    lessons: tuple[PublishedLesson, ...]
    attest_from_number: int  # attestations of versions before this one no longer count (material change)

    @property
    def label(self) -> str:
        return version_label(self.number, self.published_at)


# A published version never changes, so every request of this process may share its snapshot.
# Keyed by id, content hash and publication time: a row id reused in another database or after a
# deletion (SQLite) never finds another version's snapshot.
_published: dict[tuple[int, str, datetime], PublishedVersion] = {}
_published_lock = threading.Lock()


def published_course(slug: str) -> tuple[int, PublishedVersion]:
    """The course's id and its latest version: one small query, the content from the process's cache."""
    row = db.session.execute(_LATEST_OF_SLUG, {"slug": slug}).first()
    if row is None:
        raise NotFound(f"There is no published course {slug!r}.")
    return row.course_id, published_version(row.id, row.content_hash, row.published_at)


def latest_published(course_id: int) -> PublishedVersion:
    """The course's latest version: one small query for its id, the content from the process's cache."""
    row = db.session.execute(_LATEST_VERSION_KEY, {"course_id": course_id}).first()
    if row is None:
        raise NotFound(f"The course {course_id} has no published version.")
    return published_version(row.id, row.content_hash, row.published_at)


_LATEST_VERSION_KEY = (  # built once: building a statement costs more CPU than running this one
    select(CourseVersion.id, CourseVersion.content_hash, CourseVersion.published_at)
    .where(CourseVersion.course_id == bindparam("course_id"))
    .order_by(CourseVersion.number.desc())
    .limit(1)
)


_LATEST_OF_SLUG = (
    select(CourseVersion.course_id, CourseVersion.id, CourseVersion.content_hash, CourseVersion.published_at)
    .join(Course, Course.id == CourseVersion.course_id)
    .where(Course.slug == bindparam("slug"))
    .order_by(CourseVersion.number.desc())
    .limit(1)
)


def published_version(version_id: int, content_hash: str, published_at: datetime) -> PublishedVersion:
    """The snapshot of a version the caller has just read the key columns of."""
    key = (version_id, content_hash, published_at)
    snapshot = _published.get(key)
    if snapshot is None:
        snapshot = _load_published(version_id)
        with _published_lock:
            _published[(snapshot.id, snapshot.content_hash, snapshot.published_at)] = snapshot
    return snapshot


def _load_published(version_id: int) -> PublishedVersion:
    version = db.session.execute(
        select(
            CourseVersion.id,
            CourseVersion.course_id,
            CourseVersion.number,
            CourseVersion.content_hash,
            CourseVersion.material,
            CourseVersion.published_at,
            CourseVersion.manifest,
        ).where(CourseVersion.id == version_id)
    ).one()
    lessons = db.session.execute(
        select(Lesson.slug, Lesson.position, Lesson.minutes, Lesson.titles)
        .where(Lesson.course_version_id == version_id)
        .order_by(Lesson.position)
    ).all()
    return PublishedVersion(
        *version,
        lessons=tuple(PublishedLesson(*lesson) for lesson in lessons),
        attest_from_number=latest_material_number(version.course_id, version.number),
    )
