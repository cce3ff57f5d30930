"""Forward hand-offs without forward imports.

Packages later in the flow register here at start-up: when a cycle ends (passed or failed),
`courses` records the result and calls every result hook in the same transaction
(certificates issues the certificate, lti queues the LMS score, webhooks queues its deliveries);
when a learner signs the policy attestation, every attestation hook; when a learner opens the
first lesson of a cycle, every cycle-start hook (feeds: the xAPI `initialized` statement); when
lti or dispatch records a launch, every launch hook (feeds: the xAPI `launched` statement).
Hooks only write rows and outbox messages; they never call out of the process. Each hook
runs its own prebuilt statements, the same on every database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from courses.models import Attestation, Enrolment
    from courses.services import RecordedResult, ResultSummary

ResultHook = Callable[["RecordedResult"], None]
_result_hooks: list[ResultHook] = []


def on_result(hook: ResultHook) -> None:
    if hook not in _result_hooks:
        _result_hooks.append(hook)


def run_result_hooks(result: RecordedResult) -> None:
    for hook in _result_hooks:
        hook(result)


AttestationHook = Callable[["Attestation"], None]
_attestation_hooks: list[AttestationHook] = []


def on_attestation(hook: AttestationHook) -> None:
    if hook not in _attestation_hooks:
        _attestation_hooks.append(hook)


def run_attestation_hooks(attestation: Attestation) -> None:
    for hook in _attestation_hooks:
        hook(attestation)


CycleStartHook = Callable[["Enrolment"], None]
_cycle_start_hooks: list[CycleStartHook] = []


def on_cycle_started(hook: CycleStartHook) -> None:
    if hook not in _cycle_start_hooks:
        _cycle_start_hooks.append(hook)


def run_cycle_start_hooks(enrolment: Enrolment) -> None:
    for hook in _cycle_start_hooks:
        hook(enrolment)


@dataclass(frozen=True)
class Launched:
    """A learner opened a course from their LMS. An LTI launch is recorded once per LMS link every
    few minutes (a reload or a double click is the same launch); a dispatch launch every time (each
    is signed and used once)."""

    tenant_id: int
    enrolment_id: int
    at: datetime


LaunchHook = Callable[[Launched], None]
_launch_hooks: list[LaunchHook] = []


def on_launched(hook: LaunchHook) -> None:
    if hook not in _launch_hooks:
        _launch_hooks.append(hook)


def run_launch_hooks(launched: Launched) -> None:
    for hook in _launch_hooks:
        hook(launched)


# (tenant id, after this id, at most this many) -> [(id, launch)], by id: the launches a package
# records (lti: each LMS link's latest launch; dispatch: every launch), for a sender that sends
# what happened before it was set up.
LaunchHistory = Callable[[int, int, int], list[tuple[int, Launched]]]
_launch_histories: list[LaunchHistory] = []


def add_launch_history(history: LaunchHistory) -> None:
    if history not in _launch_histories:
        _launch_histories.append(history)


def launch_histories() -> list[LaunchHistory]:
    return list(_launch_histories)


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
