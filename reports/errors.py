"""Errors of the HR console."""

from __future__ import annotations

from training_app.errors import N_, DomainError


class NothingMatches(DomainError):
    """An export or a bulk action whose filters select nothing: say so rather than send an empty file."""

    status = 422
    code = "nothing_matches"
    title = N_("Nothing matches these filters")
