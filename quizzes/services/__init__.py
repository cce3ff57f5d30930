"""Quiz attempts, one module per concern: where the learner stands and how an attempt ends
(lifecycle), starting, reviewing and granting attempts (attempts), and submitting (submission).

Integrity rules (each enforced here, not in the browser): one open attempt per learner and course
(also a partial unique index); submitting is idempotent; the time limit is checked on the server;
the questions and option order are drawn once and stored, so a reload shows the same attempt.
Services flush and never commit. Callers import from here.
"""

from quizzes.services.attempts import (
    QuestionView,
    grant_attempt,
    learner_attempt,
    may_review,
    question_views,
    start_attempt,
)
from quizzes.services.lifecycle import (
    GRACE,
    GradedAttempt,
    Standing,
    close_expired,
    close_if_expired,
    conclude,
    may_record_result,
    past_deadline,
    standing,
    version_of,
)
from quizzes.services.submission import (
    Submission,
    drawn_of,
    submit,
    validate_answers,
)

__all__ = [
    "GRACE",
    "GradedAttempt",
    "QuestionView",
    "Standing",
    "Submission",
    "close_expired",
    "close_if_expired",
    "conclude",
    "drawn_of",
    "grant_attempt",
    "learner_attempt",
    "may_record_result",
    "may_review",
    "past_deadline",
    "question_views",
    "standing",
    "start_attempt",
    "submit",
    "validate_answers",
    "version_of",
]
