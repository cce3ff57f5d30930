"""Importing HR's file of employees: checked whole, applied in one transaction (the caller's).
Services flush and never commit."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from people import hooks, importing
from people.employees import existing_employees
from people.errors import ImportRefused
from people.importing import ImportPlan
from training_app import audit
from training_app.models import Tenant


@dataclass(frozen=True)
class ImportResult:
    plan: ImportPlan
    dry_run: bool
    rows: int


def import_employees(tenant: Tenant, data: bytes, *, dry_run: bool, actor: str) -> ImportResult:
    """Read, check and (unless `dry_run`) apply an employee file; ImportRefused lists every problem
    and nothing is changed."""
    rows = importing.read_file(data)
    records, problems = importing.parse_rows(rows)
    existing = existing_employees(tenant.id)
    plan, cross_problems = importing.plan_import(records, existing) if not problems else (ImportPlan(), [])
    problems += cross_problems
    if problems:
        raise ImportRefused(sorted(problems, key=lambda p: (p.line, p.column or "")))
    if not dry_run:
        touched = importing.apply(tenant.id, plan)
        audit.record_event(
            tenant.id,
            actor,
            "employees.imported",
            subject=("tenant", tenant.id),
            data={**plan.summary(), "rows": len(rows), "sha256": hashlib.sha256(data).hexdigest()},
        )
        hooks.people_changed(tenant.id, touched)
    return ImportResult(plan, dry_run, len(rows))
