"""Writers of the completion exports (CSV, XLSX, JSON Lines) from reports.completions' queries.

Rows are read on a connection of their own, outside the request's transaction and without
holding every row in memory: on PostgreSQL a server-side cursor (or `COPY ... TO STDOUT`, which
writes the CSV in the server), on SQLite a plain cursor stepping through the result. The SQLite
connection runs its SELECT without `BEGIN IMMEDIATE` (training_app.db takes the write lock at
every transaction's start): an export of a million rows must not keep writers waiting.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import Engine, Select, String, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from reports import completions
from reports.completions import EXPORT_COLUMNS
from reports.filters import CompletionFilter
from reports.spreadsheet_cells import FORMULA_STARTS
from training_app import audit

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "jsonl": "application/x-ndjson; charset=utf-8",
}
BATCH_ROWS = 2_000  # rows fetched from a server-side cursor at a time
CHUNK_BYTES = 64 * 1024  # what a streamed response sends at a time


# --- the rows of an export, as text ------------------------------------------------------------


class iso_utc(FunctionElement[str]):
    """A timestamp as ISO 8601 text in UTC with its offset: 2027-03-01T09:00:00+00:00."""

    type = String()
    inherit_cache = True


@compiles(iso_utc, "postgresql")
def _iso_utc_postgresql(element: iso_utc, compiler: Any, **kw: Any) -> str:
    (moment,) = element.clauses
    return (
        f"to_char({compiler.process(moment, **kw)} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"')"
    )


@compiles(iso_utc, "sqlite")
def _iso_utc_sqlite(element: iso_utc, compiler: Any, **kw: Any) -> str:
    (moment,) = element.clauses  # stored as naive UTC text, "2027-03-01 09:00:00.000000"
    return f"strftime('%Y-%m-%dT%H:%M:%S+00:00', {compiler.process(moment, **kw)})"


class neutralised(FunctionElement[str]):
    """Text a spreadsheet would take for a formula (it starts with = + - @, a tab or a carriage
    return: reports.spreadsheet_cells, OWASP "CSV injection") with a single quote before it."""

    type = String()
    inherit_cache = True


def _neutralised_sql(element: neutralised, compiler: Any, character: str, **kw: Any) -> str:
    (text,) = element.clauses
    value = compiler.process(text, **kw)
    triggers = ", ".join(
        f"'{start}'" if start.isprintable() else f"{character}({ord(start)})" for start in FORMULA_STARTS
    )
    return f"CASE WHEN substr({value}, 1, 1) IN ({triggers}) THEN '''' || {value} ELSE {value} END"


@compiles(neutralised, "postgresql")
def _neutralised_postgresql(element: neutralised, compiler: Any, **kw: Any) -> str:
    return _neutralised_sql(element, compiler, "chr", **kw)


@compiles(neutralised, "sqlite")
def _neutralised_sqlite(element: neutralised, compiler: Any, **kw: Any) -> str:
    return _neutralised_sql(element, compiler, "char", **kw)


def export_query(scope: completions.Scope, chosen: CompletionFilter, *, for_spreadsheet: bool) -> Select:
    """Every matching row, in the table's order, as EXPORT_COLUMNS: timestamps as ISO text, empty
    text as NULL; for a spreadsheet (CSV, XLSX) free text neutralised against formulas."""
    columns = completions.columns_of(scope)
    exported = []
    for name in EXPORT_COLUMNS:
        column = columns[name]
        if name in completions.TIMESTAMP_COLUMNS:
            column = iso_utc(column)
        elif name not in completions.NUMBER_COLUMNS:
            column = func.nullif(column, "")
        exported.append(column.label(name))
    rows = (
        completions.rows_from(select(*exported))
        .where(*completions.conditions_of(scope, chosen, columns["status"]))
        .order_by(*completions.order_of(chosen, columns))
    )
    if not for_spreadsheet:
        return rows
    # OFFSET 0 keeps both databases from merging the two SELECTs, which would run a column's
    # subquery (the LMS) once for each time the neutralising CASE names it.
    inner = rows.offset(0).subquery("export_rows")
    free_text = completions.FREE_TEXT_COLUMNS
    return select(
        *(
            (neutralised(inner.c[name]) if name in free_text else inner.c[name]).label(name)
            for name in EXPORT_COLUMNS
        )
    )


def driver_statement(statement: Select, engine: Engine) -> tuple[str, Any]:
    """The statement as the database driver takes it: SQL text, and its parameters converted as
    SQLAlchemy would (a timezone-aware datetime becomes naive UTC text on SQLite)."""
    compiled = statement.compile(dialect=engine.dialect)
    processors = compiled._bind_processors  # SQLAlchemy has no public spelling of this step
    params = {
        name: processors[name](value) if name in processors else value
        for name, value in compiled.construct_params().items()
    }
    if compiled.positional:
        return compiled.string, tuple(params[name] for name in compiled.positiontup or ())
    return compiled.string, params


def rows_of(engine: Engine, statement: Select) -> Iterator[tuple[Any, ...]]:
    """The statement's rows, read as they are written out."""
    sql, params = driver_statement(statement, engine)
    connection = engine.raw_connection()
    try:
        driver = connection.driver_connection
        if engine.dialect.name == "postgresql":
            cursor = driver.cursor(name="completion_export")  # server-side: BATCH_ROWS at a time
            cursor.itersize = BATCH_ROWS
        else:
            cursor = driver.cursor()  # SQLite steps through the result; no transaction is begun
        try:
            cursor.execute(sql, params)
            yield from cursor
        finally:
            cursor.close()
    finally:
        connection.rollback()  # end the server-side cursor's transaction
        connection.close()  # back to the pool


def postgresql_csv(engine: Engine, statement: Select) -> Iterator[bytes]:
    """CSV written by PostgreSQL itself (`COPY (SELECT ...) TO STDOUT WITH CSV HEADER`), in
    chunks of about CHUNK_BYTES."""
    sql, params = driver_statement(statement, engine)
    connection = engine.raw_connection()
    try:
        copy_sql = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)"
        with connection.driver_connection.cursor() as cursor, cursor.copy(copy_sql, params) as copy:
            buffer = bytearray()
            for data in copy:  # a row at a time
                buffer += data
                if len(buffer) >= CHUNK_BYTES:
                    yield bytes(buffer)
                    buffer.clear()
            if buffer:
                yield bytes(buffer)
    finally:
        connection.rollback()
        connection.close()


class _Chunks(io.StringIO):
    def take(self) -> bytes:
        data = self.getvalue().encode("utf-8")
        self.seek(0)
        self.truncate()
        return data


def csv_chunks(rows: Iterable[tuple[Any, ...]]) -> Iterator[bytes]:
    """CSV as PostgreSQL's COPY writes it: a header, `\\n` line ends, quotes only where needed,
    empty for a missing value."""
    buffer = _Chunks()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for count, row in enumerate(rows, 1):
        writer.writerow(row)
        if count % 500 == 0 and buffer.tell() >= CHUNK_BYTES:
            yield buffer.take()
    yield buffer.take()


def jsonl_chunks(rows: Iterable[tuple[Any, ...]]) -> Iterator[bytes]:
    """One JSON object a line with EXPORT_COLUMNS as keys (null for a missing value). Values are
    kept as they are: JSON Lines is data for programs, not a spreadsheet."""
    lines: list[str] = []
    size = 0
    for row in rows:
        line = json.dumps(dict(zip(EXPORT_COLUMNS, row, strict=True)), ensure_ascii=False)
        lines.append(line)
        size += len(line)
        if size >= CHUNK_BYTES:
            yield ("\n".join(lines) + "\n").encode("utf-8")
            lines, size = [], 0
    if lines:
        yield ("\n".join(lines) + "\n").encode("utf-8")


def write_xlsx(rows: Iterable[tuple[Any, ...]], out: IO[bytes] | str) -> None:
    """A workbook of one sheet, "Completions", written as rows arrive (openpyxl's write-only mode
    keeps only the current row in memory), header in bold, frozen under it. openpyxl (about 13 MB)
    is imported here, by the workers that write a workbook, not by every worker at start."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    def cell_value(value: Any) -> Any:
        # A control character is not allowed in a cell (openpyxl refuses it): it is dropped.
        return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Completions")
    sheet.freeze_panes = "A2"
    header = []
    for name in EXPORT_COLUMNS:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for row in rows:
        sheet.append([cell_value(value) for value in row])
    workbook.save(out)


# --- what every export does around its rows ---------------------------------------------------------


def export_filename(tenant_slug: str, fmt: str, now: datetime) -> str:
    """completions-acme-20270301T090000Z.csv: the tenant and the UTC moment of the export."""
    return f"completions-{tenant_slug}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.{fmt}"


def record_export(
    tenant_id: int,
    chosen: CompletionFilter,
    fmt: str,
    rows: int,
    *,
    actor: str,
    ip_address: str | None = None,
) -> None:
    """The audit event of an export (in the caller's transaction): who, which format, which
    filters, how many rows."""
    audit.record_event(
        tenant_id,
        actor,
        "report.exported",
        subject=("report", "completions"),
        data={"format": fmt, "filters": chosen.described(), "rows": rows},
        ip_address=ip_address,
    )
