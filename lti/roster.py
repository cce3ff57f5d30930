"""The instructor's view of an LMS course: its members (NRPS) and where each is in the training."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from courses import publishing
from courses.models import Completion, Enrolment
from lti import oauth
from lti.models import GradeTarget, ResourceLink, RosterCache
from training_app.db import utcnow
from training_app.extensions import db
from training_app.models import User
from training_app.outbox import DeliveryError, send_http

log = logging.getLogger(__name__)

MEMBERSHIP_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
SCOPE_MEMBERSHIPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
MAX_PAGES = 200
LEARNER_ROLE = "Learner"


def fetch_members(link: ResourceLink) -> list[dict[str, Any]]:
    """Every member of the LMS course, following `Link: rel="next"` pages."""
    members: list[dict[str, Any]] = []
    url: str | None = link.memberships_url
    for _page in range(MAX_PAGES):
        if not url:
            break
        headers = {
            "Authorization": f"Bearer {oauth.access_token(link.platform, [SCOPE_MEMBERSHIPS])}",
            "Accept": MEMBERSHIP_TYPE,
        }
        response = send_http(url, headers=headers, timeout=15, method="GET")
        if response.status_code == 401:
            oauth.forget_token(link.platform, [SCOPE_MEMBERSHIPS])
        if response.status_code != 200:
            raise DeliveryError(f"the LMS roster answered {response.status_code}: {response.text[:300]}")
        members.extend(response.json().get("members", []))
        match = NEXT_LINK.search(response.headers.get("Link", ""))
        url = match.group(1) if match else None
    return members


def cached_members(link: ResourceLink) -> tuple[list[dict[str, Any]], str | None]:
    """The roster, refreshed when older than LTI_ROSTER_CACHE_SECONDS; (members, problem)."""
    cache = db.session.scalar(select(RosterCache).where(RosterCache.resource_link_id == link.id))
    max_age = timedelta(seconds=current_app.config["LTI_ROSTER_CACHE_SECONDS"])
    if cache is not None and utcnow() - cache.fetched_at < max_age:
        return cache.members, None
    if not link.memberships_url:
        return (cache.members if cache else []), "Your LMS did not offer its member list for this course."
    try:
        members = fetch_members(link)
    except DeliveryError as exc:
        log.warning("roster fetch failed", extra={"link": link.id, "error": str(exc)})
        return (
            cache.members if cache else []
        ), "The member list could not be fetched from your LMS just now."
    if cache is None:
        cache = RosterCache(resource_link_id=link.id, members=members)
        db.session.add(cache)
    cache.members, cache.fetched_at = members, utcnow()
    db.session.flush()
    return members, None


@dataclass(frozen=True)
class ReportRow:
    name: str
    email: str | None
    launched: bool
    started: bool
    status: str  # not_launched | not_started | in_progress | completed | failed
    score: int | None
    completed_at: Any
    due_at: Any
    overdue: bool


@dataclass(frozen=True)
class CourseReport:
    course_title: str
    context_title: str | None
    rows: list[ReportRow]
    roster_problem: str | None

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)

    @property
    def overdue(self) -> int:
        return sum(1 for row in self.rows if row.overdue)


def course_report(link: ResourceLink) -> CourseReport:
    members, problem = cached_members(link)
    learners = [m for m in members if _is_learner(m) and m.get("status", "Active") == "Active"]
    course, _ = publishing.course_by_slug(link.course_slug)
    users = {
        u.subject: u
        for u in db.session.scalars(
            select(User).where(
                User.tenant_id == link.tenant_id,
                User.issuer == link.platform.issuer,
                User.subject.in_([str(m.get("user_id")) for m in learners] or [""]),
            )
        )
    }
    launched_users = _launched_users(link)
    for user in launched_users:
        users.setdefault(user.subject, user)
    rows = [
        _row(
            m.get("name") or m.get("email") or m.get("user_id"),
            m.get("email"),
            users.get(str(m["user_id"])),
            course.id,
        )
        for m in learners
    ]
    roster_ids = {str(m.get("user_id")) for m in learners}
    rows += [_row(u.name, u.email, u, course.id) for u in launched_users if u.subject not in roster_ids]
    rows.sort(key=lambda r: (r.status != "not_launched", (r.name or "").lower()))
    return CourseReport(course.title, link.context_title, rows, problem)


def _is_learner(member: dict[str, Any]) -> bool:
    return any(str(role).endswith(LEARNER_ROLE) for role in member.get("roles", []))


def _launched_users(link: ResourceLink) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(Enrolment, Enrolment.user_id == User.id)
            .join(GradeTarget, GradeTarget.enrolment_id == Enrolment.id)
            .where(GradeTarget.resource_link_id == link.id)
        )
    )


def _row(name: str, email: str | None, user: User | None, course_id: int) -> ReportRow:
    if user is None:
        return ReportRow(name, email, False, False, "not_launched", None, None, None, False)
    enrolment = db.session.scalar(
        select(Enrolment).where(Enrolment.user_id == user.id, Enrolment.course_id == course_id)
    )
    if enrolment is None:
        return ReportRow(name, email, False, False, "not_launched", None, None, None, False)
    latest = db.session.scalar(
        select(Completion)
        .where(Completion.enrolment_id == enrolment.id, Completion.cycle == enrolment.cycle)
        .order_by(Completion.id.desc())
        .limit(1)
    )
    status = latest.status if latest else ("in_progress" if enrolment.started_at else "not_started")
    overdue = latest is None and enrolment.due_at is not None and enrolment.due_at < utcnow()
    return ReportRow(
        name,
        email,
        True,
        enrolment.started_at is not None,
        status,
        latest.score if latest else None,
        latest.completed_at if latest else None,
        enrolment.due_at,
        overdue,
    )
