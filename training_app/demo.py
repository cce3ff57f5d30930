"""Demonstration data, so a newcomer sees every capability with believable records.

`load()` is idempotent: run it again and it refreshes instead of duplicating. Feature packages
add their own steps with `register_step` (courses publish and enrol, quizzes add attempts...).
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select

from training_app import audit
from training_app.auth import services as accounts
from training_app.extensions import db
from training_app.models import StaffAccount, Tenant, User

DEMO_PASSWORD = "demo-password-2026"
DEMO_ISSUER = "demo"


@dataclass
class DemoContext:
    tenants: dict[str, Tenant] = field(default_factory=dict)
    learners: dict[str, list[User]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    today: date = field(default_factory=date.today)


DemoStep = Callable[[DemoContext], None]
_steps: list[tuple[int, DemoStep]] = []


def register_step(step: DemoStep, *, order: int = 50) -> None:
    """Steps run by `order`, then in registration order (the packages' flow order)."""
    if step not in [registered for _order, registered in _steps]:
        _steps.append((order, step))
        _steps.sort(key=lambda entry: entry[0])


DEMO_TENANTS = {
    "acme": "Acme Corporation",
    "globex": "Globex Industries",
}

DEMO_STAFF = [
    ("acme", "hr@acme.example", "hr_admin", "Hannah Reyes"),
    ("acme", "auditor@acme.example", "auditor", "Arjun Mehta"),
    ("globex", "hr@globex.example", "hr_admin", "Grace Okafor"),
]

# name, department, days since hire, locale
ACME_PEOPLE = [
    ("María José Fernández", "Marketing", 10, "es"),
    ("Liam O'Connor", "Sales", 400, "en"),
    ("Aisha Al-Sayed", "Engineering", 25, "en"),
    ("Chen Wei", "Engineering", 700, "en"),
    ("Priya Natarajan", "Finance", 5, "en"),
    ("Jonas Müller", "Operations", 380, "en"),
    ("Sofía Ramírez", "Customer Care", 45, "es"),
    ("Kwame Mensah", "Sales", 15, "en"),
    ("Emily Carter", "Human Resources", 900, "en"),
    ("Yuki Tanaka", "Marketing", 420, "en"),
    ("Daniel Kowalski", "Legal", 60, "en"),
    ("Fatima Zahra Benali", "Customer Care", 2, "es"),
]
GLOBEX_PEOPLE = [
    ("Oliver Grant", "Research", 20, "en"),
    ("Lucía Torres", "Research", 300, "es"),
]


def load() -> list[str]:
    context = DemoContext()
    for slug, name in DEMO_TENANTS.items():
        context.tenants[slug] = _tenant(slug, name)
    for tenant_slug, email, role, name in DEMO_STAFF:
        _staff(context.tenants[tenant_slug], email, role, name)
    context.learners["acme"] = [_learner(context.tenants["acme"], *p) for p in ACME_PEOPLE]
    context.learners["globex"] = [_learner(context.tenants["globex"], *p) for p in GLOBEX_PEOPLE]
    db.session.flush()
    for _order, step in _steps:
        step(context)
    context.lines[:0] = [
        "Demo data loaded.",
        f"  HR admin:  hr@acme.example / {DEMO_PASSWORD}",
        f"  Auditor:   auditor@acme.example / {DEMO_PASSWORD}",
        f"  Other tenant's HR (isolation): hr@globex.example / {DEMO_PASSWORD}",
    ]
    return context.lines


def _tenant(slug: str, name: str) -> Tenant:
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    return tenant or accounts.create_tenant(slug, name)


def _staff(tenant: Tenant, email: str, role: str, name: str) -> None:
    if db.session.scalar(select(StaffAccount.id).where(StaffAccount.email == email)) is None:
        account = accounts.create_staff(tenant, email, DEMO_PASSWORD, role=role, name=name)
        audit.record_event(
            tenant.id,
            "demo",
            "staff.created",
            subject=("staff", account.id),
            data={"email": email, "role": role},
        )


def email_local_part(name: str, subject: str) -> str:
    """first.last in ASCII, as company mailboxes are: "María José Fernández" -> maria.jose.fernandez."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_name.lower())
    return ".".join(words) if words else f"learner{zlib.crc32(subject.encode()) % 100000:05d}"


def _learner(tenant: Tenant, name: str, department: str, days_since_hire: int, locale: str) -> User:
    subject = "demo-" + "".join(ch for ch in name.lower() if ch.isalnum())[:40]
    user = db.session.scalar(
        select(User).where(User.tenant_id == tenant.id, User.issuer == DEMO_ISSUER, User.subject == subject)
    )
    if user is None:
        user = User(tenant_id=tenant.id, issuer=DEMO_ISSUER, subject=subject)
        db.session.add(user)
    user.name = name
    user.email = f"{email_local_part(name, subject)}@{tenant.slug}.example"
    user.department = department
    user.hire_date = date.today() - timedelta(days=days_since_hire)
    user.locale = locale
    user.employee_id = f"E{zlib.crc32(subject.encode()) % 100000:05d}"
    return user
