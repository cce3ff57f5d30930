"""An LMS course's members (NRPS, paged and cached), for the instructor's course report."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from courses.models import Enrolment
from lti import oauth
from lti.models import GradeTarget, ResourceLink, RosterCache
from training_app.db import chunks, utcnow
from training_app.errors import N_
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
        return previous, N_("Your LMS did not offer its member list for this course.")
    source = RosterSource(link.memberships_url, oauth.client_for(link.platform))
    try:
        members = fetch_members(source, before_waiting)
    except DeliveryError as exc:
        log.warning("roster fetch failed", extra={"link": link.id, "error": str(exc)})
        return previous, N_("The member list could not be fetched from your LMS just now.")
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
class CourseMember:
    """A learner of the LMS course (or someone who launched this link), and who they are here."""

    name: str
    email: str | None
    user: User | None  # None: never launched the training


@dataclass(frozen=True)
class CourseMembers:
    course_slug: str
    context_title: str | None
    members: list[CourseMember]
    roster_problem: str | None


def course_members(link: ResourceLink, before_waiting: oauth.BeforeWaiting) -> CourseMembers:
    """The LMS course's active learners from its roster, with everyone who launched the link
    though the roster lacks them (a failed or absent roster still shows who launched)."""
    members, problem = cached_members(link, before_waiting)
    learners = [m for m in members if _is_learner(m) and m.get("status", "Active") == "Active"]
    users = _users_by_subject(link, [str(m["user_id"]) for m in learners])
    roster_ids = {str(m["user_id"]) for m in learners}
    people = [(m, users.get(str(m["user_id"]))) for m in learners]
    people += [({}, user) for user in _launched_users(link) if user.subject not in roster_ids]
    listed = [
        CourseMember(_display_name(member, user), member.get("email") or (user.email if user else None), user)
        for member, user in people
    ]
    return CourseMembers(link.course_slug, link.context_title, listed, problem)


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
