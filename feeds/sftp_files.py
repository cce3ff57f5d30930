"""The file an SFTP feed sends: the completions export (reports.exports: its query, its columns,
its CSV and XLSX writers), every row or only the rows that changed since the last file that
arrived.

"Changes" compares each row's text with what was last delivered for that assignment
(feeds.models.SftpSentRow: a SHA-256 per assignment, written only when a file arrived): a new
assignment, a new result, a status that moved with time (overdue, expired), a new department...
every change is sent once, in the next file that arrives, and a row that did not change is never
sent twice. A timestamp watermark would miss the changes time makes (a status that becomes
overdue changes no timestamp) and a transaction that commits after a later one began.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from courses.models import Enrolment
from feeds.models import SftpFeed, SftpSentRow
from reports import completions, exports
from reports.filters import CompletionFilter
from reports.spreadsheet_cells import neutralised
from training_app.extensions import db

FREE_TEXT = {completions.EXPORT_COLUMNS.index(name) for name in completions.FREE_TEXT_COLUMNS}


@dataclass
class BuiltFile:
    path: Path
    rows: int = 0
    bytes: int = 0
    sha256: str = ""
    sent: dict[int, str] = field(default_factory=dict)  # enrolment id -> row hash, for "changes"


def file_name(tenant_slug: str, feed_name: str, fmt: str, moment: datetime, run_id: int) -> str:
    """completions-acme-payroll-20270301T020000Z-42.csv: the tenant, the feed, the run's moment and
    its number (two runs in one second never share a name)."""
    return f"completions-{tenant_slug}-{feed_name}-{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}-{run_id}.{fmt}"


def build(feed: SftpFeed, now: datetime, folder: Path, already: dict[int, str]) -> BuiltFile:
    """Write the feed's file into `folder`; what it holds. `already`: what a "changes" feed last
    delivered (sent_hashes), read by the caller before it let go of its transaction; the rows
    are read on a connection of their own (reports.exports.rows_of)."""
    built = BuiltFile(folder / f"feed.{feed.file_format}")

    def chosen() -> Iterator[tuple[Any, ...]]:
        for enrolment_id, row in _rows(feed.tenant_id, now):
            digest = row_hash(row)
            if already.get(enrolment_id) == digest:
                continue
            built.sent[enrolment_id] = digest
            built.rows += 1
            yield tuple(
                neutralised(value) if index in FREE_TEXT else value for index, value in enumerate(row)
            )

    if feed.file_format == "xlsx":
        exports.write_xlsx(chosen(), str(built.path))
    else:
        with built.path.open("wb") as out:
            for chunk in exports.csv_chunks(chosen()):
                out.write(chunk)
    built.bytes = built.path.stat().st_size
    built.sha256 = _sha256(built.path)
    return built


def row_hash(row: tuple[Any, ...]) -> str:
    return hashlib.sha256(json.dumps(row, ensure_ascii=False, default=str).encode()).hexdigest()


def _rows(tenant_id: int, now: datetime) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """Every assignment's export row (the console's order), with its id first."""
    scope = completions.scope_for(tenant_id, now)
    query = exports.export_query(scope, CompletionFilter(), for_spreadsheet=False).add_columns(Enrolment.id)
    for row in exports.rows_of(db.engine, query):
        yield row[-1], tuple(row[:-1])


def sent_hashes(feed_id: int) -> dict[int, str]:
    return dict(
        db.session.execute(
            select(SftpSentRow.enrolment_id, SftpSentRow.row_hash).where(SftpSentRow.feed_id == feed_id)
        ).all()
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
