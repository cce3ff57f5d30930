"""What a validated launch does: the learner (created on their first launch, details refreshed),
their enrolment, the LMS link and the grade target the score goes back to.

Services flush and never commit.
"""

from __future__ import annotations

import logging
from collections import namedtuple
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, bindparam, func, literal, select, update

from courses import hooks
from courses import services as learning
from courses.models import Course, CourseVersion, Enrolment
from courses.publishing import PublishedVersion, published_version
from lti import claims
from lti.models import GradeTarget, Platform, ResourceLink
from lti.platform_cache import PlatformRecord
from people import identities
from training_app.auth.access import SignedInLearner
from training_app.db import insert_unless_conflict, utcnow
from training_app.edge import check_lengths, check_text
from training_app.errors import DomainError
from training_app.extensions import run_core, run_write
from training_app.models import User

log = logging.getLogger(__name__)


class LaunchRefused(DomainError):
    status = 400
    code = "launch_refused"
    title = "We could not open your training"


@dataclass(frozen=True)
class LaunchOutcome:
    user: SignedInLearner
    role: str  # learner | instructor
    message_type: str
    course_slug: str | None
    resource_link_id: int | None
    enrolment_id: int | None


def process_launch(platform: Platform | PlatformRecord, body: dict[str, Any]) -> LaunchOutcome:
    """A validated launch: who it is, what they may do, and the course it opens."""
    message = claims.LaunchClaims(body)
    check_text(message.texts_kept())
    check_lengths(message.sizes_kept())
    if message.message_type == claims.DEEP_LINKING:
        if not message.is_instructor:
            raise LaunchRefused(
                "Only instructors and administrators can choose content for the LMS.", status=403
            )
        user, _ = upsert_user(platform, message, None)
        return LaunchOutcome(user, "instructor", message.message_type, None, None, None)
    course_slug = message.custom.get("course")
    if not course_slug:
        raise LaunchRefused(
            "This LMS link does not say which course to open. Ask your LMS administrator to add the "
            "custom parameter course=<course> to the link (or to re-add it with the content picker)."
        )
    user, standing = upsert_user(platform, message, course_slug)
    if standing.version_id is None:
        raise LaunchRefused(
            f"This LMS link asks for the course {course_slug!r}, which does not exist. "
            "Ask your LMS administrator to choose the course again.",
            status=404,
        )
    link_id = upsert_resource_link(platform, message, course_slug, standing)
    if message.is_instructor:
        return LaunchOutcome(user, "instructor", message.message_type, course_slug, link_id, None)
    enrolment_id = standing.enrolment_id or learning.enrol_in_version(
        user, standing.course_id, _latest_version(standing), source="lti"
    )
    if standing.target_id is None:
        recorded_at = add_grade_target(enrolment_id, link_id, message.subject)
    else:
        recorded_at = touch_grade_target(standing.target_id, standing.last_launch_at)
    if recorded_at is not None:
        hooks.run_launch_hooks(hooks.Launched(platform.tenant_id, enrolment_id, recorded_at))
    return LaunchOutcome(user, "learner", message.message_type, course_slug, link_id, enrolment_id)


def _latest_version(standing: Row) -> PublishedVersion:
    return published_version(standing.version_id, standing.version_hash, standing.version_published_at)


def upsert_user(
    platform: Platform | PlatformRecord, message: claims.LaunchClaims, course_slug: str | None
) -> tuple[SignedInLearner, Row]:
    """The launching learner, created on first launch, their details refreshed on every launch;
    and where they stand in the course (see _LAUNCH_STANDING).

    Nothing is locked: one learner's concurrent launches (a double click, two tabs) may both find
    the learner, enrolment, link or grade target missing, so each is inserted with ON CONFLICT DO
    NOTHING (PostgreSQL waits for the other launch's insert, then does nothing) and the other
    launch's row is used. A repeat launch with nothing new then writes no WAL-logged row at all
    (its login state is unlogged) and commits without waiting for the disk.
    """
    key = standing_key(platform, message, course_slug)
    standing = run_core(_LAUNCH_STANDING, key).one()
    if standing.user_id is None:  # this LMS identity's first launch: a person HR knows, or a new one
        person_id = identities.person_for_launch(
            platform.tenant_id,
            platform.issuer,
            message.subject,
            employee_id=message.custom.get("employee_id"),
            email=message.email,
        )
        if person_id is None:
            standing = _insert_learner(key, message, standing)
        else:
            standing = run_core(_LAUNCH_STANDING_OF_PERSON, {**key, "user_id": person_id}).one()
    known = {name: getattr(standing, name) for name in LEARNER_DETAILS}
    wanted = _launch_details(message, known)
    if wanted["employee_id"] != known["employee_id"] and (
        known["employee_id"] is not None  # HR's employee id is not changed by an LMS
        or identities.employee_id_taken(platform.tenant_id, wanted["employee_id"], standing.user_id)
    ):
        wanted["employee_id"] = known["employee_id"]
    if wanted != known:  # an unchanged row is not written
        run_write(_UPDATE_USER, {"user_id": standing.user_id, **wanted})
    learner = SignedInLearner(
        standing.user_id,
        platform.tenant_id,
        wanted["name"],
        wanted["email"],
        wanted["locale"],
        wanted["hire_date"],
    )
    return learner, standing


def standing_key(
    platform: Platform | PlatformRecord, message: claims.LaunchClaims, course_slug: str | None
) -> dict[str, Any]:
    """The parameters of _LAUNCH_STANDING: who launches, which course, from which LMS link."""
    return {
        "tenant_id": platform.tenant_id,
        "issuer": platform.issuer,
        "subject": message.subject,
        "course_slug": course_slug,
        "platform_id": platform.id,
        "deployment_id": message.deployment_id,
        "resource_link_id": message.resource_link_id,
    }


def _insert_learner(
    key: dict[str, Any], message: claims.LaunchClaims, standing: Row
) -> Row | NewLearnerStanding:
    """A new learner and where they stand: `standing` as read without them (no enrolment, no grade
    target yet), with their id and details. If a concurrent first launch of theirs inserted them
    first, the INSERT waited for it and did nothing: their standing is read again."""
    values = {"tenant_id": key["tenant_id"], "issuer": key["issuer"], "subject": key["subject"]}
    details = _launch_details(message, {})
    user_id = run_write(_INSERT_USER, {**values, **details}).scalar()
    if user_id is None:
        return run_core(_LAUNCH_STANDING, key).one()
    return NewLearnerStanding(**{**standing._asdict(), "user_id": user_id, **details})


def _launch_details(message: claims.LaunchClaims, current: dict[str, Any]) -> dict[str, Any]:
    """What the launch says about the learner; details it omits keep their current value. For an
    employee HR imported (an employee id is known), HR's details stand: the launch only fills the
    ones HR left blank, and the learner's language follows the LMS."""
    custom = message.custom
    sent = {
        "name": message.name,
        "email": message.email,
        "department": custom.get("department"),
        "employee_id": custom.get("employee_id"),
        "manager_email": custom.get("manager_email"),
        "hire_date": parse_hire_date(custom.get("hire_date")),
    }
    hr_owns = bool(current.get("employee_id"))
    details = {
        name: (current.get(name) or value) if hr_owns else (value or current.get(name))
        for name, value in sent.items()
    }
    details["name"] = details["name"] or ""
    details["locale"] = message.locale or current.get("locale")
    return details


# Hot-path statements are built once, on the tables rather than the ORM entities: building a
# statement costs more CPU than running it, and the ORM layer adds to both.
_courses, _versions, _enrolments = Course.__table__, CourseVersion.__table__, Enrolment.__table__


_targets, _links, _users = GradeTarget.__table__, ResourceLink.__table__, User.__table__
LEARNER_DETAILS = ("name", "email", "locale", "department", "employee_id", "manager_email", "hire_date")
_earlier_versions = _versions.alias("earlier_versions")
_IS_LATEST_VERSION = (_versions.c.course_id == _courses.c.id) & (
    _versions.c.number
    == select(func.max(_earlier_versions.c.number))
    .where(_earlier_versions.c.course_id == _courses.c.id)
    .scalar_subquery()
)


_LINK_DETAILS = (
    _links.c.course_slug,
    _links.c.context_id,
    _links.c.context_title,
    _links.c.title,
    _links.c.lineitem_url,
    _links.c.lineitems_url,
    _links.c.ags_scopes,
    _links.c.memberships_url,
)


_LINK_KEY = (
    (_links.c.platform_id == bindparam("platform_id"))
    & (_links.c.deployment_id == bindparam("deployment_id"))
    & (_links.c.resource_link_id == bindparam("resource_link_id"))
)


_LINK = select(_links.c.id.label("link_id"), *_LINK_DETAILS).where(_LINK_KEY)


# values: the key, tenant_id and _LINK_DETAILS; nothing if a concurrent launch created the link
_INSERT_LINK = insert_unless_conflict(_links, "platform_id", "deployment_id", "resource_link_id").returning(
    _links.c.id
)


# In one statement, always one row: the learner's details, the course's latest version, their
# enrolment, the LMS link (with what we know of it) and their grade target for it, None where there
# is none yet (the version for an unknown course, the user's id and the rest for an unknown learner:
# the course and link columns then still say what their first launch must create).
_ONE_ROW = select(literal(1).label("one")).subquery("launch")


def _standing_of(learner: ColumnElement[bool]) -> Select:
    return select(
        _users.c.id.label("user_id"),
        *(_users.c[name] for name in LEARNER_DETAILS),
        _courses.c.id.label("course_id"),
        _versions.c.id.label("version_id"),
        _versions.c.content_hash.label("version_hash"),
        _versions.c.published_at.label("version_published_at"),
        _enrolments.c.id.label("enrolment_id"),
        _links.c.id.label("link_id"),
        *_LINK_DETAILS,
        _targets.c.id.label("target_id"),
        _targets.c.last_launch_at,
    ).select_from(
        _ONE_ROW.outerjoin(_users, learner)
        .outerjoin(_courses, _courses.c.slug == bindparam("course_slug"))
        .outerjoin(_versions, _IS_LATEST_VERSION)
        .outerjoin(
            _enrolments,
            (_enrolments.c.course_id == _courses.c.id) & (_enrolments.c.user_id == _users.c.id),
        )
        .outerjoin(_links, _LINK_KEY)
        .outerjoin(
            _targets,
            (_targets.c.enrolment_id == _enrolments.c.id) & (_targets.c.resource_link_id == _links.c.id),
        )
    )


_LAUNCH_STANDING = _standing_of(
    (_users.c.tenant_id == bindparam("tenant_id"))
    & (_users.c.issuer == bindparam("issuer"))
    & (_users.c.subject == bindparam("subject"))
)
# The same, for a person found by people.identities (another LMS identity, or HR's employee).
_LAUNCH_STANDING_OF_PERSON = _standing_of(_users.c.id == bindparam("user_id"))


# A first launch's standing once the learner is inserted: the row read without them, their id and details.
NewLearnerStanding = namedtuple("NewLearnerStanding", _LAUNCH_STANDING.selected_columns.keys())


# values: tenant_id, issuer, subject, LEARNER_DETAILS; no id if a concurrent first launch inserted them
_INSERT_USER = insert_unless_conflict(_users, "tenant_id", "issuer", "subject").returning(_users.c.id)
_UPDATE_USER = update(_users).where(_users.c.id == bindparam("user_id"))  # values: LEARNER_DETAILS


def parse_hire_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        log.warning(
            "ignored a hire_date custom parameter that is not YYYY-MM-DD", extra={"value": value[:40]}
        )
        return None


def upsert_resource_link(
    platform: Platform | PlatformRecord, message: claims.LaunchClaims, course_slug: str, current: Row
) -> int:
    """The link's id (`current`: the link's columns as the launch read them, None if it has none).

    The row is written only when the LMS sent something new: it is shared by every learner of the
    activity, and an UPDATE per launch would queue them all on its lock.
    """
    row = current if current.link_id is not None else None
    if row is None:  # every learner of a new LMS activity may arrive at the same moment
        key = {
            "platform_id": platform.id,
            "deployment_id": message.deployment_id,
            "resource_link_id": message.resource_link_id,
        }
        details = _link_details(message, course_slug, {})
        link_id = run_write(_INSERT_LINK, {**key, "tenant_id": platform.tenant_id, **details}).scalar()
        if link_id is not None:
            return link_id
        row = run_core(_LINK, key).one()  # a concurrent launch created it first: theirs stands
        log.info("resource link created by a concurrent launch", extra={"link": row.link_id})
    known = {column.name: getattr(row, column.name) for column in _LINK_DETAILS}
    wanted = _link_details(message, course_slug, known)
    if wanted != known:
        run_write(update(_links).where(_links.c.id == row.link_id).values(**wanted))
    return row.link_id


def _link_details(message: claims.LaunchClaims, course_slug: str, current: dict[str, Any]) -> dict[str, Any]:
    """What the launch says about the link; AGS and NRPS endpoints are kept when a launch omits them."""
    ags = message.ags
    return {
        "course_slug": course_slug,
        "context_id": message.context.get("id"),
        "context_title": _title(message.context.get("title") or message.context.get("label")),
        "title": _title(message.resource_link.get("title")),
        "lineitem_url": ags.get("lineitem") or current.get("lineitem_url"),
        "lineitems_url": ags.get("lineitems") or current.get("lineitems_url"),
        "ags_scopes": list(ags.get("scope") or current.get("ags_scopes") or []),
        "memberships_url": message.nrps.get("context_memberships_url") or current.get("memberships_url"),
    }


def _title(value: Any) -> str | None:
    return None if value is None else str(value)[: claims.TITLE_SIZE]


LAST_LAUNCH_PRECISION = timedelta(minutes=10)


def add_grade_target(enrolment_id: int, link_id: int, lti_user_id: str) -> datetime:
    """Unless present: the learner's other launch, at the same moment, may have added it. The
    launch's recorded time."""
    values = {"enrolment_id": enrolment_id, "resource_link_id": link_id, "lti_user_id": lti_user_id}
    now = utcnow()
    run_write(_ADD_GRADE_TARGET, {**values, "last_launch_at": now})
    return now


def touch_grade_target(target_id: int, last_launch_at: datetime | None) -> datetime | None:
    """last_launch_at is rewritten only when it is older than LAST_LAUNCH_PRECISION: a launch
    within that time of the last one is the same launch (a reload, a double click). The launch's
    recorded time; None when it was the same launch."""
    now = utcnow()
    if last_launch_at is None or now - last_launch_at > LAST_LAUNCH_PRECISION:
        run_write(_TOUCH_GRADE_TARGET, {"target_id": target_id, "now": now})
        return now
    return None


# values: enrolment_id, resource_link_id, lti_user_id, last_launch_at
_ADD_GRADE_TARGET = insert_unless_conflict(_targets, "enrolment_id", "resource_link_id")
_TOUCH_GRADE_TARGET = (
    update(_targets).where(_targets.c.id == bindparam("target_id")).values(last_launch_at=bindparam("now"))
)


def launch_history(tenant_id: int, after: int, limit: int) -> list[tuple[int, hooks.Launched]]:
    """Each LMS link's latest launch of the tenant's learners, by grade target id (the launch
    hooks' history: earlier launches are not recorded one by one)."""
    rows = run_core(
        select(_targets.c.id, Enrolment.id, _targets.c.last_launch_at)
        .join(Enrolment, Enrolment.id == _targets.c.enrolment_id)
        .where(Enrolment.tenant_id == tenant_id, _targets.c.id > after, Enrolment.source != "preview")
        .order_by(_targets.c.id)
        .limit(limit)
    )
    return [(target_id, hooks.Launched(tenant_id, enrolment_id, at)) for target_id, enrolment_id, at in rows]
