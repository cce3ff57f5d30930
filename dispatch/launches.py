"""A package's launch: verified, matched to the tenant's person, enrolled, and followed until the
tool has a result to send back through the LMS's runtime.

The learner is found exactly as after an LTI launch (people.identities: the LMS identity if known,
else HR's employee by employee id, then by email) and enrolled through courses, so a person who
arrives by a package and later by LTI is one person with one history. Services flush and never commit.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext
from sqlalchemy import bindparam, select, update

from courses import hooks
from courses.models import Completion, Enrolment
from courses.publishing import published_course
from courses.services import enrol_in_version
from dispatch import packages, signatures
from dispatch.errors import (
    BadSignature,
    LaunchExpired,
    LaunchRefused,
    NoLearnerId,
    PackageRevoked,
    ReplayedLaunch,
    StaleLaunch,
    UnknownPackage,
)
from dispatch.models import DispatchLaunch, DispatchPackage
from people import identities
from training_app.auth.access import SignedInLearner, signed_in_learner
from training_app.db import insert_unless_conflict, utcnow
from training_app.edge import check_text
from training_app.extensions import db, run_core, run_write
from training_app.models import User

LAUNCH_LIFETIME = timedelta(hours=12)  # the package's page follows the result this long
ENTER_LIFETIME = timedelta(minutes=2)  # the one-time link that signs the learner in
MAX_LEARNER_ID, MAX_NAME = 255, 200
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class LaunchRequest:
    """What the package's page sends (registration: cmi5's, not signed, used only to tell whether
    this registration was already sent the result)."""

    dispatch_id: str
    learner_id: str
    learner_name: str
    timestamp: str
    nonce: str
    signature: str
    registration: str | None = None


@dataclass(frozen=True)
class Result:
    """The tool's result of the current cycle, as the package's page reports it to the LMS."""

    completion_id: int
    status: str  # completed | failed
    score: int
    completed_at: datetime

    @property
    def passed(self) -> bool:
        return self.status == "completed"


@dataclass(frozen=True)
class LaunchState:
    """The launch's result and whether the LMS already took it (the page said so)."""

    launch: DispatchLaunch
    package: DispatchPackage
    result: Result | None
    reported: bool


@dataclass(frozen=True)
class StartedLaunch:
    token: str  # the page's bearer token for this launch
    enter_token: str  # one-time: signs the learner in, in the frame or a new window
    state: LaunchState


def start_launch(
    request: LaunchRequest, *, frame_origins: list[str], now: datetime | None = None
) -> StartedLaunch:
    """Verify the launch request, then find or create the learner, enrol them and open a launch."""
    now = now or utcnow()
    package = _package(request.dispatch_id)
    _check_learner(request)
    _verify(package, request, now)
    course_id, version = published_course(package.course_slug)  # before any write: a refusal leaves none
    user = _learner(package, request.learner_id.strip(), request.learner_name)
    enrolment_id = enrol_in_version(user, course_id, version, source="dispatch")
    token, enter_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    launch = DispatchLaunch(
        tenant_id=package.tenant_id,
        package_id=package.id,
        user_id=user.id,
        enrolment_id=enrolment_id,
        lms_learner_id=request.learner_id.strip(),
        registration=(request.registration or None),
        frame_origins=" ".join(frame_origins) or None,
        token_hash=_digest(token),
        enter_hash=_digest(enter_token),
        enter_expires_at=now + ENTER_LIFETIME,
        created_at=now,
        expires_at=now + LAUNCH_LIFETIME,
    )
    db.session.add(launch)
    db.session.flush()
    hooks.run_launch_hooks(hooks.Launched(package.tenant_id, enrolment_id, now))
    return StartedLaunch(token, enter_token, _state(launch, package))


def _package(dispatch_id: str) -> DispatchPackage:
    package = db.session.scalar(select(DispatchPackage).where(DispatchPackage.dispatch_id == dispatch_id))
    if package is None:
        raise UnknownPackage(
            gettext(
                "This training package is not known to the training service. Ask your LMS "
                "administrator to upload the package HR downloaded from the console."
            )
        )
    if package.revoked_at is not None:
        raise PackageRevoked(
            gettext(
                "This training package was withdrawn by your HR team, so it no longer opens the "
                "training and nothing was recorded. Ask your LMS administrator for the current course."
            )
        )
    return package


def _check_learner(request: LaunchRequest) -> None:
    check_text(
        {
            "learner id": request.learner_id,
            "learner name": request.learner_name,
            "registration": request.registration,
        }
    )
    if not request.learner_id.strip():
        raise NoLearnerId(
            gettext(
                "Your LMS did not say who you are (its learner id is empty), so the training cannot "
                "record anything for you. Ask your LMS administrator to check the course's settings."
            )
        )
    if len(request.learner_id) > MAX_LEARNER_ID or len(request.learner_name) > MAX_NAME:
        raise LaunchRefused(gettext("The learner id or name the LMS sent is too long."))
    if len(request.registration or "") > 100:
        raise LaunchRefused(gettext("The registration the LMS sent is too long."))


def _verify(package: DispatchPackage, request: LaunchRequest, now: datetime) -> None:
    """Signature first (nothing is written for a request without the secret), then freshness, then
    the nonce, used once."""
    text = signatures.signed_text(
        request.dispatch_id, request.learner_id, request.learner_name, request.timestamp, request.nonce
    )
    if not signatures.NONCE.fullmatch(request.nonce or "") or not signatures.signature_matches(
        packages.secrets_accepted(package, now), text, request.signature or ""
    ):
        raise BadSignature(
            gettext(
                "This training package's launch could not be verified (the package was changed, or "
                "its secret was replaced). Ask your LMS administrator to upload the current package."
            )
        )
    if not signatures.timestamp_fresh(request.timestamp, now):
        raise StaleLaunch(
            gettext("This launch is too old, or your computer's clock is wrong. Open the course again."),
            errors={"server_time": int(now.timestamp())},
        )
    if not signatures.use_nonce(package.id, request.nonce, now):
        raise ReplayedLaunch(gettext("This launch was already used. Open the course again from your LMS."))


def identity_issuer(package: DispatchPackage) -> str:
    """Learners of one LMS share an identity space, whichever of its packages they open."""
    key = re.sub(r"[^a-z0-9]+", "-", package.lms_name.lower()).strip("-") or "lms"
    return f"dispatch:{key}"


def _learner(package: DispatchPackage, learner_id: str, lms_name: str) -> User:
    """The LMS learner's person: known under this LMS identity, or HR's employee (the package says
    whether the learner id is an employee id or an email), or a new person."""
    tenant_id, issuer = package.tenant_id, identity_issuer(package)
    user = db.session.scalar(_USER, {"tenant_id": tenant_id, "issuer": issuer, "subject": learner_id})
    employee_id = learner_id if package.learner_id_is == "employee_id" else None
    email = learner_id.lower() if package.learner_id_is == "email" and EMAIL.fullmatch(learner_id) else None
    if user is None:
        person_id = identities.person_for_launch(
            tenant_id, issuer, learner_id, employee_id=employee_id, email=email
        )
        if person_id is None:
            person_id = _insert_person(
                package, issuer, learner_id, display_name(lms_name), employee_id, email
            )
        user = db.session.get(User, person_id)
    name = display_name(lms_name)
    if name and not user.employee_id and user.name != name:  # HR's details stand once HR knows them
        user.name = name
    return user


def _insert_person(
    package: DispatchPackage,
    issuer: str,
    learner_id: str,
    name: str,
    employee_id: str | None,
    email: str | None,
) -> int:
    if employee_id and identities.employee_id_taken(package.tenant_id, employee_id, 0):
        employee_id = None
    values = {
        "tenant_id": package.tenant_id,
        "issuer": issuer,
        "subject": learner_id,
        "name": name,
        "email": email,
        "employee_id": employee_id,
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    inserted = run_write(_INSERT_USER, values).scalar()
    if inserted is not None:
        return inserted
    # The same learner's other launch, at the same moment, inserted them first.
    key = {name: values[name] for name in ("tenant_id", "issuer", "subject")}
    return db.session.scalar(_USER, key).id


_users = User.__table__
_USER = select(User).where(
    User.tenant_id == bindparam("tenant_id"),
    User.issuer == bindparam("issuer"),
    User.subject == bindparam("subject"),
)
_INSERT_USER = insert_unless_conflict(_users, "tenant_id", "issuer", "subject").returning(_users.c.id)


def display_name(lms_name: str) -> str:
    """SCORM runtimes give "Last, First": people read "First Last"."""
    name = " ".join(lms_name.split())
    last, comma, first = name.partition(",")
    if comma and first.strip() and "," not in first:
        return f"{first.strip()} {last.strip()}"
    return name


def launch_state(token: str, now: datetime | None = None) -> LaunchState:
    """The launch the page's token names, while it lasts; its package must still work."""
    launch = db.session.scalar(select(DispatchLaunch).where(DispatchLaunch.token_hash == _digest(token)))
    if launch is None or launch.expires_at <= (now or utcnow()):
        raise LaunchExpired(gettext("This launch has ended. Open the course again from your LMS."))
    package = db.session.get(DispatchPackage, launch.package_id)
    if package.revoked_at is not None:
        _package(package.dispatch_id)  # raises PackageRevoked
    return _state(launch, package)


def _state(launch: DispatchLaunch, package: DispatchPackage) -> LaunchState:
    row = run_core(_CURRENT_RESULT, {"enrolment_id": launch.enrolment_id}).first()
    result = Result(row.id, row.status, row.score, row.completed_at) if row else None
    reported = False
    if result is not None:
        reported = (
            run_core(
                _REPORTED,
                {
                    "package_id": launch.package_id,
                    "user_id": launch.user_id,
                    "completion_id": result.completion_id,
                    "registration": launch.registration or "",
                },
            ).first()
            is not None
        )
    return LaunchState(launch, package, result, reported)


_CURRENT_RESULT = (
    select(Completion.id, Completion.status, Completion.score, Completion.completed_at)
    .join(Enrolment, Enrolment.id == Completion.enrolment_id)
    .where(Completion.enrolment_id == bindparam("enrolment_id"), Completion.cycle == Enrolment.cycle)
    .order_by(Completion.completed_at.desc(), Completion.id.desc())
    .limit(1)
)
_launches = DispatchLaunch.__table__
_REPORTED = (
    select(_launches.c.id)
    .where(
        _launches.c.package_id == bindparam("package_id"),
        _launches.c.user_id == bindparam("user_id"),
        _launches.c.reported_completion_id == bindparam("completion_id"),
        (_launches.c.registration == bindparam("registration")) | (bindparam("registration") == ""),
    )
    .limit(1)
)


def record_reported(state: LaunchState, completion_id: int) -> None:
    """The page says the LMS's runtime accepted this result: a later launch need not send it again
    (cmi5: to this registration). Only the launch's own current result can be acknowledged."""
    if state.result is None or state.result.completion_id != completion_id:
        raise LaunchRefused(gettext("That is not this launch's result."), status=409, code="not_this_result")
    run_write(
        update(_launches)
        .where(_launches.c.id == state.launch.id)
        .values(reported_completion_id=completion_id, reported_at=utcnow())
    )


def new_enter_token(state: LaunchState, now: datetime | None = None) -> str:
    """A fresh one-time sign-in link for this launch (to open the training in a new window)."""
    token = secrets.token_urlsafe(32)
    state.launch.enter_hash = _digest(token)
    state.launch.enter_expires_at = (now or utcnow()) + ENTER_LIFETIME
    db.session.flush()
    return token


@dataclass(frozen=True)
class Entry:
    learner: SignedInLearner
    course_slug: str
    frame_origins: list[str]
    opens_in: str


def enter(enter_token: str, now: datetime | None = None) -> Entry:
    """Use a one-time sign-in link: the launch's learner, once, within ENTER_LIFETIME."""
    now = now or utcnow()
    launch = db.session.scalar(
        select(DispatchLaunch).where(DispatchLaunch.enter_hash == _digest(enter_token))
    )
    if launch is None or launch.enter_expires_at is None or launch.enter_expires_at <= now:
        raise LaunchExpired(
            gettext("This link was already used or has expired. Open the course again from your LMS.")
        )
    launch.enter_hash = None
    launch.enter_expires_at = None
    db.session.flush()
    package = _package(db.session.get(DispatchPackage, launch.package_id).dispatch_id)
    learner = signed_in_learner(launch.user_id)
    if learner is None:
        raise LaunchExpired(gettext("This launch has ended. Open the course again from your LMS."))
    origins = (launch.frame_origins or "").split()
    return Entry(learner, package.course_slug, origins, package.opens_in)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def launch_history(tenant_id: int, after: int, limit: int) -> list[tuple[int, hooks.Launched]]:
    """Every package launch of the tenant, by id (the launch hooks' history)."""
    rows = db.session.execute(
        select(DispatchLaunch.id, DispatchLaunch.enrolment_id, DispatchLaunch.created_at)
        .where(DispatchLaunch.tenant_id == tenant_id, DispatchLaunch.id > after)
        .order_by(DispatchLaunch.id)
        .limit(limit)
    )
    return [(launch_id, hooks.Launched(tenant_id, enrolment_id, at)) for launch_id, enrolment_id, at in rows]
