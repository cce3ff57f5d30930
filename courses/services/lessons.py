"""Lessons in order: opening one (where the learner resumes) and marking it done.

Services take plain values and an explicit user; they flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext

from courses import hooks
from courses.errors import LessonLocked
from courses.models import Enrolment, Lesson, LessonProgress
from courses.publishing import (
    course_by_slug,
)
from courses.services.course_overview import completed_lessons, content_locale, course_text, lesson_title
from training_app.db import utcnow
from training_app.errors import NotFound
from training_app.extensions import db


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
    if enrolment.started_at is None:
        enrolment.started_at = utcnow()
        if enrolment.source != "preview":  # a staff preview is sent nowhere (see record_result)
            hooks.run_cycle_start_hooks(enrolment)
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
