"""Errors of the people step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_babel import gettext, ngettext

from training_app.errors import N_, DomainError

if TYPE_CHECKING:
    from people.importing import Problem


class ImportRefused(DomainError):
    """An employee file with problems: nothing of it was applied. Each problem names its line,
    column and reason."""

    status = 422
    code = "import_refused"
    title = N_("The employee file was not imported")

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        summary = ngettext(
            "The file has %(num)d problem; nothing was imported. Fix it and import the file again.",
            "The file has %(num)d problems; nothing was imported. Fix them and import the file again.",
            len(problems),
        )
        errors = {f"line {p.line}" + (f" {p.column}" if p.column else ""): p.reason for p in problems[:500]}
        super().__init__(summary, errors=errors)

    def lines(self) -> list[str]:
        return [str(problem) for problem in self.problems]


class SignInRefused(DomainError):
    status = 400
    code = "sign_in_link_invalid"
    title = N_("This sign-in link cannot be used")

    def __init__(self) -> None:
        super().__init__(
            gettext(
                "This sign-in link has expired or was already used. Ask for a new one: it works "
                "once, for 30 minutes."
            )
        )
