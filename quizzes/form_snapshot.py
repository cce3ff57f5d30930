"""The attempt's drawn questions, signed into its form so that a submit can grade before it reads.

The attempt row stays the record: a submit that carries a valid snapshot grades the answers
against it and then updates the attempt with one statement, which succeeds only while the
attempt is open, in time and the learner's. Anything else (no snapshot, a bad signature, another
attempt's snapshot, an attempt already graded) takes the path that reads the attempt under lock.
The snapshot holds what the page already shows (question and option ids, the pass mark), never
the answer key.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer

from quizzes.models import QuizAttempt

FIELD = "drawn"
_SALT = "postwise.quiz-attempt.drawn"


@dataclass(frozen=True)
class DrawnSnapshot:
    attempt_id: int
    user_id: int
    number: int  # the learner's attempt number in the cycle: whether grading it may record a result
    course_version_id: int
    content_hash: str
    pass_mark: int
    questions: list[dict[str, Any]]  # as stored on the attempt: [{"id": ..., "options": [...]}, ...]


def sign(attempt: QuizAttempt, content_hash: str) -> str:
    """For the open attempt's form; `content_hash` is its course version's."""
    return _serializer(current_app.secret_key).dumps(
        [
            attempt.id,
            attempt.user_id,
            attempt.number,
            attempt.course_version_id,
            content_hash,
            attempt.pass_mark,
            attempt.questions,
        ]
    )


def read(token: str | None, attempt_id: int, user_id: int) -> DrawnSnapshot | None:
    """The snapshot signed for this learner's attempt, or None (then the attempt is read)."""
    if not token:
        return None
    try:
        fields = _serializer(current_app.secret_key).loads(token)
        snapshot = DrawnSnapshot(*fields)
    except (BadData, TypeError, ValueError):
        return None
    if snapshot.attempt_id != attempt_id or snapshot.user_id != user_id:
        return None
    return snapshot


@functools.lru_cache(maxsize=4)
def _serializer(secret_key: str | bytes) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=_SALT)
