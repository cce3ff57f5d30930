"""The HR console's own rows: evidence packs built in the background for an auditor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from training_app.db import utcnow
from training_app.extensions import db

PACK_STATUSES = ("queued", "running", "done", "failed")


class EvidencePack(db.Model):
    """A ZIP of evidence for a filtered set of people, built by the outbox worker (kind
    `evidence_pack`). `done` of `total` people are written so far; the file lives under the
    instance folder (`file_path` is relative to it) and `sha256` is the finished ZIP's."""

    __tablename__ = "evidence_packs"
    __table_args__ = (
        CheckConstraint(f"status IN {PACK_STATUSES!r}", name="status"),
        Index("ix_evidence_packs_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id", ondelete="SET NULL"))
    filters: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="queued")
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    file_path: Mapped[str | None] = mapped_column(String(500))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def in_progress(self) -> bool:
        return self.status in ("queued", "running")
