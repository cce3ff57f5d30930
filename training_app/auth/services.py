"""Staff accounts: creation, password checks. Services flush, never commit."""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import func, select

from training_app.db import utcnow
from training_app.errors import Conflict, NotFound, ValidationFailed
from training_app.extensions import db
from training_app.models import STAFF_ROLES, StaffAccount, Tenant

MIN_PASSWORD_LENGTH = 12


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
    email = normalise_email(email)
    if role not in STAFF_ROLES:
        raise ValidationFailed(f"Role must be one of {', '.join(STAFF_ROLES)}.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    existing = db.session.scalar(select(StaffAccount.id).where(StaffAccount.email == email))
    if existing is not None:
        raise Conflict(f"A staff account for {email} already exists.")
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


def authenticate(email: str, password: str) -> StaffAccount | None:
    """The active account whose password matches, or None (same cost either way)."""
    account = db.session.scalar(
        select(StaffAccount).where(func.lower(StaffAccount.email) == email.strip().lower())
    )
    if account is None or not account.active:
        _verify(_dummy_hash(), password)
        return None
    if not _verify(account.password_hash, password):
        return None
    if _hasher().check_needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    account.last_login_at = utcnow()
    return account


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
