"""Builders for test data, through the same services the product uses."""

from __future__ import annotations

from datetime import date

from training_app.auth import services as accounts
from training_app.extensions import db
from training_app.models import StaffAccount, Tenant, User

PASSWORD = "correct horse battery staple"


def tenant(slug: str = "acme", name: str = "Acme Corporation") -> Tenant:
    return accounts.create_tenant(slug, name)


def staff(tenant: Tenant, email: str, role: str = "hr_admin") -> StaffAccount:
    return accounts.create_staff(tenant, email, PASSWORD, role=role, name=email.split("@")[0].title())


def learner(
    tenant: Tenant,
    name: str = "Ada Lovelace",
    *,
    subject: str | None = None,
    department: str = "Engineering",
    locale: str = "en",
    hire_date: date | None = None,
) -> User:
    user = User(
        tenant_id=tenant.id,
        issuer="test",
        subject=subject or name.lower().replace(" ", "-"),
        name=name,
        email=f"{name.split()[0].lower()}@{tenant.slug}.example",
        department=department,
        locale=locale,
        hire_date=hire_date,
    )
    db.session.add(user)
    db.session.flush()
    return user


def two_tenants_with_staff() -> dict[str, object]:
    acme = tenant("acme", "Acme Corporation")
    globex = tenant("globex", "Globex Industries")
    result = {
        "acme": acme,
        "globex": globex,
        "acme_admin": staff(acme, "hr@acme.example", "hr_admin"),
        "acme_auditor": staff(acme, "auditor@acme.example", "auditor"),
        "globex_admin": staff(globex, "hr@globex.example", "hr_admin"),
    }
    db.session.commit()
    return result
