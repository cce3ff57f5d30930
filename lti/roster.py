"""The instructor's view of an LMS course: its members (NRPS) and where each is in the training."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from courses import publishing
from courses.models import Completion, Enrolment
from lti import oauth
from lti.models import GradeTarget, ResourceLink, RosterCache
from training_app.db import chunks, utcnow
from training_app.extensions import db
from training_app.models import User
from training_app.outbox import DeliveryError

log = logging.getLogger(__name__)

MEMBERSHIP_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
SCOPE_MEMBERSHIPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MAX_PAGES = 200
LEARNER_ROLE = "Learner"


@dataclass(frozen=True)
class RosterSource:
    """Where to read a course's members, read before the transaction ends (see cached_members)."""

    memberships_url: str
    client: oauth.ServiceClient


def fetch_members(source: RosterSource, before_waiting: oauth.BeforeWaiting) -> list[dict[str, Any]]:
    """Every member of the LMS course, following `Link: rel="next"` pages."""
    members: list[dict[str, Any]] = []
    url: str | None = source.memberships_url
    for _page in range(MAX_PAGES):
        if not url:
            break
        response = oauth.service_request(
            source.client,
            [SCOPE_MEMBERSHIPS],
            "GET",
            url,
            before_waiting=before_waiting,
            accept=MEMBERSHIP_TYPE,
        )
        if response.status_code != 200:
            raise DeliveryError(f"the LMS roster answered {response.status_code}: {response.text[:300]}")
        members.extend(_page_members(response))
        url = oauth.next_page(response)
    return members


def _page_members(response: requests.Response) -> list[dict[str, Any]]:
    try:
        page = response.json()
    except ValueError:
        raise DeliveryError(
            f"the LMS roster answered with something not JSON: {response.text[:300]}"
        ) from None
    members = page.get("members") if isinstance(page, dict) else None
    if not isinstance(members, list):
        raise DeliveryError("the LMS roster answered without a members list")
    return [m for m in members if isinstance(m, dict) and m.get("user_id") is not None]


def cached_members(
    link: ResourceLink, before_waiting: oauth.BeforeWaiting
) -> tuple[list[dict[str, Any]], str | None]:
    """The roster, refreshed when older than LTI_ROSTER_CACHE_SECONDS; (members, problem).

    The request's transaction is ended (`before_waiting`) before we wait for the LMS: the LMS's
    token endpoint fetches our JWKS meanwhile, which on SQLite needs the write lock an open
    transaction holds (and on PostgreSQL it frees the connection).
    """
    cache = db.session.scalar(select(RosterCache).where(RosterCache.resource_link_id == link.id))
    max_age = timedelta(seconds=current_app.config["LTI_ROSTER_CACHE_SECONDS"])
    if cache is not None and utcnow() - cache.fetched_at < max_age:
        return cache.members, None
    previous = list(cache.members) if cache else []
    if not link.memberships_url:
        return previous, "Your LMS did not offer its member list for this course."
    source = RosterSource(link.memberships_url, oauth.client_for(link.platform))
    try:
        members = fetch_members(source, before_waiting)
    except DeliveryError as exc:
        log.warning("roster fetch failed", extra={"link": link.id, "error": str(exc)})
        return previous, "The member list could not be fetched from your LMS just now."
    store_members(link.id, members)
    return members, None


def store_members(link_id: int, members: list[dict[str, Any]]) -> None:
    cache = db.session.scalar(select(RosterCache).where(RosterCache.resource_link_id == link_id))
    if cache is not None:
        cache.members, cache.fetched_at = members, utcnow()
        db.session.flush()
        return
    try:
        with db.session.begin_nested():  # another request may have stored it meanwhile: theirs stands
            db.session.add(RosterCache(resource_link_id=link_id, members=members, fetched_at=utcnow()))
    except IntegrityError:
        log.info("roster cached by a concurrent request", extra={"link": link_id})


@dataclass(frozen=True)
class ReportRow:
    name: str
    email: str | None
    status: str  # not_launched | not_started | in_progress | completed | failed
    started_at: datetime | None = None
    score: int | None = None
    completed_at: datetime | None = None
    due_at: datetime | None = None
    overdue: bool = False


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


def course_report(link: ResourceLink, before_waiting: oauth.BeforeWaiting) -> CourseReport:
    members, problem = cached_members(link, before_waiting)
    learners = [m for m in members if _is_learner(m) and m.get("status", "Active") == "Active"]
    course, _ = publishing.course_by_slug(link.course_slug)
    users = _users_by_subject(link, [str(m["user_id"]) for m in learners])
    roster_ids = {str(m["user_id"]) for m in learners}
    people = [(m, users.get(str(m["user_id"]))) for m in learners]
    people += [({}, user) for user in _launched_users(link) if user.subject not in roster_ids]
    progress = _progress(course.id, [user.id for _, user in people if user])
    rows = [_row(member, user, progress.get(user.id) if user else None) for member, user in people]
    rows.sort(key=lambda r: (r.status != "not_launched", r.name.lower()))
    return CourseReport(course.title, link.context_title, rows, problem)


def _is_learner(member: dict[str, Any]) -> bool:
    return any(str(role).endswith(LEARNER_ROLE) for role in member.get("roles", []))


def _users_by_subject(link: ResourceLink, subjects: list[str]) -> dict[str, User]:
    found: dict[str, User] = {}
    for some in chunks(subjects):  # a course roster may be the whole company: bounded IN lists
        query = select(User).where(
            User.tenant_id == link.tenant_id,
            User.issuer == link.platform.issuer,
            User.subject.in_(some),
        )
        found.update((user.subject, user) for user in db.session.scalars(query))
    return found


def _launched_users(link: ResourceLink) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(Enrolment, Enrolment.user_id == User.id)
            .join(GradeTarget, GradeTarget.enrolment_id == Enrolment.id)
            .where(GradeTarget.resource_link_id == link.id)
        )
    )


def _progress(course_id: int, user_ids: list[int]) -> dict[int, tuple[Enrolment, Completion | None]]:
    """Each user's enrolment in the course and latest result of its current cycle, in two queries."""
    enrolments = [
        enrolment
        for some in chunks(user_ids)
        for enrolment in db.session.scalars(
            select(Enrolment).where(Enrolment.course_id == course_id, Enrolment.user_id.in_(some))
        )
    ]
    latest: dict[int, Completion] = {}
    by_id = {enrolment.id: enrolment for enrolment in enrolments}
    for some in chunks(list(by_id)):
        completions = db.session.scalars(
            select(Completion).where(Completion.enrolment_id.in_(some)).order_by(Completion.id)
        )
        for completion in completions:
            if completion.cycle == by_id[completion.enrolment_id].cycle:
                latest[completion.enrolment_id] = completion
    return {enrolment.user_id: (enrolment, latest.get(enrolment.id)) for enrolment in enrolments}


def _row(
    member: dict[str, Any], user: User | None, progress: tuple[Enrolment, Completion | None] | None
) -> ReportRow:
    name = _display_name(member, user)
    email = member.get("email") or (user.email if user else None)
    if progress is None:
        return ReportRow(name, email, "not_launched")
    enrolment, latest = progress
    status = latest.status if latest else ("in_progress" if enrolment.started_at else "not_started")
    return ReportRow(
        name,
        email,
        status,
        started_at=enrolment.started_at,
        score=latest.score if latest else None,
        completed_at=latest.completed_at if latest else None,
        due_at=enrolment.due_at,
        overdue=latest is None and enrolment.due_at is not None and enrolment.due_at < utcnow(),
    )


def _display_name(member: dict[str, Any], user: User | None) -> str:
    given = " ".join(filter(None, [member.get("given_name"), member.get("family_name")]))
    return str(
        member.get("name")
        or given
        or (user.name if user else "")
        or member.get("email")
        or member.get("user_id")
        or (user.subject if user else "")
    )
