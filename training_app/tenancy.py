"""Tenant isolation for lookups by id: another tenant's row is exactly as unknown as a missing one."""

from __future__ import annotations

from typing import TypeVar

from training_app.errors import NotFound
from training_app.extensions import db

Row = TypeVar("Row")


def get_in_tenant(model: type[Row], row_id: int, tenant_id: int, not_found: str) -> Row:
    row = db.session.get(model, row_id)
    if row is None or row.tenant_id != tenant_id:  # type: ignore[attr-defined]
        raise NotFound(not_found)
    return row
