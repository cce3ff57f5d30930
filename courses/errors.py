"""Errors of the learning flow."""

from __future__ import annotations

from pathlib import Path

from training_app.errors import N_, DomainError


class ContentError(DomainError):
    """A course folder is malformed. Names the file and the field (or line) to fix."""

    status = 422
    code = "invalid_content"
    title = N_("The course content is not valid")

    def __init__(self, file: Path | str, where: str | None, problem: str) -> None:
        self.file = str(file)
        self.where = where
        self.problem = problem
        location = f"{self.file}: {where}" if where else self.file
        super().__init__(
            f"{location}: {problem}", errors={self.file: f"{where}: {problem}" if where else problem}
        )


class ContentErrors(DomainError):
    """Several content errors found in one validation pass."""

    status = 422
    code = "invalid_content"
    title = N_("The course content is not valid")

    def __init__(self, errors: list[ContentError]) -> None:
        self.items = errors
        super().__init__("\n".join(e.message for e in errors))


class LessonLocked(DomainError):
    status = 409
    code = "lesson_locked"
    title = N_("Finish the earlier lessons first")


class StepNotReady(DomainError):
    status = 409
    code = "step_not_ready"
    title = N_("Not yet")
