"""HR's dispatch packages: create one for an LMS and a course, download it, rotate its secret,
revoke it. Every change is in the audit log. Services flush and never commit.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext
from sqlalchemy import select

from courses.publishing import published_course
from dispatch import package_secrets
from dispatch.models import FORMATS, LEARNER_ID_KINDS, OPENS_IN, DispatchPackage
from training_app import audit
from training_app.db import utcnow
from training_app.errors import Conflict, NotFound, ValidationFailed
from training_app.extensions import db
from training_app.models import Tenant

DEFAULT_GRACE = timedelta(days=14)
MAX_GRACE = timedelta(days=90)
LMS_NAME_MAX = 100


@dataclass(frozen=True)
class PackageChoice:
    """What HR chooses for a new package."""

    course_slug: str
    format: str
    lms_name: str = "LMS"
    opens_in: str = "frame"
    learner_id_is: str = "employee_id"


def create_package(tenant: Tenant, choice: PackageChoice, *, actor: str, ip_address: str | None = None):
    """A new package with its own dispatch id and secret."""
    _check_choice(choice)
    published_course(choice.course_slug)  # NotFound for a course that is not published
    package = DispatchPackage(
        tenant_id=tenant.id,
        dispatch_id="pw" + secrets.token_urlsafe(15),
        course_slug=choice.course_slug,
        format=choice.format,
        lms_name=choice.lms_name.strip(),
        opens_in=choice.opens_in,
        learner_id_is=choice.learner_id_is,
        secret_ciphertext=package_secrets.encrypt(package_secrets.new_secret()),
        created_by=actor,
        created_at=utcnow(),
    )
    db.session.add(package)
    db.session.flush()
    _audit(package, actor, "dispatch.package_created", ip_address, lms=package.lms_name)
    return package


def _check_choice(choice: PackageChoice) -> None:
    problems = {}
    if choice.format not in FORMATS:
        problems["format"] = gettext("Choose SCORM 1.2, SCORM 2004 or cmi5.")
    if choice.opens_in not in OPENS_IN:
        problems["opens_in"] = gettext("Choose where the training opens.")
    if choice.learner_id_is not in LEARNER_ID_KINDS:
        problems["learner_id_is"] = gettext("Choose what the LMS's learner id is.")
    name = choice.lms_name.strip()
    if not name or len(name) > LMS_NAME_MAX:
        problems["lms_name"] = gettext("Name the LMS in 1 to %(max)d characters.", max=LMS_NAME_MAX)
    if problems:
        raise ValidationFailed(gettext("Check the package's settings."), errors=problems)


def tenant_package(tenant_id: int, package_id: int) -> DispatchPackage:
    """One of the tenant's packages; another tenant's is not found."""
    package = db.session.get(DispatchPackage, package_id)
    if package is None or package.tenant_id != tenant_id:
        raise NotFound(gettext("There is no such package."))
    return package


def packages_of(tenant_id: int) -> list[DispatchPackage]:
    query = (
        select(DispatchPackage)
        .where(DispatchPackage.tenant_id == tenant_id)
        .order_by(DispatchPackage.revoked_at.is_not(None), DispatchPackage.created_at.desc())
    )
    return list(db.session.scalars(query))


def rotate_secret(
    package: DispatchPackage,
    *,
    actor: str,
    grace: timedelta = DEFAULT_GRACE,
    ip_address: str | None = None,
) -> DispatchPackage:
    """A new secret for the package; the one before keeps working for `grace` (the LMS still
    serves the old zip until its administrator uploads the new one), then stops."""
    _refuse_if_revoked(package)
    if not timedelta(0) <= grace <= MAX_GRACE:
        raise ValidationFailed(
            gettext("The grace period is 0 to %(days)d days.", days=MAX_GRACE.days),
            errors={"grace_days": gettext("0 to %(days)d days", days=MAX_GRACE.days)},
        )
    now = utcnow()
    package.previous_secret_ciphertext = package.secret_ciphertext
    package.previous_secret_expires_at = now + grace
    package.secret_ciphertext = package_secrets.encrypt(package_secrets.new_secret())
    package.secret_generation += 1
    package.rotated_at = now
    db.session.flush()
    _audit(package, actor, "dispatch.secret_rotated", ip_address, grace_days=grace.days)
    return package


def revoke(package: DispatchPackage, *, actor: str, ip_address: str | None = None) -> DispatchPackage:
    """The package stops working at once, under every secret it had."""
    _refuse_if_revoked(package)
    package.revoked_at = utcnow()
    package.revoked_by = actor
    db.session.flush()
    _audit(package, actor, "dispatch.package_revoked", ip_address)
    return package


def record_download(package: DispatchPackage, *, actor: str, ip_address: str | None = None) -> None:
    """A download hands out the secret: the audit log says who took it and when."""
    _refuse_if_revoked(package)
    _audit(package, actor, "dispatch.package_downloaded", ip_address, generation=package.secret_generation)


def _refuse_if_revoked(package: DispatchPackage) -> None:
    if package.revoked_at is not None:
        raise Conflict(gettext("This package is revoked; create a new one."))


def secrets_accepted(package: DispatchPackage, now: datetime) -> list[str]:
    """The secrets a launch may be signed with now: the current one, and the previous one during
    its grace period."""
    accepted = [package_secrets.decrypt(package.secret_ciphertext)]
    if package.previous_secret_ciphertext and (package.previous_secret_expires_at or now) > now:
        accepted.append(package_secrets.decrypt(package.previous_secret_ciphertext))
    return accepted


def download_name(package: DispatchPackage) -> str:
    """`postwise-<course>-<format>-<lms>.zip`, in safe ASCII."""
    lms = re.sub(r"[^a-z0-9]+", "-", package.lms_name.lower()).strip("-") or "lms"
    return f"postwise-{package.course_slug}-{package.format}-{lms[:40]}.zip"


def _audit(package: DispatchPackage, actor: str, action: str, ip_address: str | None, **data) -> None:
    audit.record_event(
        package.tenant_id,
        actor,
        action,
        subject=("dispatch_package", package.id),
        data={
            "dispatch_id": package.dispatch_id,
            "course": package.course_slug,
            "format": package.format,
            **data,
        },
        ip_address=ip_address,
    )
