"""Forward hand-offs without forward imports.

Packages later in the flow register here at start-up: when a cycle ends (passed or failed),
`courses` records the result and calls every result hook in the same transaction
(certificates issues the certificate, lti queues the LMS score, reports queues webhooks).
Hooks only write rows and outbox messages; they never call out of the process.

A hook may also name what it writes or reads as part of the result's own statement (a result
companion): where one statement can hold them (PostgreSQL, a passed result) courses runs them
together and the hook finds what they returned in `RecordedResult.companions`; elsewhere the
hook runs its own statements. A passing quiz submit is the product's hottest write, and each
statement costs a round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import CTE, ColumnElement

    from courses.models import Enrolment
    from courses.services import RecordedResult, ResultSummary

ResultHook = Callable[["RecordedResult"], None]
_result_hooks: list[ResultHook] = []


def on_result(hook: ResultHook) -> None:
    if hook not in _result_hooks:
        _result_hooks.append(hook)


def run_result_hooks(result: RecordedResult) -> None:
    for hook in _result_hooks:
        hook(result)


@dataclass(frozen=True)
class ResultCompanion:
    """Statements a result hook runs inside the statement that inserts a passed result.

    `build(recorded)` gets the CTE of the inserted result (columns: id, learner_name,
    learner_email, attested_name, attested_locale) and gives the CTEs to add and the labelled
    columns to return; the result's own fields are bind parameters named `new_<field>`.
    `params(draft)` gives the bind values the CTEs need, from the result as it will be recorded
    (RecordedResult's fields, except those the insert returns). Each returned column reaches the
    hook as `RecordedResult.companions[label]`.
    """

    build: Callable[[CTE], tuple[list[CTE], list[ColumnElement[Any]]]]
    params: Callable[[Any], Mapping[str, Any]] = lambda _draft: {}


_result_companions: list[ResultCompanion] = []


def add_result_companion(companion: ResultCompanion) -> None:
    if companion not in _result_companions:
        _result_companions.append(companion)


def result_companions() -> tuple[ResultCompanion, ...]:
    return tuple(_result_companions)


@dataclass(frozen=True)
class OverviewLink:
    """An extra action on the learner's course overview (e.g. "Download your certificate")."""

    label: str
    url: str
    primary: bool = False


# The latest result as the overview reads it (courses.services.ResultSummary: id, cycle, status...).
OverviewLinks = Callable[["Enrolment", "ResultSummary | None"], list[OverviewLink]]
_overview_links: list[OverviewLinks] = []


def add_overview_links(provider: OverviewLinks) -> None:
    if provider not in _overview_links:
        _overview_links.append(provider)


def overview_links(enrolment: Enrolment, latest: ResultSummary | None) -> list[OverviewLink]:
    return [link for provider in _overview_links for link in provider(enrolment, latest)]
