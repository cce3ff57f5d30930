"""Demo data for the learning flow: published courses, enrolments and progress at every stage."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from courses import publishing, services
from training_app.demo import DemoContext

ORIENTATION = "social-media-orientation"
REFRESHER = "social-media-refresher"
LEADERS = "leaders-on-social-media"

# Index in the acme learner list -> lessons done in orientation (None: not started).
ORIENTATION_PROGRESS = {0: 2, 2: 6, 4: None, 7: 4, 10: 6, 11: 0}


def publish_and_enrol(context: DemoContext) -> None:
    results = publishing.publish_all(material=True, actor="demo")
    context.lines.append(
        "Courses published: " + ", ".join(f"{r.version.course.slug} v{r.version.number}" for r in results)
    )
    for tenant_slug, learners in context.learners.items():
        for index, learner in enumerate(learners):
            new_hire = learner.hire_date and (context.today - learner.hire_date).days < 120
            enrolment = services.enrol(learner, ORIENTATION if new_hire else REFRESHER, source="demo")
            if new_hire:
                _enrolled_when_hired(enrolment, learner.hire_date)
            if tenant_slug == "acme" and new_hire:
                _progress(enrolment, ORIENTATION_PROGRESS.get(index))
        if tenant_slug == "acme":
            services.enrol(learners[3], LEADERS, source="demo")


def _enrolled_when_hired(enrolment, hire_date: date) -> None:
    """A new hire was enrolled on their first day (their due date counts from it)."""
    first_day = datetime.combine(hire_date, time(9), tzinfo=UTC)
    if enrolment.enrolled_at > first_day:
        enrolment.enrolled_at = first_day


def _progress(enrolment, lessons_done: int | None) -> None:
    if not lessons_done:
        return
    _, version = publishing.course_by_slug(enrolment.course.slug)
    for lesson in version.lessons[:lessons_done]:
        services.complete_lesson(enrolment, lesson.slug)
