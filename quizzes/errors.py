"""Errors of the quiz step."""

from __future__ import annotations

from training_app.errors import N_, DomainError


class QuizLocked(DomainError):
    status = 409
    code = "quiz_locked"
    title = N_("The quiz is not available right now")
