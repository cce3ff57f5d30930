"""The learner's path, one module per step: enrolment (and a staff preview's twin), the overview,
lessons, the attestation, the result of a cycle, and recertification.

Services take plain values and an explicit user; they flush and never commit (the request, CLI
command or worker job that calls them owns the transaction). Callers import from here.
"""

from courses.services.attestation import (
    AttestationPage,
    attest,
    attestation_page,
    check_typed_name,
    current_attestation,
    normalise_name,
    ready_for_quiz,
)
from courses.services.course_overview import (
    AttestationSummary,
    EnrolmentSummary,
    LessonState,
    Overview,
    ResultSummary,
    attestation_summary,
    completed_lessons,
    content_locale,
    course_text,
    latest_result_summary,
    learner_overview,
    lesson_title,
    overview,
)
from courses.services.enrolment import (
    PREVIEW_ISSUER,
    default_due_at,
    enrol,
    enrol_in_version,
    learner_enrolment,
    preview_learner,
    reset_preview,
)
from courses.services.lessons import (
    LessonPage,
    complete_lesson,
    open_lesson,
)
from courses.services.recertification import (
    due_for_recertification,
    start_new_cycle,
)
from courses.services.results import (
    CycleRef,
    RecordedResult,
    cycle_of,
    latest_result,
    record_result,
    recorded_result_of,
)

__all__ = [
    "PREVIEW_ISSUER",
    "AttestationPage",
    "AttestationSummary",
    "CycleRef",
    "EnrolmentSummary",
    "LessonPage",
    "LessonState",
    "Overview",
    "RecordedResult",
    "ResultSummary",
    "attest",
    "attestation_page",
    "attestation_summary",
    "check_typed_name",
    "complete_lesson",
    "completed_lessons",
    "content_locale",
    "course_text",
    "current_attestation",
    "cycle_of",
    "default_due_at",
    "due_for_recertification",
    "enrol",
    "enrol_in_version",
    "latest_result",
    "latest_result_summary",
    "learner_enrolment",
    "learner_overview",
    "lesson_title",
    "normalise_name",
    "open_lesson",
    "overview",
    "preview_learner",
    "ready_for_quiz",
    "record_result",
    "recorded_result_of",
    "reset_preview",
    "start_new_cycle",
]
