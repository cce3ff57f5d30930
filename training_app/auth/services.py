"""Staff accounts: creation, password checks. Services flush, never commit."""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import gettext
from sqlalchemy import func, select
from zxcvbn import zxcvbn

from training_app import audit
from training_app.db import utcnow
from training_app.edge import check_text
from training_app.errors import Conflict, NotFound, ValidationFailed
from training_app.extensions import db
from training_app.models import STAFF_ROLES, StaffAccount, Tenant

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MIN_PASSWORD_SCORE = 3  # zxcvbn: "safely unguessable"; its dictionaries include breached passwords


@cache
def _hasher_for(time_cost: int, memory_cost: int) -> tuple[PasswordHasher, str]:
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost)
    # Verified against when the email is unknown, so both paths cost the same time.
    return hasher, hasher.hash("not-a-real-password")


def _hasher() -> PasswordHasher:
    return _hasher_for(*current_app.config["PASSWORD_HASH_COST"])[0]


def _dummy_hash() -> str:
    return _hasher_for(*current_app.config["PASSWORD_HASH_COST"])[1]


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def find_tenant(slug: str) -> Tenant:
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        known = db.session.scalars(select(Tenant.slug).order_by(Tenant.slug)).all()
        hint = f" Known tenants: {', '.join(known)}." if known else " No tenant exists yet."
        raise NotFound(
            f"There is no tenant {slug!r}.{hint} Create it with "
            f'`flask --app wsgi tenants create --slug {slug} --name "..."`.'
        )
    return tenant


def create_tenant(slug: str, name: str) -> Tenant:
    if db.session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise Conflict(f"A tenant {slug!r} already exists.")
    tenant = Tenant(slug=slug, name=name)
    db.session.add(tenant)
    db.session.flush()
    return tenant


def create_staff(
    tenant: Tenant, email: str, password: str, role: str = "hr_admin", name: str = ""
) -> StaffAccount:
    check_text({"name": name, "email": email})
    email = normalise_email(email)
    if role not in STAFF_ROLES:
        raise ValidationFailed(f"Role must be one of {', '.join(STAFF_ROLES)}.")
    check_password_policy(password, email=email, name=name)
    existing = db.session.scalar(
        select(StaffAccount.id).where(StaffAccount.tenant_id == tenant.id, StaffAccount.email == email)
    )
    if existing is not None:  # only this tenant's accounts are looked at: nothing of another's shows
        raise Conflict(
            gettext("%(email)s already has a staff account in this organisation.", email=email),
            errors={"email": gettext("already a staff account here")},
        )
    account = StaffAccount(
        tenant_id=tenant.id, email=email, name=name, role=role, password_hash=hash_password(password)
    )
    db.session.add(account)
    db.session.flush()
    return account


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320 or email.startswith("@") or email.endswith("@"):
        raise ValidationFailed(f"{email!r} is not an email address.")
    return email


def check_password_policy(password: str, *, email: str = "", name: str = "") -> None:
    """At least 12 characters and hard to guess (zxcvbn, whose dictionaries hold the passwords
    most often found in breaches, and which also refuses the person's own email and name)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            gettext("The password must have at least %(num)d characters.", num=MIN_PASSWORD_LENGTH),
            errors={"password": gettext("too short")},
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(
            gettext("The password must have at most %(num)d characters.", num=MAX_PASSWORD_LENGTH),
            errors={"password": gettext("too long")},
        )
    strength = zxcvbn(password[:100], user_inputs=[value for value in (email, name) if value])
    if strength["score"] < MIN_PASSWORD_SCORE:
        raise ValidationFailed(
            gettext(
                "This password is too easy to guess (it is common, found in breached-password lists, "
                "or made of your name or email). Use a longer phrase of several unrelated words."
            ),
            errors={"password": gettext("too easy to guess")},
        )


def authenticate(
    email: str, password: str, tenant_slug: str | None = None, *, ip_address: str | None = None
) -> list[StaffAccount]:
    """The active accounts with this email whose password matches (several only when one person
    has the same password in two organisations: the sign-in page then asks which one). A wrong
    password for a known account is an audit event of that account's organisation.

    The same cost whether or not the email is known: an unknown email is checked against a dummy hash.
    """
    query = select(StaffAccount).where(
        func.lower(StaffAccount.email) == email.strip().lower(), StaffAccount.active.is_(True)
    )
    if tenant_slug:
        query = query.join(Tenant, Tenant.id == StaffAccount.tenant_id).where(Tenant.slug == tenant_slug)
    accounts = list(db.session.scalars(query.order_by(StaffAccount.id)))
    if not accounts:
        _verify(_dummy_hash(), password)
        return []
    matching = [account for account in accounts if _verify(account.password_hash, password)]
    for account in matching:
        if _hasher().check_needs_rehash(account.password_hash):
            account.password_hash = hash_password(password)
    if not matching:
        for account in accounts:
            audit.record_event(
                account.tenant_id,
                "anonymous",
                "staff.sign_in_failed",
                subject=("staff", account.id),
                data={"reason": "wrong password"},
                ip_address=ip_address,
            )
    return matching


def signed_in(account: StaffAccount) -> None:
    account.last_login_at = utcnow()


def change_password(account: StaffAccount, current: str, new: str) -> None:
    """The account's own password change: every other session of theirs ends."""
    if not _verify(account.password_hash, current):
        raise ValidationFailed(
            gettext("Your current password is not right."),
            errors={"current_password": gettext("not right")},
        )
    check_password_policy(new, email=account.email, name=account.name)
    account.password_hash = hash_password(new)
    account.end_sessions()
    db.session.flush()


def set_role(account: StaffAccount, role: str) -> None:
    if role not in STAFF_ROLES:
        raise ValidationFailed(gettext("Role must be one of %(roles)s.", roles=", ".join(STAFF_ROLES)))
    if account.role != role:
        account.role = role
        account.end_sessions()
        db.session.flush()


def set_active(account: StaffAccount, active: bool) -> None:
    if account.active != active:
        account.active = active
        account.end_sessions()
        db.session.flush()


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
