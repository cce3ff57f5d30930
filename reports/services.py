"""Read models for the HR console. Every query is scoped to the signed-in staff's tenant."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext
from sqlalchemy import func, select

from courses import publishing
from courses.models import Course, CourseVersion, Enrolment
from training_app import audit, audit_verification
from training_app.auth import services as accounts
from training_app.errors import Forbidden
from training_app.extensions import db
from training_app.models import StaffAccount, Tenant
from training_app.tenancy import get_in_tenant


def audit_chain_status(tenant_id: int) -> audit_verification.ChainReport:
    return audit_verification.verify_since_checkpoint(db.session.get(Tenant, tenant_id))


def verify_audit_chain(tenant_id: int) -> audit_verification.ChainReport:
    return audit_verification.verify_chain(db.session.get(Tenant, tenant_id))


def staff_of(tenant_id: int) -> list[StaffAccount]:
    return list(
        db.session.scalars(
            select(StaffAccount).where(StaffAccount.tenant_id == tenant_id).order_by(StaffAccount.email)
        )
    )


def invite_staff(
    inviter: StaffAccount, email: str, name: str, role: str, ip_address: str | None
) -> tuple[StaffAccount, str]:
    """Create a colleague's account in the inviter's tenant; the one-time password is shown once."""
    password = accounts.generate_password()
    tenant = db.session.get(Tenant, inviter.tenant_id)
    account = accounts.create_staff(tenant, email, password, role=role, name=name)
    audit.record_event(
        tenant.id,
        f"staff:{inviter.id}",
        "staff.created",
        subject=("staff", account.id),
        data={"email": account.email, "role": role},
        ip_address=ip_address,
    )
    return account, password


def change_staff(
    changer: StaffAccount,
    staff_id: int,
    *,
    role: str | None = None,
    active: bool | None = None,
    ip_address: str | None,
) -> StaffAccount:
    """A colleague's new role or (de)activation; their open sessions end. Not one's own: an
    administrator cannot lock themselves out."""
    account = get_in_tenant(StaffAccount, staff_id, changer.tenant_id, gettext("There is no such colleague."))
    if account.id == changer.id:
        raise Forbidden(gettext("You cannot change your own role or deactivate yourself; ask a colleague."))
    before = {"role": account.role, "active": account.active}
    if role is not None:
        accounts.set_role(account, role)
    if active is not None:
        accounts.set_active(account, active)
    after = {"role": account.role, "active": account.active}
    if after != before:
        audit.record_event(
            changer.tenant_id,
            f"staff:{changer.id}",
            "staff.changed",
            subject=("staff", account.id),
            data={"before": before, "after": after},
            ip_address=ip_address,
        )
    return account


@dataclass(frozen=True)
class CourseRow:
    course: Course
    version: CourseVersion
    enrolled: int
    completed: int


def course_rows(tenant_id: int) -> list[CourseRow]:
    enrolled = dict(
        db.session.execute(
            select(Enrolment.course_id, func.count())
            .where(Enrolment.tenant_id == tenant_id, Enrolment.source != "preview")
            .group_by(Enrolment.course_id)
        ).all()
    )
    completed = dict(
        db.session.execute(
            select(Enrolment.course_id, func.count())
            .where(
                Enrolment.tenant_id == tenant_id,
                Enrolment.source != "preview",
                Enrolment.completed_at.is_not(None),
            )
            .group_by(Enrolment.course_id)
        ).all()
    )
    return [
        CourseRow(course, version, enrolled.get(course.id, 0), completed.get(course.id, 0))
        for course, version in publishing.published_courses()
    ]
