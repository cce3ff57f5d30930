"""The instructor's course report, opened from an LMS launch: that LMS course's learners only,
each with the one status rule (assignments.status) HR sees; the summary counts the same rows."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, render_template
from sqlalchemy import select
from sqlalchemy.orm import aliased

from assignments import status as status_rule
from assignments.rules import rules_of
from courses import publishing
from courses.models import Completion, Enrolment
from lti import instructor, roster
from lti.roster import CourseMember, CourseMembers
from training_app.db import chunks, utcnow
from training_app.extensions import commit_before_waiting, db
from training_app.models import Tenant

bp = Blueprint("instructor", __name__, template_folder="templates")
NOT_LAUNCHED = "not_launched"
# The summary's cards, in order: every status a row can show.
SUMMARY = (NOT_LAUNCHED, *status_rule.STATUSES)


@dataclass(frozen=True)
class ReportRow:
    name: str
    email: str | None
    status: str  # NOT_LAUNCHED or one of assignments.status.STATUSES
    started_at: datetime | None = None
    score: int | None = None
    completed_at: datetime | None = None
    due_at: datetime | None = None


@dataclass(frozen=True)
class CourseReport:
    course_title: str
    context_title: str | None
    rows: list[ReportRow]
    roster_problem: str | None

    def counts(self) -> list[tuple[str, int]]:
        """(status, how many rows show it), for every status at least one row shows."""
        counted = Counter(row.status for row in self.rows)
        return [(status, counted[status]) for status in SUMMARY if counted[status]]


@bp.get("/lti/report")
def course_report():
    link = instructor.instructor_link()
    members = roster.course_members(link, commit_before_waiting)  # this request owns its transaction
    report = build_report(link.tenant_id, members)
    return render_template("reports/instructor_report.html", report=report, labels=status_rule.LABELS)


def build_report(tenant_id: int, found: CourseMembers) -> CourseReport:
    course, _ = publishing.course_by_slug(found.course_slug)
    user_ids = [member.user.id for member in found.members if member.user]
    progress = _progress(tenant_id, course.id, user_ids)
    rows = [_row(member, progress) for member in found.members]
    rows.sort(key=lambda row: (row.status != NOT_LAUNCHED, row.name.lower()))
    return CourseReport(course.title, found.context_title, rows, found.roster_problem)


def _progress(tenant_id: int, course_id: int, user_ids: list[int]) -> dict[int, tuple]:
    """Per user: (enrolment, status, latest result of the current cycle), in one query a chunk."""
    window = rules_of(db.session.get(Tenant, tenant_id)).expiring_soon_days
    status = status_rule.status_column(utcnow(), window).label("status")
    result = aliased(Completion)
    found: dict[int, tuple] = {}
    for some in chunks(user_ids):  # a course roster may be the whole company: bounded IN lists
        rows = db.session.execute(
            select(Enrolment, status, result)
            .outerjoin(result, result.id == status_rule.current_result(Completion.id))
            .where(Enrolment.course_id == course_id, Enrolment.user_id.in_(some))
        )
        found.update((enrolment.user_id, (enrolment, state, result)) for enrolment, state, result in rows)
    return found


def _row(member: CourseMember, progress: dict[int, tuple]) -> ReportRow:
    if member.user is None or member.user.id not in progress:
        return ReportRow(member.name, member.email, NOT_LAUNCHED)
    enrolment, status, result = progress[member.user.id]
    return ReportRow(
        member.name,
        member.email,
        status,
        started_at=enrolment.started_at,
        score=result.score if result else None,
        completed_at=result.completed_at if result else None,
        due_at=enrolment.due_at,
    )
